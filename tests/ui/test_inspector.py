"""The Inspector driven like a user in the real window with the real default model: right-click a
token, Inspect, open each step; the numbers shown are the engine's."""

from __future__ import annotations

import json
import math
import threading

import httpx
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from tests.ui.driver import ask
from ui.inspector.model_views import TABLE_ROWS
from ui.inspector.output_views import LoopView
from ui.probability_panel import ROW_HEIGHT

pytestmark = pytest.mark.slow
TIMEOUT_MS = 120000


def _click_step(qtbot, inspector, prefix: str):
    row = next(i for i, v in enumerate(inspector.views) if v.title.startswith(prefix))
    item = inspector.steps.item(row)
    QTest.mouseClick(inspector.steps.viewport(), Qt.MouseButton.LeftButton, pos=inspector.steps.visualItemRect(item).center())
    assert inspector.stack.currentWidget() is inspector.views[row]
    return inspector.views[row]


def _column(table, col: int) -> list[str]:
    return [table.item(r, col).text() for r in range(table.rowCount())]


def test_inspect_a_token_and_open_every_step(qtbot, launch, tmp_path):
    app = launch(max_new_tokens=6)
    window = app.window
    reply = ask(qtbot, app, "What is the capital of France?")
    view = window.transcript.views[1]
    k = 2
    point = view.text.token_point(k)
    menu = view.build_context_menu(point)
    action = next(a for a in menu.actions() if a.text() == "Inspect")
    dock = window.inspector
    service = dock.inspector.service
    with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS) as got:
        action.trigger()
    report = got.args[0]
    inspector = dock.inspector
    assert dock.isVisible() and report["token_index"] == k and report["token"] == reply.tokens[k].token
    record = reply.tokens[k]
    # the step's distribution is the one generation reported for that token
    assert abs(report["token_logprob"] - record.logprob) < 1e-4
    assert f"{report['model']['vocab_size']:,} logits" in inspector.strip.text()
    assert "30 blocks" in inspector.strip.text() and f"{len(report['ids']):,} ids" in inspector.strip.text()

    lens = _click_step(qtbot, inspector, "8 ·")
    assert lens.table.rowCount() == 30
    top_id, top_lp = report["step"]["logit_lens"][-1][0]
    assert _column(lens.table, 2)[-1] == f"{top_lp:.4f}"
    generated = {i: lp for i, _p, lp in record.top_raw}
    assert abs(float(_column(lens.table, 2)[-1]) - generated[top_id]) < 1e-3

    head = _click_step(qtbot, inspector, "9 ·")
    shown = [float(x) for x in _column(head.table, 3)[:5]]
    assert all(abs(a - generated[i]) < 1e-3 for a, (i, _lp) in zip(shown, report["step"]["next_token"], strict=False))
    with qtbot.waitSignal(service.lookup_ready, timeout=TIMEOUT_MS) as looked:
        head.lookup_box.setFocus()
        QTest.keyClicks(head.lookup_box, " Paris")
        QTest.keyClick(head.lookup_box, Qt.Key.Key_Return)
    tok = looked.args[0]["tokens"][0]
    assert f"rank {tok['rank']:,}" in head.lookup_label.text()
    assert abs(tok["logprob"] - float(report["raw_logprobs"][tok["id"]])) < 1e-6

    attention = _click_step(qtbot, inspector, "6 ·")
    attention.layer_box.setValue(29)
    attention.head_box.setValue(8)
    weights = [float(x) for x in _column(attention.table, 2)]
    assert len(weights) == min(TABLE_ROWS, report["position"] + 1) and abs(sum(weights) - 1.0) < 2e-3
    assert "full causal attention" in attention.kind_label.text() and "share KV head 2" in attention.kind_label.text()
    with qtbot.waitSignal(service.map_ready, timeout=TIMEOUT_MS):
        QTest.mouseClick(attention.map_button, Qt.MouseButton.LeftButton)
    assert attention.map_label.isVisible() and not attention.map_label.image().isNull()

    residual = _click_step(qtbot, inspector, "7 ·")
    assert residual.table.rowCount() == 31
    assert _column(residual.table, 1)[0] == f"{report['step']['residual_norms'][0]:.4f}"

    sampling = _click_step(qtbot, inspector, "10 ·")
    sampling.temperature.setValue(0.8)
    sampling.top_p.setValue(1.0)  # the step may have been made with the window's top-p 0.95: off, so top-k alone cuts
    sampling.min_p.setValue(0.0)
    sampling.top_k.setValue(3)
    qtbot.waitUntil(lambda: sampling.table.rowCount() and _column(sampling.table, 0)[-1] == "final", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: _column(sampling.table, 1)[-1] == "3", timeout=TIMEOUT_MS)
    QTest.mouseClick(sampling.use_button, Qt.MouseButton.LeftButton)
    assert app.controller.settings.sampling.top_k == 3 and math.isclose(app.controller.settings.sampling.temperature, 0.8)

    objective = _click_step(qtbot, inspector, "13 ·")
    obj = report["objective"]
    assert objective.table.rowCount() == len(obj["losses"]) and f"{obj['mean']:.4f}" in objective.summary.text()

    for prefix in ("1 ·", "2 ·", "3 ·", "4 ·", "5 ·", "11 ·", "12 ·"):
        step = _click_step(qtbot, inspector, prefix)
        assert step.summary.text()
    tokens = _click_step(qtbot, inspector, "2 ·")
    assert tokens.table.rowCount() == len(report["ids"])
    embedding = _click_step(qtbot, inspector, "4 ·")
    assert _column(embedding.table, 1)[0] == str(report["embedding"]["token"])  # itself first
    with qtbot.waitSignal(service.analogy_ready, timeout=TIMEOUT_MS) as analogy:
        QTest.mouseClick(embedding.analogy_button, Qt.MouseButton.LeftButton)
    nearest = analogy.args[0]["nearest"]
    assert len(nearest) == 5 and not set(analogy.args[0]["ids"]) & {i for i, _ in nearest}
    assert f"({nearest[0][1]:.3f})" in embedding.analogy_label.text()
    loop = _click_step(qtbot, inspector, "11 ·")
    assert loop.table.rowCount() == len(reply.tokens)

    out = tmp_path / "step.json"
    service.export(out)
    exported = json.loads(out.read_text())
    assert exported["step"]["next_token"][0][0] == top_id and "raw_logprobs" not in exported

    # with the Inspector open, clicking another token moves every view to it
    with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS) as moved:
        QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=view.text.token_point(3))
    assert moved.args[0]["token_index"] == 3
    assert _column(_click_step(qtbot, inspector, "8 ·").table, 2)[-1] == f"{moved.args[0]['step']['logit_lens'][-1][0][1]:.4f}"
    # the next-token panel's button and View → Inspector open it on the panel's step
    dock.hide()
    QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=view.text.token_point(1))
    with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS) as again:
        QTest.mouseClick(window.panel.inspect_button, Qt.MouseButton.LeftButton)
    assert again.args[0]["token_index"] == 1 and dock.isVisible()
    window.inspector_action.trigger()  # View → Inspector is a toggle: it closes the open Inspector
    assert not dock.isVisible()
    with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS) as menu_again:
        window.inspector_action.trigger()  # and opens it again on the panel's step
    assert menu_again.args[0]["token_index"] == 1 and dock.isVisible()


