"""`glassbox serve`: the OpenAI-compatible API with no window (imports no Qt).

Loads the model the settings choose (or `--model`), then serves it with uvicorn until Ctrl+C.
Safe by default: it listens on 127.0.0.1 only; another address needs `--host` and an API key
(`--api-key` or $GLASSBOX_API_KEY), which every request must then send as a Bearer token.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from app import paths
from app.backend import Backend, BackendError, EngineBackend
from app.server.listen import DEFAULT_PORT, listen_problems
from app.server.model_thread import ModelThread
from app.server.routes import ServedModel, create_app
from app.settings import SettingsFile

API_KEY_ENV = "GLASSBOX_API_KEY"


@dataclass(frozen=True)
class Listen:
    host: str
    port: int
    api_key: str | None


class UnsafeListen(ValueError):
    """Listening beyond this machine without an API key."""


def listen_settings(host: str, port: int, api_key: str | None) -> Listen:
    """Where to listen; UnsafeListen for another interface without a key, ValueError for a bad port."""
    problems = listen_problems(host, port, api_key, key_hint=f"an API key (--api-key or ${API_KEY_ENV})")
    if "api_key" in problems:
        raise UnsafeListen(problems["api_key"])
    if problems:
        raise ValueError("; ".join(problems.values()))
    return Listen(host, port, api_key or None)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="glassbox serve", description="Serve the model over an OpenAI-compatible API.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--api-key", default=None, help=f"require this Bearer key (default ${API_KEY_ENV})")
    parser.add_argument("--model", help='model to serve instead of the saved choice ("default", a GGUF file or a folder)')
    parser.add_argument("--data-dir", help="caches (default: $GLASSBOX_DATA_DIR or the user data dir)")
    parser.add_argument("--config-dir", help="settings (default: $GLASSBOX_CONFIG_DIR or the user config dir)")
    return parser.parse_args(argv)


def main(argv: list[str], backend: Backend | None = None) -> int:
    """Run the server until interrupted; returns the exit code (2 for bad arguments, 1 for a load failure)."""
    import uvicorn

    args = parse_args(argv)
    try:
        listen = listen_settings(args.host, args.port, args.api_key or os.environ.get(API_KEY_ENV))
    except ValueError as e:
        print(f"glassbox serve: {e}", file=sys.stderr)
        return 2
    settings = SettingsFile(paths.config_dir(args.config_dir)).load()
    spec = args.model or settings.app.model
    backend = backend or EngineBackend(paths.data_dir(args.data_dir))
    try:
        session = backend.load(spec, lambda _p, what: print(what, file=sys.stderr))
    except BackendError as e:
        print(f"glassbox serve: {e}", file=sys.stderr)
        return 1
    served = ServedModel(session, str(session.info.get("display_name", spec)), settings.app.cache_config)
    model_thread = ModelThread()
    api = create_app(served, model_thread, listen.api_key)
    print(f"Serving {served.name} at http://{listen.host}:{listen.port}/v1", file=sys.stderr)
    try:
        uvicorn.run(api, host=listen.host, port=listen.port, log_level="info")
    finally:
        model_thread.close()
    return 0
