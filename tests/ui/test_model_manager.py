"""Model → Manage Models…, driven as a user does: the models other apps downloaded are listed with
their metadata, the ones Glassbox cannot open are greyed with the reason, a double-click opens one,
and one that will not fit in the free memory is refused before anything loads."""

from __future__ import annotations

import shutil

import gguf
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app import model_library
from tests.app.fakes import FakeBackend
from tests.app.test_model_library import _gguf_of_arch, _ollama_store
from tests.engine.checkpoints import write_gguf
from ui.model_manager import COLUMNS, ModelManagerDialog

LOAD_MS = 20_000  # the fake backend loads at once
PUBLISHER = "<i>pub &amp; co"  # a folder name that looks like markup: shown as written


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A home folder with a model in LM Studio's layout and an unknown architecture in Ollama's."""
    home = tmp_path / "home"
    repo = home / ".lmstudio" / "models" / PUBLISHER / "Qwen3-tiny-GGUF"
    repo.mkdir(parents=True)
    model = write_gguf("qwen3", repo / "Qwen3-tiny-Q8_0.gguf", tensor_type=gguf.GGMLQuantizationType.Q8_0)
    _ollama_store(home / ".ollama" / "models", _gguf_of_arch(tmp_path / "mamba.gguf", "mamba"),
                  "library", "mamba", "latest")
    for name in ("HF_HOME", "HF_HUB_CACHE", "OLLAMA_MODELS", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GLASSBOX_MODELS_DIR", str(tmp_path / "glassbox-models"))
    return model


def _open_dialog(qtbot, app) -> ModelManagerDialog:
    action = next(a for menu in app.window.menuBar().actions() for a in menu.menu().actions()
                  if a.text() == "&Manage Models…")
    action.trigger()
    dialog = next(d for d in app.window.findChildren(ModelManagerDialog) if d.isVisible())
    qtbot.waitExposed(dialog)
    _wait_for_scan(qtbot, dialog)
    return dialog


def _wait_for_scan(qtbot, dialog: ModelManagerDialog) -> None:
    qtbot.waitUntil(lambda: not dialog.scanning, timeout=LOAD_MS)


def _cells(dialog: ModelManagerDialog, row: int) -> dict[str, str]:
    return {column: dialog.table.item(row, i).text() for i, column in enumerate(COLUMNS)}


def _double_click(dialog: ModelManagerDialog, row: int) -> None:
    rect = dialog.table.visualItemRect(dialog.table.item(row, 0))
    # Qt 6's views act on a double-click that follows a press on the same cell, as a real one does
    QTest.mouseClick(dialog.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     rect.center())
    QTest.mouseDClick(dialog.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                      rect.center())


def test_lists_models_greys_the_unsupported_and_opens_one(qtbot, launch, machine, monkeypatch):
    monkeypatch.setattr(model_library, "available_memory", lambda: 64 * 10**9)
    app = launch(FakeBackend())
    dialog = _open_dialog(qtbot, app)
    rows = {r.name: i for i, r in enumerate(dialog.rows())}
    assert set(rows) == {f"{PUBLISHER}/Qwen3-tiny-GGUF/Qwen3-tiny-Q8_0", "mamba:latest"}
    qwen = _cells(dialog, rows[f"{PUBLISHER}/Qwen3-tiny-GGUF/Qwen3-tiny-Q8_0"])
    assert qwen["Architecture"] == "qwen3" and qwen["Quantization"] == "Q8_0" and qwen["Context"] == "256"
    assert qwen["Found in"] == "LM Studio" and qwen["Path"] == str(machine) and qwen["Note"] == ""
    assert qwen["Parameters"].endswith("K") and qwen["File size"].endswith("KB") and qwen["Memory (est.)"]
    mamba = rows["mamba:latest"]
    assert _cells(dialog, mamba)["Note"] == "unknown architecture 'mamba'"
    assert not dialog.table.item(mamba, 0).flags() & Qt.ItemFlag.ItemIsEnabled
    dialog.table.setCurrentCell(mamba, 0)
    assert not dialog.open_button.isEnabled()

    with qtbot.waitSignal(app.controller.model_loaded, timeout=LOAD_MS):
        _double_click(dialog, rows[f"{PUBLISHER}/Qwen3-tiny-GGUF/Qwen3-tiny-Q8_0"])
    assert not dialog.isVisible()
    assert app.controller.model_info["spec"] == str(machine)
    assert app.controller.settings.app.model == str(machine)
    again = _open_dialog(qtbot, app)  # the loaded one is marked, whatever spec opened it
    loaded = [_cells(again, i)["Path"] for i in range(len(again.rows())) if _cells(again, i)["Note"] == "loaded now"]
    assert loaded == [str(machine)]


def test_a_model_that_does_not_fit_is_refused_before_loading(qtbot, launch, machine, monkeypatch):
    backend = FakeBackend()
    app = launch(backend)
    monkeypatch.setattr(model_library, "available_memory", lambda: 1000)
    dialog = _open_dialog(qtbot, app)
    (index,) = [i for i, r in enumerate(dialog.rows()) if r.supported]
    assert _cells(dialog, index)["Note"] == "needs more memory than is free now"
    loads = len(backend.sessions)
    _double_click(dialog, index)
    assert dialog.isVisible()
    message = dialog.message.text()
    assert message.startswith(f"{PUBLISHER}/Qwen3-tiny-GGUF/Qwen3-tiny-Q8_0 needs about ")
    assert "but only 1.0 KB is free on this machine" in message
    assert dialog.message.textFormat() == Qt.TextFormat.PlainText
    assert app.controller.settings.app.model == "default" and not app.controller.model_loading_now
    assert len(backend.sessions) == loads


def test_added_folders_are_kept_in_settings_and_listed(qtbot, launch, machine, tmp_path, monkeypatch):
    monkeypatch.setattr(model_library, "available_memory", lambda: 64 * 10**9)
    app = launch(FakeBackend())
    dialog = _open_dialog(qtbot, app)
    mine = tmp_path / "my models"
    mine.mkdir()
    shutil.copy(machine, mine / "copy.gguf")
    dialog.add_folder(str(mine))
    _wait_for_scan(qtbot, dialog)
    assert app.controller.settings.app.model_folders == (str(mine),)
    assert [dialog.folders.item(i).text() for i in range(dialog.folders.count())] == [str(mine)]
    assert any(r.source == "Added folder" and r.spec == str(mine / "copy.gguf") for r in dialog.rows())
    dialog.folders.setCurrentRow(0)
    dialog.remove_button.click()
    _wait_for_scan(qtbot, dialog)
    assert app.controller.settings.app.model_folders == ()
    assert not any(r.source == "Added folder" for r in dialog.rows())


def test_the_loaded_mark_compares_files_not_specs(tmp_path):
    from ui.model_manager import _same_model

    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    (tmp_path / "link.gguf").symlink_to(model)
    # the default model is loaded by the spec "default"; the worker reports its path
    assert _same_model(str(tmp_path / "link.gguf"), str(model))
    assert not _same_model(str(model), "default") and not _same_model(str(model), None)


def test_the_loaded_model_has_one_name_in_the_status_bar_manage_models_and_about(qtbot, launch, machine, tmp_path):
    """LM Studio's layout names the model by publisher/repo/file (not the name inside its metadata,
    "tiny qwen3", nor its bare file name): the same words wherever the window names it."""
    from app.about import about_info
    from app.backend import EngineBackend
    from app.model_names import display_name

    app = launch(EngineBackend(data_dir=tmp_path / "engine"), model=str(machine))
    name = display_name(machine)
    assert name == f"{PUBLISHER}/Qwen3-tiny-GGUF/Qwen3-tiny-Q8_0"
    assert app.controller.model_info["display_name"] == name
    assert app.window.status.model_label.text().startswith(f"{name} · ")  # as written, markup shown as text
    dialog = _open_dialog(qtbot, app)
    loaded = [r for r in range(dialog.table.rowCount()) if _cells(dialog, r)["Note"] == "loaded now"]
    assert [_cells(dialog, r)["Name"] for r in loaded] == [name]
    dialog.close()
    assert about_info(app.controller.model_info, None).model == name  # what Help → About shows


def test_the_scan_runs_off_the_gui_thread_with_progress_and_the_window_answers(
        qtbot, launch, machine, tmp_path, monkeypatch):
    """A large folder (many GGUF files) is read on the scan's thread: while a file's header is
    being read (held here until the test lets it go) the dialog shows where it is looking, keeps
    answering (typing in the table's search moves the selection, Close closes), and a scan
    abandoned by closing never fills a closed dialog."""
    import threading

    monkeypatch.setattr(model_library, "available_memory", lambda: 64 * 10**9)
    big = tmp_path / "big folder"
    big.mkdir()
    for i in range(40):
        shutil.copy(machine, big / f"model-{i:02}.gguf")
    readers: set[threading.Thread] = set()
    held, release = threading.Event(), threading.Event()
    describe = model_library.describe_gguf

    def slow_describe(path, *args, **kwargs):
        readers.add(threading.current_thread())
        if path.parent == big and not held.is_set():
            held.set()
            release.wait(30)
        return describe(path, *args, **kwargs)

    monkeypatch.setattr(model_library, "describe_gguf", slow_describe)
    app = launch(FakeBackend(), model_folders=(str(big),))
    action = next(a for menu in app.window.menuBar().actions() for a in menu.menu().actions()
                  if a.text() == "&Manage Models…")
    action.trigger()
    dialog = next(d for d in app.window.findChildren(ModelManagerDialog) if d.isVisible())
    qtbot.waitUntil(held.is_set, timeout=LOAD_MS)
    # the scan is stuck inside a file of the big folder; the GUI thread is free
    qtbot.waitUntil(lambda: "Added folder: " in dialog.message.text(), timeout=LOAD_MS)
    assert dialog.scanning and dialog.progress.isVisible()
    assert dialog.message.text() == f"Looking for models in Added folder: {big} (7 of 7 places)…"
    assert dialog.progress.value() == 6 and dialog.progress.maximum() == 7
    QTest.keyClick(dialog.folders, Qt.Key.Key_Down)  # the folder list answers keys meanwhile
    assert dialog.folders.currentRow() == 0 and dialog.remove_button.isEnabled()
    release.set()
    _wait_for_scan(qtbot, dialog)
    assert threading.main_thread() not in readers and readers
    assert sum(r.spec.startswith(str(big)) for r in dialog.rows()) == 40
    assert dialog.message.text() == "42 models found, 41 Glassbox can open. Double-click one to open it."

    # closed while scanning: the abandoned scan never reports
    held.clear(), release.clear()
    dialog.refresh()
    qtbot.waitUntil(held.is_set, timeout=LOAD_MS)
    shown = dialog.rows()
    dialog.reject()
    release.set()
    scan_thread = dialog.scan.thread
    qtbot.waitUntil(lambda: not scan_thread.is_alive(), timeout=LOAD_MS)
    qtbot.wait(50)
    assert dialog.rows() == shown and dialog.scanning