def test_continue_with_an_alternative_keeps_the_text_before_it(qtbot, launch):
    app = launch(max_new_tokens=6)
    window = app.window
    # the open Inspector follows the newest token while the reply streams (served between tokens)
    window.inspector_action.trigger()  # View → Inspector
    window.inspector.inspector.follow_box.setChecked(True)
    followed = []
    window.inspector.inspector.service.step_ready.connect(
        lambda r: followed.append((r["token_index"], app.controller.busy))
    )
    # the reply goes on past its first token only once the Inspector has asked for a step: six
    # tokens take well under a second, and a busy machine's GUI thread may hear of them later
    worker = app.core.worker_thread.worker
    asked, submit, stream = threading.Event(), worker.submit_inspection, worker._session.stream
    worker.submit_inspection = lambda *args: (submit(*args), asked.set())

    def held(request, *args):
        for n, item in enumerate(stream(request, *args)):
            yield item
            if n == 0:
                asked.wait(TIMEOUT_MS / 1000)

    worker._session.stream = held
    old = ask(qtbot, app, "What is the capital of France?")
    assert asked.is_set() and any(busy for _k, busy in followed)  # shown before the reply had finished
    qtbot.waitUntil(lambda: followed and followed[-1][0] == len(old.tokens) - 1, timeout=TIMEOUT_MS)
    window.inspector.inspector.follow_box.setChecked(False)
    view = window.transcript.views[1]
    k = 2
    QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=view.text.token_point(k))
    bars = window.panel.raw_bars
    alt_row = next(r for r, (i, _p, _lp) in enumerate(bars.rows) if i != old.tokens[k].token)
    forced = bars.rows[alt_row][0]
    QTest.mouseClick(bars, Qt.MouseButton.LeftButton, pos=QPoint(20, alt_row * ROW_HEIGHT + ROW_HEIGHT // 2))
    assert window.panel.continue_button.isVisible()
    with qtbot.waitSignal(app.controller.reply_finished, timeout=240000) as done:
        QTest.mouseClick(window.panel.continue_button, Qt.MouseButton.LeftButton)
    new = app.controller.message(done.args[0])
    ids = [t.token for t in new.tokens]
    assert ids[:k] == [t.token for t in old.tokens[:k]]  # the text before it is identical
    assert ids[k] == forced  # the forced token is at that position
    assert new.text.startswith("".join(t.text for t in old.tokens[:k]))
    # nothing before the step was recomputed: the prompt cache served all but the token before it
    assert new.stats["cached_tokens"] == new.stats["prompt_tokens"] - 1
    assert new.branch == (2, 2) and "2/2" in window.transcript.views[-1].branch_label.text()
    assert [t.index for t in new.tokens] == list(range(len(new.tokens)))


def test_inspect_a_position_in_my_own_message(qtbot, launch):
    app = launch(max_new_tokens=6)
    window = app.window
    question = "What is the capital of France?"
    reply = ask(qtbot, app, question)
    mine = window.transcript.views[0]
    menu = mine.build_context_menu(mine.text.source_point(question.index("capital") + 3))
    action = next(a for a in menu.actions() if a.text() == "Inspect")
    dock = window.inspector
    inspector, service = dock.inspector, dock.inspector.service
    with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS) as got:
        action.trigger()
    report = got.args[0]
    selected = report["position"] + 1
    assert dock.isVisible() and report["source"] == "message" and report["pieces"][selected] == " capital"
    assert "(your message)" in inspector.status_label.text() and "“␣capital”" in inspector.strip.text()

    objective = _click_step(qtbot, inspector, "13 ·")
    obj = report["objective"]
    row = selected - obj["start"]
    assert objective.table.item(row, 0).text() == f"▶ {selected}"
    # its loss is −log p of the step: one full pass over the message against the cached step (float32
    # sums in another order), so equal to the last printed digit or so
    assert float(objective.table.item(row, 2).text()) == pytest.approx(-report["token_logprob"], abs=2e-4)
    assert "The selected token “␣capital”" in objective.summary.text()
    for step in ("8 ·", "9 ·"):  # the word is the user's, not the reply's
        summary = _click_step(qtbot, inspector, step).summary.text()
        assert "Your message's token" in summary and "“␣capital”" in summary and "reply's" not in summary, summary
    tokens = _click_step(qtbot, inspector, "2 ·")
    assert tokens.table.rowCount() == report["prompt_tokens"] and tokens.table.item(selected, 0).text().startswith("▶")

    vocabulary = _click_step(qtbot, inspector, "3 ·")
    merges = report["vocabulary"]["merges"]
    assert vocabulary.merges.rowCount() == len(merges) and vocabulary.merges.item(len(merges) - 1, 3).text() == "␣capital"
    assert _column(vocabulary.merges, 4)[-1] == f"rank {merges[-1]['rank']:,}"
    assert "after a space" in _column(vocabulary.splits, 0) and "49,152 tokens" in vocabulary.summary.text()

    attention = _click_step(qtbot, inspector, "6 ·")
    drawn_text = attention.context.plain_text()  # the context drawn as text, tinted by weight
    assert drawn_text.endswith("What is the") and "capital" not in drawn_text  # the step reads up to " the"
    progress = []
    service.map_progress.connect(lambda d, t: progress.append((d, t)))
    with qtbot.waitSignal(service.map_ready, timeout=TIMEOUT_MS) as drawn:
        QTest.mouseClick(attention.map_button, Qt.MouseButton.LeftButton)
    assert progress[-1] == (selected, selected) and drawn.args[0]["weights"].shape == (selected, selected)
    assert attention.map_button.isEnabled() and not attention.stop_button.isVisible()

    loop = _click_step(qtbot, inspector, "11 ·")
    series = loop.chart.series
    prompt = reply.stats["prompt_tokens"]
    n, unfed = len(reply.tokens), reply.finish_reason == "length"  # the last token at the limit is never fed back
    assert series.lengths == [prompt + i + 1 for i in range(n - 1)] + [prompt + n - unfed] and series.prompt == prompt
    assert f"Prompt {prompt:,} tokens" in loop.summary.text() and loop.table.rowCount() == len(reply.tokens)
    position = _click_step(qtbot, inspector, "5 ·")
    assert _column(position.distances, 1)[0] == "+100.0 %"
    # with the Inspector open, clicking another word of the message moves every view to it
    with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS) as moved:
        QTest.mouseClick(mine.text.viewport(), Qt.MouseButton.LeftButton, pos=mine.text.source_point(question.index("France")))
    assert moved.args[0]["pieces"][moved.args[0]["position"] + 1] == " France"
    objective = _click_step(qtbot, inspector, "13 ·")
    assert "The selected token “␣France”" in objective.summary.text()


