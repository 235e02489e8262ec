"""The notice bar says how serious a notice is: information (a reply stopped because the user left
its conversation) is drawn neutral, a warning (nothing was named to forget) amber, and only an
error (a reply that failed) red, each with its own sign. Driven through the window."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest

from app.notices import Level
from tests.app.fakes import FakeBackend
from tests.ui.driver import REPLY_TIMEOUT_MS, type_and_send


def drawn(bar) -> tuple[QColor, str]:
    """The bar's background as drawn (in its left margin, under no text) and its sign."""
    image = bar.grab().toImage()
    return image.pixelColor(3, image.height() // 2), bar.sign.text()


def reddish(colour: QColor) -> bool:
    """Red as an error is red (hue within 20° of 0°; amber is ~38°, blue ~215°)."""
    hue = colour.hsvHue()
    return colour.hsvSaturation() > 60 and (hue < 20 or hue > 340)


def test_only_errors_are_red_information_and_warnings_have_their_own_look(qtbot, launch):
    app = launch(FakeBackend(endless=True))
    window, bar = app.window, app.window.notice
    type_and_send(qtbot, window, "A long story")
    qtbot.waitUntil(lambda: len(app.controller.message(1).tokens) > 5, timeout=REPLY_TIMEOUT_MS)
    QTest.keyClick(window.composer.box, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # New, mid-reply
    assert "stopped because you started a new conversation" in bar.text()
    assert bar.level is Level.INFO
    info = drawn(bar)

    type_and_send(qtbot, window, "forget it")  # nothing named: nothing deleted, the user told how
    assert "nothing to forget" in bar.text() and bar.level is Level.WARNING
    warning = drawn(bar)

    assert window.composer.box.toPlainText() == "forget it"  # kept, to be changed
    window.composer.box.clear()
    with qtbot.waitSignal(app.controller.reply_failed, timeout=20000):
        type_and_send(qtbot, window, "explode")
    assert "exploded" in bar.text() and bar.level is Level.ERROR
    error = drawn(bar)

    assert reddish(error[0]) and not reddish(info[0]) and not reddish(warning[0])
    assert len({info[0].name(), warning[0].name(), error[0].name()}) == 3  # three looks
    assert len({info[1], warning[1], error[1]}) == 3  # and three signs: the level reads without colour
    assert bar.accessibleName() == "Error"


def test_a_notice_goes_when_it_is_no_longer_true(qtbot, launch):
    """Lifetimes are decided once, by what a notice is about (app/notices.py LASTS_UNTIL): one
    about the message in the box goes when the box is emptied or another conversation opens; one
    about the open conversation (a reply failed) when another conversation opens; a standing one
    (the app, its files) stays until dismissed."""
    app = launch(FakeBackend())
    window, bar = app.window, app.window.notice
    box = window.composer.box

    type_and_send(qtbot, window, "forget it")  # about the message in the box
    assert "nothing to forget" in bar.text()
    box.setPlainText("forget")  # still a message there: still true
    assert "nothing to forget" in bar.text()
    box.clear()
    assert bar.text() == ""

    type_and_send(qtbot, window, "forget it")
    QTest.keyClick(box, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # another conversation
    assert bar.text() == ""

    box.clear()
    with qtbot.waitSignal(app.controller.reply_failed, timeout=20000):
        type_and_send(qtbot, window, "explode")  # about this conversation
    assert "exploded" in bar.text()
    box.setPlainText("draft")
    box.clear()  # the box has nothing to do with it
    assert "exploded" in bar.text()
    QTest.keyClick(box, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert bar.text() == ""

    bar.show_warning("The settings file could not be read; it was set aside.")  # standing
    QTest.keyClick(box, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    box.setPlainText("x")
    box.clear()
    assert bar.text() == "The settings file could not be read; it was set aside."


def test_every_kind_of_notice_has_a_lifetime():
    from app.notices import LASTS_UNTIL, About, Moment, Notice

    assert set(LASTS_UNTIL) == set(About)
    declined = Notice.info("You declined …", About.MODEL_CHOICE)
    assert declined.outlived_by(Moment.MODEL_CHOSEN) and not declined.outlived_by(Moment.CONVERSATION_CHANGED)
    assert not any(Notice.warning("x").outlived_by(m) for m in Moment)  # standing: only dismissed
