"""A path, a URL or a module name in a notice, an error or a hint is one long word, which a QLabel
wraps only at spaces: it was drawn past the label's edge ("engine._native.buil" in the notice beside
a docked Inspector at 270 %) or made the window wider. `ui.wrap_label.WrapLabel` breaks such a word
where it must, in what is drawn only: the label's text is still the message, whole."""

from __future__ import annotations

import pytest

from tests.app.fakes import BROKEN, FakeBackend
from tests.ui.cut_text import settled_cut_texts
from tests.ui.drawn_text import widget_drawn
from tests.ui.zooming import zoom_to
from ui.text_breaks import BREAK, breakable
from ui.wrap_label import WrapLabel

DEEP = "/Users/someone/Library/Application_Support/Glassbox/models/" + "a_folder_with_a_very_long_name_" * 3


@pytest.mark.parametrize("width", [700])
def test_a_model_error_naming_a_long_path_is_shown_whole_at_any_text_size(qtbot, launch, width):
    app = launch(FakeBackend())
    window = app.window
    window.resize(width, 780)
    with qtbot.waitSignal(app.controller.model_failed, timeout=10000):
        window.choose_model(DEEP + BROKEN)  # the model picked in a folder nested deep
    notice = window.notice
    assert notice.isVisible() and (DEEP + BROKEN) in notice.text()  # the message, whole, no break points
    for percent in (100, 270):
        zoom_to(qtbot, app, percent)
        assert settled_cut_texts(qtbot, notice) == [], f"at {percent} %"
        drawn = "".join(p.text for p in widget_drawn(notice.label)).replace(BREAK, "")
        assert (DEEP + BROKEN).replace(" ", "") in drawn.replace(" ", "")  # every character of the path drawn
        assert window.width() == width  # the window never grew for it


def test_a_wrap_label_breaks_only_words_too_long_for_it(qtbot):
    label = WrapLabel("see engine._native.build for the kernels; " + "x" * 200)
    qtbot.addWidget(label)
    label.resize(240, 10)
    label.resize(label.width(), label.heightForWidth(240))
    assert label.text() == "see engine._native.build for the kernels; " + "x" * 200
    assert label.minimumSizeHint().width() < 240  # asks for no more than a few characters
    pieces = widget_drawn(label)
    assert pieces and all(0 <= p.left and p.right <= label.width() + 1 for p in pieces)
    assert all(p.bottom <= label.height() + 1 for p in pieces)  # as tall as its lines
    assert "".join(p.text for p in pieces).replace(BREAK, "").replace(" ", "") == label.text().replace(" ", "")


def test_breakable_keeps_whitespace_and_short_words():
    advance = len  # a character per pixel
    assert breakable("a bb\ncc  dd", 10, advance) == "a bb\ncc  dd"
    assert breakable("short\nabcdefghijkl end", 5, advance) == "short\n" + BREAK.join("abcdefghijkl") + " end"
    assert breakable("e\u0301\u0301xyzabc", 3, advance).startswith("e\u0301\u0301" + BREAK)  # a mark stays with its letter