def test_continue_with_an_alternative_from_the_lm_head_view(qtbot, launch):
    app = launch(max_new_tokens=6)
    window = app.window
    old = ask(qtbot, app, "What is the capital of France?")
    k = 2
    dock = window.inspector
    inspector, service = dock.inspector, dock.inspector.service
    with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS) as got:
        dock.inspect(1, k)
    report = got.args[0]
    head = _click_step(qtbot, inspector, "9 ·")
    row = next(r for r, (i, _lp) in enumerate(report["step"]["next_token"]) if i != old.tokens[k].token)
    forced = report["step"]["next_token"][row][0]
    head.table.selectRow(row)
    assert head.continue_button.isVisible() and "Continue with" in head.continue_button.text()
    with qtbot.waitSignal(app.controller.reply_finished, timeout=240000) as done:
        QTest.mouseClick(head.continue_button, Qt.MouseButton.LeftButton)
    new = app.controller.message(done.args[0])
    ids = [t.token for t in new.tokens]
    assert ids[:k] == [t.token for t in old.tokens[:k]] and ids[k] == forced and new.branch == (2, 2)


def test_the_sampling_playground_keeps_the_settings_it_does_not_change(qtbot):
    """'Use these settings' writes what the sliders show and keeps the rest (the penalties' window);
    a random seed stays random."""
    from engine.sampling import SamplingSettings
    from ui.inspector.output_views import SamplingView

    view = SamplingView()
    qtbot.addWidget(view)
    mine = SamplingSettings(temperature=0.6, top_k=400, presence_penalty=0.4, frequency_penalty=-0.3, penalty_context=200)
    view.set_settings(mine)
    assert view.settings() == mine  # nothing lost on the way through the controls
    fresh = SamplingView()  # a new view: its sliders stand where its numbers say
    qtbot.addWidget(fresh)
    fresh.set_settings(SamplingSettings())
    assert fresh.presence.slider.value() == fresh.presence.slider.maximum() // 2  # 0 in −2…2: the middle
    emitted = []
    view.settings_changed.connect(emitted.append)
    view.temperature.slider.setValue(view.temperature.slider.value() + 4)  # dragged: +0.2
    assert abs(emitted[-1].temperature - 0.8) < 1e-9 and abs(view.temperature.spin.value() - 0.8) < 1e-9
    assert emitted[-1].penalty_context == 200 and emitted[-1].seed is None and emitted[-1].top_k == 400


