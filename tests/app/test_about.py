"""Help → About's content, `glassbox --version`, and the runtime limits every model thread gets."""

from __future__ import annotations

import importlib.metadata
import threading

import pytest

from app.about import Places, about_info
from app.main import parse_args
from app.threads import MODEL_THREAD_STACK_BYTES, start_thread
from app.version import VERSION
from engine import runtime
from ui.entry import main as glassbox


def test_the_version_is_written_once_and_installed_from_there():
    assert importlib.metadata.version("glassbox") == VERSION


def test_glassbox_version_prints_it(capsys):
    assert glassbox(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"glassbox {VERSION}"
    with pytest.raises(SystemExit) as done:
        parse_args(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"glassbox {VERSION}"


def test_about_names_the_model_its_licence_and_the_folders(tmp_path):
    licence = tmp_path / "m.gguf.license.html"
    licence.write_text("terms")
    places = Places(data=tmp_path / "data", config=tmp_path / "config", models=tmp_path)
    info = about_info({"display_name": "Gemma 3 270M", "license": "gemma", "license_file": str(licence)}, places)
    assert (info.version, info.model, info.model_license, info.license_file) == (VERSION, "Gemma 3 270M", "Gemma Terms of Use (not Apache-2.0)", licence)
    assert info.mlx.startswith("MLX ") and info.qt.startswith("Qt ") and info.python.count(".") == 2
    assert info.places == places
    undeclared = about_info({"display_name": "x"}, None)
    assert undeclared.model_license == "not declared in the model file" and undeclared.license_file is None
    assert about_info(None, None).model == "no model loaded"


def test_model_threads_get_a_16_mib_stack_and_leave_the_default_alone():
    before = threading.stack_size()
    seen = []
    start_thread(lambda: seen.append(threading.current_thread().name), "probe").join(5)
    assert seen == ["probe"] and threading.stack_size() == before
    assert MODEL_THREAD_STACK_BYTES == 16 * 1024 * 1024


def test_the_worker_qthread_asks_for_the_same_stack(qapp):
    from app.worker import Worker, WorkerThread
    from tests.app.fakes import FakeBackend

    thread = WorkerThread(Worker(FakeBackend()))
    try:
        assert thread.thread.stackSize() == MODEL_THREAD_STACK_BYTES
    finally:
        thread.stop()


def test_mlx_keeps_a_bounded_cache_of_freed_buffers_and_empties_it():
    import mlx.core as mx

    assert runtime.bound_buffer_cache(64 << 20) == 64 << 20
    x = mx.ones((1024, 1024))
    mx.eval(x)
    del x
    runtime.release_cached_buffers()
    assert runtime.cached_buffer_bytes() == 0
    assert runtime.bound_buffer_cache() <= runtime.MAX_CACHE_BYTES
