"""packaging/install-linux.sh, as a user runs it from the unpacked archive: the bundle, the menu
entry and the icons land in the user's folders (a home path with a space, a quote and a `$`), a
second run replaces them, and --uninstall removes them and nothing else."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="installs the Linux bundle")


def unpacked_archive(tmp_path: Path) -> Path:
    """dist/Glassbox as build.sh leaves it (a stand-in executable), with share/ and install.sh."""
    bundle = tmp_path / "Downloads" / "Glassbox"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "Glassbox").write_text("#!/bin/sh\necho glassbox 0.1.0\n")
    (bundle / "Glassbox").chmod(0o755)
    (bundle / "share").mkdir()
    shutil.copy(ROOT / "packaging" / "linux" / "glassbox.desktop", bundle / "share")
    shutil.copy(ROOT / "resources" / "glassbox.svg", bundle / "share")
    for size in SIZES:
        shutil.copy(ROOT / "resources" / "icons" / f"glassbox-{size}.png", bundle / "share")
    shutil.copy(ROOT / "packaging" / "install-linux.sh", bundle / "install.sh")
    return bundle


def install(bundle: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["bash", str(bundle / "install.sh"), *args], env=env, capture_output=True, text=True,
                          timeout=60)


def desktop_exec(entry: str) -> str:
    """The program path of an `Exec="…"` line, unescaped as the Desktop Entry spec says."""
    line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    quoted = line.removeprefix("Exec=")
    assert quoted.startswith('"') and quoted.endswith('"')
    value = quoted[1:-1].replace("%%", "%")
    value = value.replace("\\\\", "\\")  # string-level escaping first
    out, i = [], 0
    while i < len(value):  # then the quoting rule: a backslash before " ` $ \
        if value[i] == "\\" and i + 1 < len(value) and value[i + 1] in '"`$\\':
            i += 1
        out.append(value[i])
        i += 1
    return "".join(out)


def test_install_then_uninstall_for_one_user(tmp_path):
    home = tmp_path / 'my "home" $dir 100%'
    home.mkdir()
    conversations = home / ".local" / "share" / "Glassbox" / "glassbox.db"
    conversations.parent.mkdir(parents=True)
    conversations.write_text("kept")
    bundle = unpacked_archive(tmp_path)

    result = install(bundle, home)
    assert result.returncode == 0, result.stderr
    share = home / ".local" / "share"
    app = share / "glassbox-app" / "Glassbox"
    assert subprocess.run([str(app)], capture_output=True, text=True).stdout == "glassbox 0.1.0\n"
    entry = (share / "applications" / "glassbox.desktop").read_text()
    assert desktop_exec(entry) == str(app)
    assert f"TryExec={app}\n" in entry and "Icon=glassbox\n" in entry and "@EXEC@" not in entry
    for size in SIZES:
        icon = share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "glassbox.png"
        assert icon.read_bytes() == (ROOT / "resources" / "icons" / f"glassbox-{size}.png").read_bytes()
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / "glassbox.svg").is_file()
    assert (home / ".local" / "bin" / "glassbox").resolve() == app

    (bundle / "Glassbox").write_text("#!/bin/sh\necho glassbox 0.2.0\n")
    result = install(bundle, home)
    assert result.returncode == 0  # an update replaces the bundle
    assert subprocess.run([str(app)], capture_output=True, text=True).stdout == "glassbox 0.2.0\n"

    # the install names its own installed copy for removing it; the unpacked archive may be gone
    assert f"remove with: {share / 'glassbox-app' / 'install.sh'} --uninstall\n" in result.stdout
    assert f"note: {home / '.local' / 'bin'} is not on your PATH" in result.stdout
    shutil.rmtree(bundle)
    removed = install(share / "glassbox-app", home, "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert not (share / "glassbox-app").exists() and not (share / "applications" / "glassbox.desktop").exists()
    assert not list((share / "icons").rglob("glassbox.*")) and not (home / ".local" / "bin" / "glassbox").exists()
    assert conversations.read_text() == "kept"


def test_without_a_bundle_it_says_what_to_do(tmp_path):
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(ROOT / "packaging" / "install-linux.sh", lone / "install.sh")
    result = install(lone, tmp_path)
    assert result.returncode == 1
    assert result.stderr == "error: no Glassbox bundle beside this script or in dist/Glassbox (run `make package` first)\n"


# The Desktop Entry specification's main categories (a menu files an entry under each one it has).
MAIN_CATEGORIES = {"AudioVideo", "Audio", "Video", "Development", "Education", "Game", "Graphics", "Network",
                   "Office", "Science", "Settings", "System", "Utility"}


def test_the_menu_entry_is_valid(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    assert install(unpacked_archive(tmp_path), home).returncode == 0
    entry = home / ".local" / "share" / "applications" / "glassbox.desktop"
    categories = next(line for line in entry.read_text().splitlines() if line.startswith("Categories="))
    main = [c for c in categories.removeprefix("Categories=").split(";") if c in MAIN_CATEGORIES]
    assert len(main) == 1, f"one main category, so the menu lists Glassbox once: {categories}"
    validate = shutil.which("desktop-file-validate")  # desktop-file-utils, where installed
    if validate:
        result = subprocess.run([validate, str(entry)], capture_output=True, text=True)
        assert result.returncode == 0 and not result.stdout.strip(), result.stdout