def test_an_api_request_is_inspected_like_a_conversation(qtbot, launch):
    """View → API Requests: a request's token → Inspect this step…: every step on that request's
    own tokens (its prompt as it ran, its reply), nothing of the window's conversation."""
    from tests.ui.test_server_ui import free_port, turn_on

    app = launch()
    window = app.window
    port = free_port()
    turn_on(qtbot, window, port)
    address = f"http://127.0.0.1:{port}/v1"
    qtbot.waitUntil(lambda: window.status.server_label.text().startswith(f"API {address}"), timeout=TIMEOUT_MS)
    messages = [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Capital of Italy?"}]
    answer = {}
    thread = threading.Thread(target=lambda: answer.setdefault("r", httpx.post(
        f"{address}/chat/completions", timeout=240,
        json={"model": "x", "messages": messages, "temperature": 0, "max_tokens": 5})))  # fmt: skip
    thread.start()
    qtbot.waitUntil(lambda: "r" in answer, timeout=240000)
    thread.join()
    assert answer["r"].status_code == 200, answer["r"].text

    window.requests_action.trigger()  # View → API Requests
    requests = window.requests_window
    qtbot.waitUntil(lambda: requests.table.rowCount() == 1 and requests.table.item(0, 7).text() != "running")
    requests.open_row(0)
    view = requests.view
    served = view.request
    k = 2
    QTest.mouseClick(view.reply.viewport(), Qt.MouseButton.LeftButton, pos=view.reply.token_point(k))
    qtbot.waitUntil(lambda: requests.panel.inspect_button.isEnabled())
    dock = window.inspector
    service = dock.inspector.service
    with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS) as got:
        QTest.mouseClick(requests.panel.inspect_button, Qt.MouseButton.LeftButton)  # "Inspect this step…"
    report = got.args[0]
    event = served.events[k]
    assert dock.isVisible() and dock.isFloating()  # its own window: docked, it would be behind the Requests window
    assert report["source"] == "request" and report["token_index"] == k and report["token"] == event.token
    assert abs(report["token_logprob"] - event.logprob) < 1e-4  # the distribution the request was served from
    reply_ids = [ev.token for ev in served.events]
    assert report["ids"][-k:] == reply_ids[:k]  # the context: the request's prompt, then its reply so far
    assert report["step"]["cached_tokens"] == report["position"]  # from the request's cache, nothing recomputed
    assert report["user_message"] == "Capital of Italy?"
    inspector = dock.inspector
    assert "of the API request's reply" in inspector.status_label.text()
    tokens = _click_step(qtbot, inspector, "2 ·")
    pieces = _column(tokens.table, 2)
    assert any("Answer in one word." in p or "Answer" in p for p in pieces)  # its own system prompt, not the window's
    loop = _click_step(qtbot, inspector, "11 ·")
    assert loop.table.rowCount() == len(served.events)  # the request's own loop
    lm_head = _click_step(qtbot, inspector, "9 ·")
    lm_head.table.selectRow(1)
    assert not lm_head.continue_button.isVisible()  # a request has no reply to branch
    assert app.controller.conversation.messages == []  # nothing of it became a conversation


