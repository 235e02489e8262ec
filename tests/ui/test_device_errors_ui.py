"""An error of the device (MLX out of memory) while a reply is written shows in the window as a
clear message on the reply and in the notice bar, and the app goes on: the next message is
answered. The real engine on a tiny random-weight GGUF, with the failure injected into the MLX
operation each decoding step evaluates with (tests/app/test_device_errors.py)."""

from __future__ import annotations

from tests.app.test_device_errors import failing, tiny_gguf  # noqa: F401  (tiny_gguf is a fixture)
from tests.ui.driver import REPLY_TIMEOUT_MS, ask, type_and_send


def test_out_of_memory_while_writing_shows_a_clear_message_and_the_app_goes_on(qtbot, launch, tiny_gguf):  # noqa: F811
    app = launch(model=str(tiny_gguf), max_new_tokens=6)
    with failing("async_eval", at_call=3), \
            qtbot.waitSignal(app.controller.reply_failed, timeout=REPLY_TIMEOUT_MS):
        type_and_send(qtbot, app.window, "hello")
    view = app.window.transcript.views[1]
    assert not view.error_label.isHidden()
    for shown in (view.error_label.text(), app.window.notice.text()):
        assert "ran out of memory while writing the reply" in shown and "Preferences → Cache" in shown
    assert ask(qtbot, app, "hello again").finish_reason in ("eos", "length")
