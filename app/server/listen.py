"""Where the API may listen, checked the same way for `glassbox serve` and Preferences → Server.

Safe by default: 127.0.0.1 (this machine only). Any other address lets other machines use the
model, so it needs an API key that every request must then send (`Authorization: Bearer <key>`).
Imports nothing heavy (no engine, no HTTP stack): the settings validate with it.
"""

from __future__ import annotations

import ipaddress

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8321
MIN_API_KEY_CHARS = 8


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen_problems(host: str, port: int, api_key: str | None, key_hint: str = "an API key",
                    port_min: int = 0) -> dict[str, str]:
    """{"host" | "port" | "api_key": problem in words}; empty when the server may listen there.

    `port_min` 0 lets the system choose a free port (tests, `--port 0`); Preferences asks for 1+."""
    problems: dict[str, str] = {}
    if not port_min <= port <= 65535:
        problems["port"] = f"port {port} is not a TCP port ({port_min}-65535)"
    host = host.strip()
    if not host:
        problems["host"] = "the address to listen on is empty (127.0.0.1: this machine only)"
    elif host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            problems["host"] = f"{host!r} is not an IP address (127.0.0.1: this machine only; 0.0.0.0: every interface)"
    if "host" not in problems and not is_loopback(host):
        key = (api_key or "").strip()
        if not key:
            problems["api_key"] = (f"listening on {host} lets other machines use the model: give {key_hint} "
                                   "that every request must send")
        elif len(key) < MIN_API_KEY_CHARS:
            problems["api_key"] = f"an API key needs at least {MIN_API_KEY_CHARS} characters"
        elif any(ch.isspace() or not ch.isprintable() for ch in key):
            problems["api_key"] = "an API key cannot hold spaces or control characters (it travels in a header)"
    return problems
