"""packaging/macos-sign.sh with stand-ins for Apple's tools (codesign, ditto, xcrun, spctl), which
log how they were called: each signing step runs only when it is configured, a notarization that
Apple does not accept stops the build with the command that shows Apple's log, and notarizing an
app without a Developer ID is refused before anything is sent. Runs anywhere (bash only)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "packaging" / "macos-sign.sh"
IDENTITY = "Developer ID Application: Jane Doe (TEAM123456)"

STAND_IN = """#!/bin/bash
printf '%s\\n' "$(basename "$0") $*" >> "$TOOL_LOG"
case "$(basename "$0") $1 $2" in
  "ditto -c -k") : > "${@: -1}" ;;                        # the zip it was asked for
  "xcrun notarytool submit") printf '%s' "$NOTARY_ANSWER" ;;
esac
"""


@pytest.fixture
def tools(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("codesign", "ditto", "xcrun", "spctl"):
        (bin_dir / name).write_text(STAND_IN)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def sign(tmp_path: Path, tools: Path, identity: str = "", profile: str = "",
         answer: dict | None = None) -> tuple[subprocess.CompletedProcess, list[str]]:
    app = tmp_path / "dist" / "Glassbox.app"
    (app / "Contents").mkdir(parents=True, exist_ok=True)
    log = tmp_path / "tools.log"
    log.write_text("")
    env = {"PATH": f"{tools}:/usr/bin:/bin", "TOOL_LOG": str(log), "PY": sys.executable,
           "NOTARY_ANSWER": json.dumps(answer or {}), "HOME": str(tmp_path)}
    if identity:
        env["GLASSBOX_CODESIGN_IDENTITY"] = identity
    if profile:
        env["GLASSBOX_NOTARY_PROFILE"] = profile
    result = subprocess.run(["bash", str(SCRIPT), str(app)], env=env, capture_output=True, text=True, timeout=60)
    calls = [line.replace(str(tmp_path), "TMP") for line in log.read_text().splitlines()]
    return result, calls


def test_without_an_identity_nothing_is_signed_and_it_says_so(tmp_path, tools):
    result, calls = sign(tmp_path, tools)
    assert result.returncode == 0, result.stderr
    assert calls == []
    assert "not signed with a Developer ID (set GLASSBOX_CODESIGN_IDENTITY" in result.stdout


def test_notarizing_without_an_identity_is_refused_before_anything_is_sent(tmp_path, tools):
    result, calls = sign(tmp_path, tools, profile="glassbox-notary")
    assert result.returncode == 1
    assert calls == []
    assert result.stderr.startswith("error: GLASSBOX_NOTARY_PROFILE is set but GLASSBOX_CODESIGN_IDENTITY is not")


def test_with_an_identity_only_the_signature_is_verified(tmp_path, tools):
    result, calls = sign(tmp_path, tools, identity=IDENTITY)
    assert result.returncode == 0, result.stderr
    assert calls == ["codesign --verify --deep --strict --verbose=2 TMP/dist/Glassbox.app"]
    assert "signed, not notarized" in result.stdout


def test_an_accepted_notarization_is_stapled_and_assessed(tmp_path, tools):
    result, calls = sign(tmp_path, tools, identity=IDENTITY, profile="glassbox-notary",
                         answer={"id": "abc-123", "status": "Accepted"})
    assert result.returncode == 0, result.stderr
    assert calls == [
        "codesign --verify --deep --strict --verbose=2 TMP/dist/Glassbox.app",
        "ditto -c -k --keepParent TMP/dist/Glassbox.app TMP/dist/Glassbox-notarize.zip",
        "xcrun notarytool submit TMP/dist/Glassbox-notarize.zip --keychain-profile glassbox-notary --wait "
        "--output-format json",
        "xcrun stapler staple TMP/dist/Glassbox.app",
        "spctl --assess --type execute --verbose=2 TMP/dist/Glassbox.app",
    ]
    assert not (tmp_path / "dist" / "Glassbox-notarize.zip").exists()  # the upload is not left in dist/
    assert result.stdout.rstrip().endswith("macOS: signed, notarized and stapled")


def test_a_rejected_notarization_stops_with_the_log_command(tmp_path, tools):
    result, calls = sign(tmp_path, tools, identity=IDENTITY, profile="glassbox-notary",
                         answer={"id": "abc-123", "status": "Invalid"})
    assert result.returncode == 1
    assert not any(call.startswith(("xcrun stapler", "spctl")) for call in calls)
    assert result.stderr == ("error: notarization Invalid; Apple's log: xcrun notarytool log abc-123 "
                             "--keychain-profile glassbox-notary\n")


def test_no_answer_from_the_notary_service_stops_the_build(tmp_path, tools):
    failing = STAND_IN.replace("printf '%s' \"$NOTARY_ANSWER\" ;;", "exit 69 ;;")  # notarytool failed, no JSON
    assert failing != STAND_IN
    (tools / "xcrun").write_text(failing)
    result, calls = sign(tmp_path, tools, identity=IDENTITY, profile="glassbox-notary")
    assert result.returncode == 1
    assert not any(call.startswith(("xcrun stapler", "spctl")) for call in calls)
    assert result.stderr.startswith("error: notarization unknown; Apple's log: xcrun notarytool log unknown")
