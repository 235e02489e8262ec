"""The MLX runtime's process-wide state: its buffer cache, bounded and emptied, and its version.

MLX keeps freed buffers in a cache to reuse them; unbounded, the cache of a model that was switched
away from stays in the process (on Apple silicon, in the unified memory the next model needs).
`bound_buffer_cache` caps it once at start-up; `release_cached_buffers` empties it, which the app
does before each model load so the previous model's freed buffers go back to the system.
"""

from __future__ import annotations

import os

import mlx.core as mx

DEFAULT_CACHE_FRACTION = 0.25  # of physical memory, at most, for freed buffers kept for reuse
MAX_CACHE_BYTES = 2 << 30


def physical_memory_bytes() -> int | None:
    """Bytes of RAM in this machine (None where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def bound_buffer_cache(limit_bytes: int | None = None) -> int:
    """Cap MLX's cache of freed buffers at `limit_bytes` (default: a quarter of RAM, at most
    2 GiB); returns the limit set. Buffers in use are not affected, only those kept for reuse."""
    if limit_bytes is None:
        ram = physical_memory_bytes() or 8 << 30
        limit_bytes = min(int(ram * DEFAULT_CACHE_FRACTION), MAX_CACHE_BYTES)
    mx.set_cache_limit(int(limit_bytes))
    return int(limit_bytes)


def release_cached_buffers() -> None:
    """Give MLX's cached (freed, kept for reuse) buffers back to the system."""
    mx.clear_cache()


def cached_buffer_bytes() -> int:
    """Bytes MLX holds in freed buffers kept for reuse."""
    return int(mx.get_cache_memory())


def versions() -> dict[str, str]:
    """{"mlx": version, "device": the default device MLX computes on}."""
    return {"mlx": mx.__version__, "device": str(mx.default_device())}


def check_device() -> str:
    """Run one small MLX computation on the default device and check its value; returns the
    device's name ("Device(gpu, 0)"). Raises RuntimeError when the result is wrong, and whatever
    MLX raises when the device cannot run it (a missing Metal library: "Failed to load the default
    metallib")."""
    x = mx.arange(1, 65, dtype=mx.float32).reshape(8, 8)  # (8, 8)
    total = float((x @ mx.ones((8, 1))).sum().item())  # the sum of 1..64
    if total != 2080.0:
        raise RuntimeError(f"MLX computed {total} on {mx.default_device()} where 2080 is right")
    return str(mx.default_device())
