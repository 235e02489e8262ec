"""The API server inside the window, driven as a user does: Preferences → Server turns it on (and
checks the address and key), the status bar says where it listens, a client's request is served by
the window's own model worker (behind the window's reply), and View → API Requests lists it and
opens it with its tokens tinted and the next-token panel on a clicked token."""

from __future__ import annotations

import socket
import threading

import httpx
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.settings import SettingsFile
from tests.app.fakes import REPLY, FakeBackend, FakeSession, split_tokens
from tests.ui.driver import type_and_send, without_markup
from tests.ui.test_preferences import open_preferences
from ui.probability_panel import ROW_HEIGHT
from ui.server_tab import ENABLED_HINT

HELLO = [{"role": "user", "content": "Hello from a client"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_tab(qtbot, window):
    dialog = open_preferences(qtbot, window)
    dialog.tabs.setCurrentIndex([dialog.tabs.tabText(i) for i in range(dialog.tabs.count())].index("Server"))
    return dialog, dialog.server_tab


def type_over(edit, text: str) -> None:
    edit.setFocus()
    edit.selectAll()
    QTest.keyClicks(edit, text) if text else QTest.keyClick(edit, Qt.Key.Key_Delete)


def turn_on(qtbot, window, port: int, host: str = "127.0.0.1", key: str = "") -> None:
    dialog, tab = server_tab(qtbot, window)
    QTest.mouseClick(tab.enabled_check, Qt.MouseButton.LeftButton)
    type_over(tab.host_edit, host)
    type_over(tab.port_spin.lineEdit(), str(port))
    type_over(tab.key_edit, key)
    assert dialog.save_button.isEnabled(), dialog.summary.text()
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)


def test_turning_the_server_on_serves_the_windows_model_and_lists_the_request(qtbot, launch, tmp_path):
    app = launch(FakeBackend())
    window = app.window
    assert not window.status.server_label.isVisible()  # off by default
    menu_name = "View → " + window.requests_action.text().replace("&", "")  # the hints name the menu item
    assert menu_name == "View → API Requests"
    port = free_port()
    turn_on(qtbot, window, port)
    address = f"http://127.0.0.1:{port}/v1"
    qtbot.waitUntil(lambda: window.status.server_label.text() == f"API {address} · 0 running")
    assert menu_name in window.status.server_label.toolTip() and menu_name in ENABLED_HINT
    assert SettingsFile(tmp_path / "config").load().app.server_enabled  # remembered

    models = httpx.get(f"{address}/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == ["Fake default"]  # the window's loaded model
    r = httpx.post(f"{address}/chat/completions", timeout=10,
                   json={"model": "my-editor", "messages": HELLO, "logprobs": True, "top_logprobs": 2})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == REPLY

    window.requests_action.trigger()  # View → API Requests
    requests = window.requests_window
    qtbot.waitUntil(lambda: requests.isVisible() and requests.table.rowCount() == 1)
    qtbot.waitUntil(lambda: requests.table.item(0, 7).text() == "stop")
    row = [requests.table.item(0, c).text() for c in range(requests.table.columnCount())]
    # tokens out: the reply's and the end-of-turn token, as usage.completion_tokens counts them
    assert row[1:5] == ["my-editor", "chat", "10", str(len(split_tokens(REPLY)) + 1)] and row[5] == "10 ms"

    rect = requests.table.visualRect(requests.table.model().index(0, 1))
    QTest.mouseClick(requests.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    view = requests.view
    qtbot.waitUntil(lambda: view.reply.isVisible())
    assert without_markup(view.reply.document()).strip().startswith("Hello world")  # Markdown rendered
    assert [label.text() for label in view._prompt] == ["user", "Hello from a client"]
    point = view.reply.token_point(1)
    assert point is not None
    QTest.mouseClick(view.reply.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.waitUntil(lambda: requests.panel.record is not None)
    assert requests.panel.record.index == 1 and "token 2" in requests.panel.subtitle.text()
    bars = requests.panel.raw_bars  # a request is no reply to continue: an alternative offers nothing
    other = next(r for r in range(len(bars.rows)) if r != bars.chosen_row())
    QTest.mouseClick(bars, Qt.MouseButton.LeftButton, pos=QPoint(20, int((other + 0.5) * ROW_HEIGHT)))
    assert bars.offered_row() is None and not requests.panel.continue_button.isVisible()

    httpx.post(f"{address}/completions", json={"model": "base", "prompt": "Once"}, timeout=10)
    qtbot.waitUntil(lambda: requests.table.rowCount() == 2)
    assert requests.table.item(0, 2).text() == "completion"  # newest first

    dialog, tab = server_tab(qtbot, window)  # off again: nothing listens
    QTest.mouseClick(tab.enabled_check, Qt.MouseButton.LeftButton)
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.status.server_label.isVisible())
    try:
        httpx.get(f"{address}/models", timeout=2)
        raise AssertionError("the server still answers after it was turned off")
    except httpx.ConnectError:
        pass


class WindowWritesForever(FakeSession):
    """The window's reply goes on until stopped; an API request's ends at its max_tokens."""

    def stream(self, request, should_stop, progress):
        self.endless = request.user_message == "write forever"
        yield from super().stream(request, should_stop, progress)


def test_api_requests_wait_behind_the_windows_reply(qtbot, launch):
    app = launch(FakeBackend(session=WindowWritesForever))
    port = free_port()
    turn_on(qtbot, app.window, port)
    qtbot.waitUntil(lambda: "running" in app.window.status.server_label.text())
    type_and_send(qtbot, app.window, "write forever")
    qtbot.waitUntil(lambda: app.controller.busy)
    answer: dict = {}

    def client():
        answer["r"] = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=30,
                                 json={"messages": HELLO, "max_tokens": 3})

    thread = threading.Thread(target=client)
    thread.start()
    qtbot.waitUntil(lambda: app.window.status.server_label.text().endswith("1 running"))
    qtbot.wait(300)
    assert "r" not in answer  # the window's reply has the model
    app.controller.stop()
    thread.join(20)
    assert answer["r"].status_code == 200 and answer["r"].json()["usage"]["completion_tokens"] == 3
    qtbot.waitUntil(lambda: app.window.status.server_label.text().endswith("0 running"))


def test_another_address_needs_an_api_key_and_a_taken_port_is_said(qtbot, launch):
    app = launch(FakeBackend())
    dialog, tab = server_tab(qtbot, app.window)
    QTest.mouseClick(tab.enabled_check, Qt.MouseButton.LeftButton)
    type_over(tab.host_edit, "0.0.0.0")
    assert not dialog.save_button.isEnabled()
    assert "lets other machines use the model" in tab.messages["server_api_key"].problem
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Server ⚠"
    type_over(tab.key_edit, "short")
    assert "at least 8" in tab.messages["server_api_key"].problem and not dialog.save_button.isEnabled()
    type_over(tab.host_edit, "my laptop")
    assert "not an IP address" in tab.messages["server_host"].problem
    type_over(tab.host_edit, "127.0.0.1")
    assert dialog.save_button.isEnabled() and not tab.messages["server_api_key"].problem
    dialog.reject()

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        turn_on(qtbot, app.window, port)
        label = app.window.status.server_label
        qtbot.waitUntil(lambda: label.text().startswith("API off: cannot listen"), timeout=15000)
        assert label.text().endswith(f"port {port} is in use") and label.isVisible()


def test_before_a_model_is_loaded_requests_get_a_503_to_retry(qtbot, launch):
    app = launch(FakeBackend(), wait_for_model=False)  # the model never starts loading
    port = free_port()
    turn_on(qtbot, app.window, port)
    qtbot.waitUntil(lambda: "running" in app.window.status.server_label.text())
    r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={"messages": HELLO}, timeout=10)
    assert r.status_code == 503 and r.json()["error"]["code"] == "model_not_loaded"
    assert "no model is loaded" in r.json()["error"]["message"] and r.headers["retry-after"] == "1"
    with qtbot.waitSignal(app.controller.model_loaded, timeout=10000):
        app.core.start()
    r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={"messages": HELLO}, timeout=10)
    assert r.status_code == 200 and r.json()["model"] == "Fake default"
