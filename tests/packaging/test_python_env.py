"""scripts/python-env.sh, which the Makefile makes .venv with, run against fake Pythons on PATH:
on a Linux machine and on an Apple-silicon Mac (fake `uname` and `sysctl`), with no real Python
reachable."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "python-env.sh"
TOOLS = ("bash", "rm", "sed", "mkdir", "cat", "chmod", "dirname", "cp")

# A fake Python: answers the version probe with its "version machine" line; `-m venv DIR` makes
# DIR/bin/python a copy of itself, or fails half-way when its name says so.
FAKE_PYTHON = """#!/bin/bash
if [ "$1" = -c ]; then echo "{describe}"; exit 0; fi
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin"
  {venv_step}
  exit 0
fi
exit 3
"""


def fake_bin(tmp_path: Path, pythons: dict[str, str], system: str = "Linux", arm64: bool = False,
             failing_venv: bool = False) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in TOOLS:
        os.symlink(shutil.which(tool), bin_dir / tool)
    (bin_dir / "uname").write_text(f"#!/bin/bash\n[ \"$1\" = -s ] && echo {system} || echo x86_64\n")
    (bin_dir / "sysctl").write_text(f"#!/bin/bash\necho {1 if arm64 else 0}\n")
    venv_step = 'echo "exit 1" > "$3/bin/half"; exit 1' if failing_venv else 'cp "$0" "$3/bin/python"'
    for name, describe in pythons.items():
        (bin_dir / name).write_text(FAKE_PYTHON.format(describe=describe, venv_step=venv_step))
    for path in bin_dir.iterdir():
        if not path.is_symlink():
            path.chmod(0o755)
    return bin_dir


def run(bin_dir: Path, *args: str, python: str = "") -> subprocess.CompletedProcess:
    env = {"PATH": str(bin_dir), "HOME": str(bin_dir.parent), "PYTHON": python}
    return subprocess.run([shutil.which("bash"), str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          cwd=bin_dir.parent, timeout=60)


def test_the_newest_suitable_python_is_chosen_before_python3(tmp_path):
    bin_dir = fake_bin(tmp_path, {"python3": "3.9 x86_64", "python3.11": "3.11 x86_64", "python3.12": "3.12 x86_64"})
    result = run(bin_dir, "find")
    assert result.returncode == 0 and result.stdout.strip() == str(bin_dir / "python3.12")


def test_the_mac_system_python_is_refused_with_how_to_get_one(tmp_path):
    bin_dir = fake_bin(tmp_path, {"python3": "3.9 arm64"}, system="Darwin", arm64=True)
    result = run(bin_dir, "find")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: Glassbox needs Python 3.11+ for arm64 (found: python3 3.9 arm64); get one: brew install "
        "python@3.12 (https://brew.sh), or the macOS installer from https://www.python.org/downloads/, then run "
        "make again (or make PYTHON=/path/to/python3.12)"]


def test_an_intel_python_on_apple_silicon_is_passed_over(tmp_path):
    # a Rosetta (x86_64) Homebrew Python cannot install MLX; the arm64 one further down the list can
    bin_dir = fake_bin(tmp_path, {"python3.12": "3.12 x86_64", "python3.11": "3.11 arm64", "python3": "3.9 arm64"},
                       system="Darwin", arm64=True)
    assert run(bin_dir, "find").stdout.strip() == str(bin_dir / "python3.11")


def test_an_intel_mac_takes_an_x86_64_python(tmp_path):
    bin_dir = fake_bin(tmp_path, {"python3.12": "3.12 x86_64"}, system="Darwin", arm64=False)
    assert run(bin_dir, "find").stdout.strip() == str(bin_dir / "python3.12")


def test_no_python_at_all_is_said_in_one_line(tmp_path):
    result = run(fake_bin(tmp_path, {}), "find")
    assert result.returncode == 1
    assert result.stderr.startswith("error: Glassbox needs Python 3.11+ (found none); get one: sudo apt-get install")
    assert len(result.stderr.splitlines()) == 1


def test_python_names_the_one_to_use(tmp_path):
    bin_dir = fake_bin(tmp_path, {"python3.12": "3.12 x86_64", "mypython": "3.13 x86_64", "old": "3.10 x86_64"})
    assert run(bin_dir, "find", python="mypython").stdout.strip() == str(bin_dir / "mypython")
    refused = run(bin_dir, "find", python="old")
    assert refused.returncode == 1 and "(found: old 3.10 x86_64)" in refused.stderr


def test_a_venv_of_the_wrong_python_is_made_again(tmp_path):
    bin_dir = fake_bin(tmp_path, {"python3": "3.9 arm64", "python3.12": "3.12 arm64"}, system="Darwin", arm64=True)
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    shutil.copy(bin_dir / "python3", venv / "bin" / "python")  # made by `python3 -m venv` before the fix
    (venv / "stale-marker").write_text("")
    result = run(bin_dir, "venv", str(venv))
    assert result.returncode == 0, result.stderr
    assert "was made with 3.9 arm64; making it again" in result.stderr
    assert not (venv / "stale-marker").exists()
    assert (venv / "bin" / "python").read_text() == (bin_dir / "python3.12").read_text()


def test_a_good_venv_is_kept_as_it_is(tmp_path):
    bin_dir = fake_bin(tmp_path, {"python3.12": "3.12 x86_64"})
    venv = tmp_path / ".venv"
    assert run(bin_dir, "venv", str(venv)).returncode == 0
    (venv / "installed-marker").write_text("")
    again = run(bin_dir, "venv", str(venv))
    assert again.returncode == 0 and again.stderr == "" and (venv / "installed-marker").exists()


def test_a_failed_venv_creation_leaves_nothing_behind(tmp_path):
    bin_dir = fake_bin(tmp_path, {"python3.12": "3.12 x86_64"}, failing_venv=True)
    venv = tmp_path / ".venv"
    result = run(bin_dir, "venv", str(venv))
    assert result.returncode == 1 and "-m venv" in result.stderr and "removed" in result.stderr
    assert not venv.exists()


def test_no_suitable_python_keeps_no_venv_and_says_why(tmp_path):
    bin_dir = fake_bin(tmp_path, {"python3": "3.9 arm64"}, system="Darwin", arm64=True)
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    shutil.copy(bin_dir / "python3", venv / "bin" / "python")
    result = run(bin_dir, "venv", str(venv))
    assert result.returncode == 1 and not venv.exists()
    assert result.stderr.splitlines()[-1].startswith("error: Glassbox needs Python 3.11+ for arm64")


@pytest.mark.parametrize("args", [(), ("venv",), ("other",)])
def test_a_wrong_call_prints_the_usage(tmp_path, args):
    assert run(fake_bin(tmp_path, {}), *args).returncode == 2
