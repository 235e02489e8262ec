"""`python -m engine fetch gemma3-270m` shows Gemma's terms (not Apache-2.0) before the first fetch
and needs them accepted: at a terminal by answering y, otherwise by --accept-licence; accepted once,
it does not ask again. Run as a user runs it (a subprocess, a pseudo-terminal for the question), in
a models dir of its own holding stand-in files so that nothing is downloaded."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from engine import model_catalog
from engine.licences import licence_of

ROOT = Path(__file__).resolve().parents[2]
GEMMA = model_catalog.GEMMA3_270M


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """A models dir where the Gemma file and its licence text are already in place (fetch then has
    nothing to download); what is asked is the point here."""
    monkeypatch.setenv("GLASSBOX_MODELS_DIR", str(tmp_path))
    (tmp_path / GEMMA.file_name).write_bytes(b"GGUF stand-in")
    model_catalog.license_path(GEMMA).write_text("<p>Gemma Terms of Use</p>")
    return tmp_path


def fetch(*extra: str, stdin=subprocess.DEVNULL, input_text: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "fetch", "gemma3-270m", *extra], cwd=ROOT, env=os.environ,
                          stdin=stdin, capture_output=True, text=True, timeout=120)


def test_not_a_terminal_needs_accept_licence_and_nothing_is_recorded(models_dir):
    done = fetch()
    assert done.returncode == 2 and done.stdout == ""
    assert "Gemma Terms of Use (not Apache-2.0): https://ai.google.dev/gemma/terms" in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: gemma3-270m needs its licence accepted first (Gemma Terms of Use (not Apache-2.0)); stdin is not "
        "a terminal, so fetch cannot ask: read the terms and pass --accept-licence")
    assert not model_catalog.accepted(GEMMA)


def test_accept_licence_fetches_and_is_remembered(models_dir):
    done = fetch("--accept-licence")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(models_dir / GEMMA.file_name)
    assert "Gemma Terms of Use" in done.stderr and model_catalog.accepted(GEMMA)
    again = fetch()  # accepted once: not asked again, even without a terminal
    assert again.returncode == 0 and "Terms" not in again.stderr


@pytest.mark.parametrize("answer,accepted", [("y\n", True), ("n\n", False), ("\n", False)])
def test_at_a_terminal_it_asks(models_dir, answer, accepted):
    leader, follower = pty.openpty()
    try:
        os.write(leader, answer.encode())
        done = fetch(stdin=follower)
    finally:
        os.close(follower)
        os.close(leader)
    assert "Accept the Gemma Terms of Use (not Apache-2.0)? [y/N]" in done.stderr
    assert done.stdout == (f"{models_dir / GEMMA.file_name}\n" if accepted else "")  # only the path
    assert (done.returncode == 0) == accepted == model_catalog.accepted(GEMMA)
    if not accepted:
        assert done.stderr.strip().endswith("error: licence not accepted: gemma3-270m was not fetched")


def test_licences_are_named_and_unknown_terms_are_not_passed_off_as_open():
    assert licence_of("gemma").needs_acceptance and licence_of("gemma").name == "Gemma Terms of Use (not Apache-2.0)"
    assert not licence_of("Apache-2.0").needs_acceptance and licence_of("apache-2.0").name == "Apache License 2.0"
    odd = licence_of("acme-research-only")
    assert odd.needs_acceptance and odd.name == "“acme-research-only” (terms Glassbox does not know: read them)"
    assert licence_of(None) is None and licence_of("  ") is None
