"""Shared fixtures: isolated data/config dirs, offscreen Qt, and the real default model (loaded once)."""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import weakref

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

import engine  # noqa: E402,F401  (loads OpenBLAS before any test module imports mlx)

# Hypothesis fails an example that takes over 200 ms, and a run whose data come slowly ("too
# slow"): timings, which a busy machine (the fresh-clone CI's 2 cores) misses now and then. Speed
# is measured by benchmarks, not tests (STYLE.md); every property still runs its examples. (A
# test naming its own suppress_health_check names too_slow with it.)
settings.register_profile("glassbox", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("glassbox")

# pytest-qt waits 5 s for a signal or a condition when a test names no timeout: enough on an idle
# machine, not on the fresh-clone CI's 2 busy cores, where a worker-thread step (a token count, a
# search, a model's short reply) can take longer. A wait ends as soon as its condition holds, so
# the longer bound costs nothing when the test passes; a test that names a timeout keeps it.
WAIT_MS = 60_000


@pytest.fixture
def qtbot(qtbot):
    """pytest-qt's qtbot whose waits default to WAIT_MS instead of 5 s."""
    for name in ("waitUntil", "waitSignal", "waitSignals", "waitCallback", "waitExposed", "waitActive"):
        setattr(qtbot, name, functools.partial(getattr(qtbot, name), timeout=WAIT_MS))
    return qtbot


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Every test gets its own data and config dirs; the models dir is shared (DESIGN.md)."""
    monkeypatch.setenv("GLASSBOX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLASSBOX_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture(scope="session", autouse=True)
def weights_cache_dir(tmp_path_factory):
    """Converted weights (engine/weights_cache.py) are kept in a folder of the test run's own, not
    in the shared models dir: a run starts with none, and converts each model once."""
    folder = tmp_path_factory.mktemp("converted-weights")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GLASSBOX_WEIGHTS_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="session")
def default_model_path():
    """The default GGUF (fetched by `make test`; fetched here if a test run skipped that)."""
    from engine import default_model

    return default_model.fetch(log=lambda m: None)


@pytest.fixture(scope="session")
def default_lm(default_model_path):
    """The default model as the app loads it (as stored, 4-bit, where the CPU kernels are built;
    float32 where they are not), loaded once per session."""
    from engine.loading import load

    return load(default_model_path)


@pytest.fixture(scope="module")
def float32_lm(default_model_path):
    """The default model expanded to float32 (llama.cpp's "f32" reference does the same arithmetic).
    Loaded once per test file that asks (two do): held for the whole session, its 0.5 GB stayed in
    the process through every later folder."""
    from engine.loading import WeightPolicy, load

    return load(default_model_path, WeightPolicy("float32"))


# ---------------------------------------------------------------------------------------------
# Memory a test no longer uses goes back to the system. Without this the suite's process grew to
# 9.8 GB (24 GB, and killed, when stale kernels made every model float32):
# - A stopped worker keeps its model: PySide holds every Python slot connected to a live QObject
#   from C++, where the collector cannot see it, and the window's, controller's, Inspector's and
#   API's slots all reach the worker, so each app a test started kept its model (and the
#   Inspector's tables: 0.1-0.25 GB) to the end of the run. After each test, the model of every
#   worker whose thread has finished is dropped.
# - Windows a test closed are deleted (pytest-qt asks with deleteLater, which waits for an event
#   loop that may never run again), and with them their slots.
# - After each test file: the collector runs (models in reference cycles), MLX's freed buffers
#   kept for reuse are released (a backend bounds that cache at up to 2 GiB: it held 1.1 GB in
#   tests/app), and the C heap returns its free pages.
#
# GLASSBOX_TEST_MEMORY=<file> appends one line per test file: resident memory after the file (its
# module fixtures torn down), the peak so far, and after the release, with MLX's active and cached
# bytes: `GLASSBOX_TEST_MEMORY=/tmp/mem.txt pytest tests/app`.

_workers: weakref.WeakSet = weakref.WeakSet()  # every app.worker.Worker a test made


@pytest.fixture(autouse=True, scope="session")
def _track_workers():
    from app.worker import Worker

    made = Worker.__init__

    def init(self, *args, **kwargs):
        made(self, *args, **kwargs)
        _workers.add(self)

    Worker.__init__ = init
    yield
    Worker.__init__ = made


def _release_stopped_workers() -> None:
    import shiboken6

    for worker in list(_workers):
        thread = worker.thread() if shiboken6.isValid(worker) else None
        if thread is None or thread.isFinished():  # no thread left that could use the model
            worker._session = None
            worker._warming = None  # (session, its Inspector warm-up) not yet built


def _delete_closed_widgets() -> None:
    from PySide6.QtCore import QCoreApplication, QEvent

    if QCoreApplication.instance() is not None:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def _resident_mb() -> tuple[int, int]:
    """(resident, peak resident) MB of this process (Linux; (0, 0) elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            status = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))
    except OSError:
        return 0, 0
    return int(status["VmRSS"].split()[0]) // 1024, int(status["VmHWM"].split()[0]) // 1024


def _release_memory() -> None:
    import mlx.core as mx

    gc.collect()
    mx.clear_cache()
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc: free heap pages back to the system
    if trim is not None:
        trim(0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    yield  # the test has run and its fixtures (after a file's last test, the file's) are gone
    _release_stopped_workers()
    _delete_closed_widgets()
    if nextitem is not None and nextitem.path == item.path:
        return
    before, peak = _resident_mb()
    _release_memory()
    report = os.environ.get("GLASSBOX_TEST_MEMORY")
    if report:
        import mlx.core as mx

        with open(report, "a") as f:
            f.write(
                f"{item.path.relative_to(item.config.rootpath)}\trss {before} MB\tpeak {peak} MB\t"
                f"after release {_resident_mb()[0]} MB\tmlx active {mx.get_active_memory() >> 20} MB\t"
                f"mlx cache {mx.get_cache_memory() >> 20} MB\n"
            )
