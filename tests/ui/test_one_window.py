"""A second Glassbox window on the same data or config folder does not start: it says which one
holds them (trial 5: two windows each saved their own settings, undoing the other's)."""

from __future__ import annotations

import subprocess
import sys

from PySide6.QtWidgets import QMessageBox

from app.instance_lock import AlreadyRunning, InstanceLock
from ui import main as ui_main


def test_a_second_window_on_the_same_folders_is_refused_with_a_message(tmp_path, monkeypatch):
    data, config = tmp_path / "data", tmp_path / "config"
    held = InstanceLock([data, config])
    held.acquire()  # the window already running
    said: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, title, text: said.append(f"{title}: {text}"))
    code = ui_main.main(["--data-dir", str(data), "--config-dir", str(config)])
    assert code == 1 and len(said) == 1
    assert said[0].startswith(f"Glassbox is already running: Glassbox is already running with {data} (process ")
    held.release()

    other = InstanceLock([tmp_path / "elsewhere"])  # other folders: a second profile runs beside it
    other.acquire()
    other.release()


def test_the_lock_is_held_across_processes_and_freed_when_its_process_ends(tmp_path):
    script = (
        "import sys, time; from pathlib import Path; from app.instance_lock import InstanceLock;"
        f"lock = InstanceLock([Path({str(tmp_path)!r})]); lock.acquire(); print('held', flush=True); time.sleep(30)"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        second = InstanceLock([tmp_path])
        try:
            second.acquire()
            raise AssertionError("a second lock was given while another process held it")
        except AlreadyRunning as e:
            assert f"(process {child.pid})" in str(e)
    finally:
        child.kill()
        child.wait()
    second.acquire()  # the process died without releasing: the lock is free all the same
    second.release()