def _sampling(app, **values) -> None:
    """Save decoding settings as Preferences' Save does."""
    from dataclasses import replace

    from engine.sampling import SamplingSettings

    app.controller.apply_settings(replace(app.controller.settings, sampling=SamplingSettings(**values)))


def _inspect_playground(qtbot, window, token: int):
    """Right-click a reply token → Inspect → 10 · Sampling playground; returns (view, its result)."""
    view = window.transcript.views[-1]
    menu = view.build_context_menu(view.text.token_point(token))
    service = window.inspector.inspector.service
    with qtbot.waitSignal(service.playground_ready, timeout=TIMEOUT_MS) as played:
        with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS):
            next(a for a in menu.actions() if a.text() == "Inspect").trigger()
        sampling = _click_step(qtbot, window.inspector.inspector, "10 ·")
    return sampling, played.args[0]


def test_the_sampling_playground_starts_from_the_settings_the_step_was_made_with(qtbot, launch):
    """The sliders start at the reply's own decoding settings (not today's Preferences), so the last
    stage equals the next-token panel's "after settings" for the same step: at temperature 0 the
    chosen token at 100 %, and with penalties and filters the same probabilities."""
    from engine.sampling import SamplingSettings

    app = launch(max_new_tokens=6)
    window = app.window
    _sampling(app, temperature=0.0)
    greedy = ask(qtbot, app, "Name three planets.")
    _sampling(app, temperature=0.9, top_k=40)  # today's settings differ from the reply's
    sampling, result = _inspect_playground(qtbot, window, 1)
    assert sampling.temperature.value() == 0.0 and sampling.top_k.value() == 0
    assert sampling.settings() == SamplingSettings(temperature=0.0)
    final = result["stages"][-1]
    assert final["name"] == "final" and final["top"] == [(greedy.tokens[1].token, 0.0)]  # the panel's 100 %
    assert [(i, lp) for i, _p, lp in greedy.tokens[1].top_final] == [(greedy.tokens[1].token, 0.0)]
    assert "temperature 0.00 (always the token ranked first after the penalties)" in sampling.made_label.text()
    assert not sampling.reset_button.isEnabled()

    made = SamplingSettings(temperature=0.8, top_k=5, top_p=0.955, repetition_penalty=1.3, seed=7)
    _sampling(app, **{k: v for k, v in made.to_dict().items()})
    reply = ask(qtbot, app, "Name three colours.")
    _sampling(app)  # back to the defaults: the step keeps its own
    k = min(3, len(reply.tokens) - 1)
    sampling, result = _inspect_playground(qtbot, window, k)
    assert sampling.settings() == made and sampling.top_p.value() == 0.955
    final = {i: lp for i, lp in result["stages"][-1]["top"]}
    panel = {i: lp for i, _p, lp in reply.tokens[k].top_final}
    assert set(final) == set(panel) and all(abs(final[i] - panel[i]) < 2e-3 for i in panel)  # the panel's numbers

    # moved, the sliders say they are not the step's any more; "Back to this step's settings" returns
    with qtbot.waitSignal(window.inspector.inspector.service.playground_ready, timeout=TIMEOUT_MS):
        sampling.temperature.setValue(1.5)
    assert "differ" in sampling.made_label.text() and sampling.reset_button.isEnabled()
    with qtbot.waitSignal(window.inspector.inspector.service.playground_ready, timeout=TIMEOUT_MS) as back:
        QTest.mouseClick(sampling.reset_button, Qt.MouseButton.LeftButton)
    assert sampling.settings() == made and {i: lp for i, lp in back.args[0]["stages"][-1]["top"]} == final


