"""Errors of the device MLX computes on, told apart from bugs: out of memory above all.

MLX reports a failed allocation as a plain RuntimeError — "[malloc] Unable to allocate N bytes."
on the CPU, "[metal::malloc] Attempting to allocate N bytes which is greater than the maximum
allowed buffer size …" on Metal — and a failed Metal command buffer as "[METAL] Command buffer
execution failed: Insufficient Memory (…OutOfMemory)". `device_error(e)` turns such an exception
into a `DeviceError` (its `out_of_memory` says which kind), so callers can answer with a clear
message and go on; any other exception (a bug) is not the device's, and gets None.

The text matched is MLX's own, never a person's or a model's.
"""

from __future__ import annotations

import mlx.core as mx

# In MLX's messages: an allocation refused, by the allocator or by Metal
OUT_OF_MEMORY_MARKS = (
    "[malloc]", "[metal::malloc]", "Unable to allocate", "Attempting to allocate", "OutOfMemory",
    "Insufficient Memory", "out of memory",
)
DEVICE_MARKS = ("[METAL]", "[metal::", "Command buffer execution failed")  # the GPU failed otherwise


class DeviceError(RuntimeError):
    """The device could not compute: `out_of_memory`, or another failure of the device itself.

    `str()` says it for a person, naming the device ("The GPU (Metal) ran out of memory");
    `detail` is MLX's own message."""

    def __init__(self, message: str, out_of_memory: bool, detail: str):
        super().__init__(message)
        self.out_of_memory, self.detail = out_of_memory, detail


def device_name() -> str:
    """"the GPU (Metal)" or "the CPU": where MLX computes by default."""
    return "the GPU (Metal)" if mx.default_device() == mx.gpu else "the CPU"


def device_error(e: BaseException) -> DeviceError | None:
    """`e` as a DeviceError when it is the device's failure (MLX's out-of-memory and Metal errors,
    Python's MemoryError), else None."""
    if isinstance(e, DeviceError):
        return e
    if not isinstance(e, RuntimeError | MemoryError):
        return None
    detail = str(e) or type(e).__name__
    out_of_memory = isinstance(e, MemoryError) or any(mark in detail for mark in OUT_OF_MEMORY_MARKS)
    if not out_of_memory and not any(mark in detail for mark in DEVICE_MARKS):
        return None
    what = "ran out of memory" if out_of_memory else "failed"
    return DeviceError(f"{device_name()[0].upper()}{device_name()[1:]} {what}", out_of_memory, detail)
