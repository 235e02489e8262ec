"""Take docs/requests-view.png: the real window serving the default model over the API
(Preferences → Server), a few client requests, and View → API Requests with one opened and a
token clicked.

    python scripts/requests_screenshot.py docs/requests-view.png [--patience SECONDS]

Runs on a real X display (with none it starts its own Xvfb, like scripts/screenshot.py). Settings
and data go to a temporary profile; the server listens on 127.0.0.1 on a free port.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.screenshot import on_a_display, pump, wait  # noqa: E402

REQUESTS = [  # (endpoint, body): what an editor, a notebook and a script might send
    ("completions", {"model": "base-notebook", "prompt": "The three primary colours are", "max_tokens": 16,
                     "temperature": 0, "logprobs": 3}),
    ("chat/completions", {"model": "eval-script", "messages": [{"role": "user", "content": "What is 2 + 2?"}],
                          "max_tokens": 16, "temperature": 0}),
    ("chat/completions", {"model": "my-editor", "messages": [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "Write a haiku about the sea."}],
        "max_tokens": 40, "temperature": 0.7, "seed": 3, "logprobs": True, "top_logprobs": 5, "stream": True}),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def take(out: Path, patience: float) -> None:
    import httpx
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from app.backend import EngineBackend
    from app.main import parse_args
    from app.settings import Settings, SettingsFile
    from ui.main import launch

    profile = tempfile.mkdtemp(prefix="glassbox-requests-shot-")
    port = free_port()
    base = Settings()
    SettingsFile(f"{profile}/config").save(replace(base, app=replace(base.app, server_enabled=True, server_port=port)))
    args = parse_args(["--data-dir", f"{profile}/data", "--config-dir", f"{profile}/config"])
    qt_app, core, window = launch(args, EngineBackend())
    try:
        if core.controller.model_info is None and not wait(core.controller.model_loaded, 120):
            sys.exit("the default model did not load")
        done = threading.Event()
        failures: list[str] = []

        def clients() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", timeout=patience) as http:
                for path, body in REQUESTS:
                    r = http.post(path, json=body)
                    if r.status_code != 200:
                        failures.append(f"{path}: {r.status_code} {r.text}")
            done.set()

        threading.Thread(target=clients, daemon=True).start()
        for _ in range(int(patience * 10)):
            if done.is_set():
                break
            pump(0.1)
        if not done.is_set() or failures:
            sys.exit(f"the requests did not finish: {failures}")
        pump(0.5)
        requests = window.open_requests()
        requests.resize(1280, 820)
        pump(0.3)
        requests.open_row(0)  # the newest: the editor's streamed haiku
        pump(0.3)
        events = requests.view._events
        candidates = [i for i, t in enumerate(events) if t.text.strip() and t.logprob < -0.7]
        index = candidates[0] if candidates else min(3, len(events) - 1)
        point = requests.view.reply.token_point(index)
        if point is None:
            sys.exit("could not find a token to click")
        QTest.mouseClick(requests.view.reply.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         point)
        pump(0.5)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not requests.grab().save(str(out)):
            sys.exit(f"could not write {out}")
        print(f"wrote {out} ({requests.width()}x{requests.height()}); status bar: {window.status.server_label.text()}")
    finally:
        window.close()
        core.shutdown()
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--patience", type=float, default=300, help="seconds to wait for the requests")
    args = parser.parse_args()
    with on_a_display():
        take(args.out, args.patience)


if __name__ == "__main__":
    main()