def test_the_loop_tables_cache_lengths_bytes_and_sentence_agree(qtbot, launch):
    """11 · The loop and the KV cache: each row's cache length and bytes are one measurement (bytes
    = length × the model's KV bytes per token), the sentence above ends where the last row does,
    and that is the context the status bar shows for a reply that ended by itself."""
    from ui.text_format import byte_size

    app = launch(max_new_tokens=64)
    window = app.window
    _sampling(app, temperature=0.0)  # the same short answer every time, ended by the model itself
    reply = ask(qtbot, app, "What is the capital of France?")
    view = window.transcript.views[1]
    menu = view.build_context_menu(view.text.token_point(0))
    with qtbot.waitSignal(window.inspector.inspector.service.step_ready, timeout=TIMEOUT_MS):
        next(a for a in menu.actions() if a.text() == "Inspect").trigger()
    loop = _click_step(qtbot, window.inspector.inspector, "11 ·")
    per_token = app.controller.model_info["kv_bytes_per_token"]
    lengths = [int(x.replace(",", "")) for x in _column(loop.table, 3)]
    prompt, n = reply.stats["prompt_tokens"], len(reply.tokens)
    unfed = reply.finish_reason == "length"
    assert lengths == [prompt + i + 1 for i in range(n - 1)] + [prompt + n - unfed]
    assert _column(loop.table, 4) == [byte_size(length * per_token) for length in lengths]
    assert f"The cache ends at {lengths[-1]:,} tokens, {byte_size(lengths[-1] * per_token)}." in loop.summary.text()
    assert reply.finish_reason == "eos"  # ended by itself: the status bar's context is the prompt and the whole reply
    assert window.status.context_label.full_text().startswith(f"context {lengths[-1]:,} /")


def _loop_rows(qtbot, window, message_index: int, token: int = 0) -> list[list[str]]:
    """Right-click a reply token → Inspect → 11 · The loop and the KV cache: its table's rows."""
    view = window.transcript.views[message_index]
    menu = view.build_context_menu(view.text.token_point(token))
    with qtbot.waitSignal(window.inspector.inspector.service.step_ready, timeout=TIMEOUT_MS):
        next(a for a in menu.actions() if a.text() == "Inspect").trigger()
    loop = _click_step(qtbot, window.inspector.inspector, "11 ·")
    return [[loop.table.item(r, c).text() for c in range(loop.table.columnCount())] for r in range(loop.table.rowCount())]


def test_the_loop_keeps_its_step_times_after_switching_versions_and_conversations(qtbot, launch):
    """A reply written in this run keeps its step times and cache bytes when it is shown again from
    the store (‹ › to another version and back, another conversation and back), as it showed live."""
    from tests.ui.test_conversations import click_item

    app = launch(max_new_tokens=5)
    window = app.window
    ask(qtbot, app, "Why is the sea salty?")
    live = _loop_rows(qtbot, window, 1)
    assert all(row[2].endswith(" ms") and row[4] for row in live)  # every step timed, every cache measured
    with qtbot.waitSignal(app.controller.reply_finished, timeout=240000):
        QTest.mouseClick(window.transcript.views[1].regenerate_button, Qt.MouseButton.LeftButton)
    assert window.transcript.views[1].branch_label.text() == "2/2"
    QTest.mouseClick(window.transcript.views[1].previous_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.transcript.views[1].branch_label.text() == "1/2")
    assert _loop_rows(qtbot, window, 1) == live
    loop = window.inspector.inspector.view(LoopView)
    assert "No step times" not in loop.summary.text() and "First step (reading the prompt)" in loop.summary.text()

    QTest.keyClick(window.composer.box, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    ask(qtbot, app, "Hello")
    click_item(window, 1)  # the first conversation again, from the store
    qtbot.waitUntil(lambda: len(window.transcript.views) == 2)
    assert _loop_rows(qtbot, window, 1) == live


def test_the_sampling_playground_starts_from_the_settings_the_reply_was_made_with(qtbot, launch, tmp_path):
    """Trial 5 #34: a reply made at temperature 0 opened the playground at today's 0.70, so it and
    the next-token panel gave two different "after settings" distributions for one step."""
    from dataclasses import replace

    from app.settings import Settings, SettingsFile

    SettingsFile(tmp_path / "config").save(Settings(replace(Settings().sampling, temperature=0.9),
                                                    replace(Settings().app, max_new_tokens=4)))
    app = launch(profile=tmp_path)  # the playground starts at 0.9
    today = app.controller.settings
    app.controller.apply_settings(Settings(replace(today.sampling, temperature=0.0, top_k=5), today.app))
    ask(qtbot, app, "What is the capital of France?")  # made at temperature 0, top-k 5
    app.controller.apply_settings(today)  # and today it is 0.9 again
    view = app.window.transcript.views[1]
    action = next(a for a in view.build_context_menu(view.text.token_point(1)).actions() if a.text() == "Inspect")
    service = app.window.inspector.inspector.service
    with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS):
        action.trigger()
    sampling = _click_step(qtbot, app.window.inspector.inspector, "10 ·")
    assert sampling.temperature.value() == 0.0 and round(sampling.top_k.value()) == 5  # the reply's own


def test_the_tokenization_summary_names_every_part_of_the_prompt(qtbot, launch):
    """Trial 6, findings 2 and 12: with a system prompt, an earlier turn and a memory, the summary
    names each part the table's "part" column uses, with counts that add up to the prompt; the
    blank line the app puts between the memory and the message is markup, not "your message"."""
    app = launch(max_new_tokens=4, system_prompt="Be brief.")
    ask(qtbot, app, "Name one planet.")
    app.controller.remember_fact("My name is Ana")
    ask(qtbot, app, "What is my name?")
    view = app.window.transcript.views[3]
    action = next(a for a in view.build_context_menu(view.text.token_point(1)).actions() if a.text() == "Inspect")
    service = app.window.inspector.inspector.service
    with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS) as got:
        action.trigger()
    report = got.args[0]
    tokens = _click_step(qtbot, app.window.inspector.inspector, "2 ·")
    n_prompt = report["prompt_tokens"]
    names, pieces = _column(tokens.table, 3)[:n_prompt], _column(tokens.table, 2)[:n_prompt]
    counts = {name: names.count(name) for name in names}
    assert set(counts) == {"system prompt", "earlier turns", "memories", "your message", "template markup"}
    assert sum(counts.values()) == n_prompt
    summary = tokens.summary.text()
    sentence = ", ".join(f"{name} {counts[name]:,}" for name in
                         ("system prompt", "earlier turns", "memories", "your message", "template markup"))  # fmt: skip
    assert f"the prompt {n_prompt:,} ({sentence}), then" in summary, summary
    # the message's own tokens spell exactly what was typed; the line breaks before it are markup
    mine = [pos for pos, name in enumerate(names) if name == "your message"]
    assert "".join(pieces[pos] for pos in mine).replace("␣", " ") == "What is my name?"
    assert names[mine[0] - 1] == "template markup" and names[mine[0] - 3] == "memories"
