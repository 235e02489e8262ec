"""The output end: the LM head and softmax, the sampler, the loop with its KV cache, the loss."""

from __future__ import annotations

import math
from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
)

from app.setting_ranges import NUMBER_RANGES
from engine.sampling import (
    GREEDY_BELOW,
    MAX_REPETITION_PENALTY,
    MAX_TEMPERATURE,
    MIN_REPETITION_PENALTY,
    SamplingSettings,
)
from ui.fitted_button import FittedButton
from ui.inspector.base import StepView, fill, piece, show_row, whose_token
from ui.inspector.flow_row import FlowRow
from ui.inspector.loop_chart import LEGEND, LoopChart, LoopSeries
from ui.inspector.slider_spin import SliderSpin
from ui.text_format import byte_size, percent, prompt_pieces, visible_piece


def bar(p: float, width: int = 40) -> str:
    """A probability as a bar of block characters (eighths), `width` blocks for 100 %."""
    eighths = round(p * width * 8)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


class LMHeadView(StepView):
    title = "9 · LM head and softmax"
    explanation = (
        "The last vector is compared with every token of the vocabulary, giving one score (logit) per "
        "token. Softmax turns the scores into probabilities that add up to 100 %. Most of the "
        "vocabulary gets almost nothing; type a word below to see where it stands."
    )
    lookup_requested = Signal(str)
    continue_requested = Signal(int)  # "Continue with this token": the chosen row's token id

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = self.add_table(["rank", "token", "id", "logprob", "p", ""])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.itemSelectionChanged.connect(self._offer_continue)
        # a long token at a large text size: cut with "…", whole in the tooltip
        self.continue_button = FittedButton([""], "Write a new version of the reply from this step with that token instead")
        self.continue_button.hide()
        self.continue_button.clicked.connect(self._continue)
        self.layout_.addWidget(self.continue_button)
        self._report: dict | None = None
        row = QHBoxLayout()
        self.lookup_box = QLineEdit()
        self.lookup_box.setPlaceholderText("Type a word, e.g. “ Paris”, and press Enter")
        self.lookup_box.setToolTip(self.lookup_box.placeholderText())  # Qt cuts the placeholder with "…" where it is narrow
        self.lookup_box.returnPressed.connect(lambda: self.lookup_requested.emit(self.lookup_box.text()))
        row.addWidget(self.lookup_box)
        self.layout_.addLayout(row)
        self.lookup_label = QLabel()
        self.lookup_label.setWordWrap(True)
        self.layout_.addWidget(self.lookup_label)

    def _chosen(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self._report is None or self._report["source"] != "reply":
            return None
        return self._report["step"]["next_token"][rows[0].row()][0]

    def _offer_continue(self) -> None:
        token = self._chosen()
        if token is None or token == self._report["token"]:
            self.continue_button.hide()
            return
        self.continue_button.set_forms([f"Continue with “{piece(self._report, token)}”"])
        self.continue_button.show()

    def _continue(self) -> None:
        token = self._chosen()
        if token is not None:
            self.continue_requested.emit(token)

    def show_report(self, report: dict) -> None:
        self._report = report
        self.continue_button.hide()
        top, tail = report["step"]["next_token"], report["tail"]
        text = (
            f"{report['model']['vocab_size']:,} logits → probabilities; entropy {report['step']['entropy']:.3f} nats. "
            f"The other {tail['others']:,} tokens share {100 * tail['others_mass']:.2f} %."
        )
        if report["token"] is not None:
            text += (
                f" {whose_token(report)} “{piece(report, report['token'])}” had p {percent(report['token_logprob'])}"
                f" (rank {report['token_rank']:,})."
            )
        self.summary.setText(text)
        fill(self.table, [
            [r + 1, piece(report, i), i, f"{lp:.4f}", percent(lp), bar(math.exp(lp))] for r, (i, lp) in enumerate(top)
        ])  # fmt: skip
        self.lookup_label.clear()

    def show_lookup(self, result: dict) -> None:
        parts = [
            f"“{visible_piece(t['piece'])}” (id {t['id']}): logit {t['logit']:.3f}, logprob {t['logprob']:.4f}, "
            f"p {percent(t['logprob'])}, rank {t['rank']:,}"
            for t in result["tokens"]
        ]
        first = "" if len(parts) == 1 else f"“{result['text']}” is {len(parts)} tokens; only the first is predicted here. "
        self.lookup_label.setText(first + "; ".join(parts))


class SamplingView(StepView):
    title = "10 · Sampling playground"
    explanation = (
        "The model gives a distribution; the decoding settings decide how a token is drawn from it. "
        "Penalties push down tokens already used, temperature sharpens or flattens, top-k, top-p and "
        "min-p cut the tail. The sliders start at the settings this step was made with, so the last "
        "stage is the panel's “after settings”; move one to see, for this very step, what each stage "
        "keeps and what a draw would give (with a fixed seed, the same draw every time)."
    )
    settings_changed = Signal(object)  # SamplingSettings
    use_settings = Signal(object)  # SamplingSettings

    def __init__(self, parent=None):
        super().__init__(parent)
        self.made_label = QLabel("")  # the settings the step was made with, and whether the sliders are still those
        self.made_label.setWordWrap(True)
        self.layout_.addWidget(self.made_label)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # no room beside its name: the control goes under it
        self.temperature = self._row(form, "Temperature", SliderSpin(0.0, MAX_TEMPERATURE, 0.05))
        self.top_k = self._row(form, "Top-k", SliderSpin(0, 1000, 1, decimals=0, special="off"))
        # as many decimals as Preferences takes: a step made with top-p 0.955 is shown as it was
        self.top_p = self._row(form, "Top-p", SliderSpin(0.01, 1.0, 0.01, decimals=NUMBER_RANGES["top_p"].decimals))
        self.min_p = self._row(
            form, "Min-p", SliderSpin(0.0, 0.99, 0.01, decimals=NUMBER_RANGES["min_p"].decimals, special="off")
        )
        self.repetition = self._row(form, "Repetition penalty", SliderSpin(MIN_REPETITION_PENALTY, MAX_REPETITION_PENALTY, 0.01))
        self.presence = self._row(form, "Presence penalty", SliderSpin(-2.0, 2.0, 0.05))
        self.frequency = self._row(form, "Frequency penalty", SliderSpin(-2.0, 2.0, 0.05))
        self.seed = QSpinBox()
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setSpecialValueText("random")
        self.seed.valueChanged.connect(self._changed)
        form.addRow("Seed", self.seed)
        self.layout_.addLayout(form)
        buttons = FlowRow()  # a line each in a narrow Inspector or at a large text size
        self.reset_button = FittedButton(["Back to this step's settings", "Step's settings"])
        self.reset_button.setToolTip("Put every slider back where the step's own decoding settings had it")
        self.reset_button.clicked.connect(self._back_to_made)
        self.use_button = FittedButton(["Use these settings", "Use these"])
        self.use_button.setToolTip("Use the sliders' settings for new replies (saved as in Preferences)")
        self.use_button.clicked.connect(lambda: self.use_settings.emit(self.settings()))
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.use_button)
        self.layout_.addLayout(buttons)
        self.table = self.add_table(["stage", "tokens kept", "top tokens"])
        self._quiet = False
        self._base = SamplingSettings()  # what the controls do not show (the penalties' window) is kept
        self._set_values: tuple = ()  # the controls' values right after set_settings(self._base)
        self._made: SamplingSettings | None = None  # the settings the inspected step was made with
        self._drawn: str = ""  # the token the step's reply has there ("" for a step of your message)

    def _row(self, form: QFormLayout, label: str, control: SliderSpin) -> SliderSpin:
        control.valueChanged.connect(self._changed)
        form.addRow(label, control)
        return control

    def _values(self) -> tuple:
        return tuple(c.value() for c in (self.temperature, self.top_k, self.top_p, self.min_p, self.repetition,
                                         self.presence, self.frequency, self.seed))  # fmt: skip

    def settings(self) -> SamplingSettings:
        """What the controls show; untouched since `set_settings`, exactly the settings given (a
        value finer than a control's step, e.g. an API request's temperature 0.333, is not rounded)."""
        if self._values() == self._set_values:
            return self._base
        seed = self.seed.value()
        return replace(
            self._base, temperature=self.temperature.value(), top_k=round(self.top_k.value()),
            top_p=self.top_p.value(), min_p=self.min_p.value(), repetition_penalty=self.repetition.value(),
            presence_penalty=self.presence.value(), frequency_penalty=self.frequency.value(),
            seed=None if seed < 0 else seed,
        )  # fmt: skip

    def set_settings(self, s: SamplingSettings) -> None:
        self._quiet = True
        self._base = s
        for box, v in ((self.temperature, s.temperature), (self.top_k, s.top_k), (self.top_p, s.top_p),
                       (self.min_p, s.min_p), (self.repetition, s.repetition_penalty),
                       (self.presence, s.presence_penalty), (self.frequency, s.frequency_penalty),
                       (self.seed, -1 if s.seed is None else s.seed)):  # fmt: skip
            box.setValue(v)
        self._set_values = self._values()
        self._quiet = False

    def _changed(self) -> None:
        if not self._quiet:
            self._say_made()
            self.settings_changed.emit(self.settings())

    def _back_to_made(self) -> None:
        if self._made is not None:
            self.set_settings(self._made)
            self._changed()

    def _say_made(self) -> None:
        """Which settings the step was made with, and whether the sliders still show them."""
        if self._made is None:
            self.made_label.setText("")
            self.reset_button.setEnabled(False)
            return
        same = self.settings() == self._made
        self.reset_button.setEnabled(not same)
        made = f"This step was made with {settings_text(self._made)}."
        self.made_label.setText(made + (
            " The sliders show those settings: the last stage is what the next-token panel shows after settings."
            if same else " The sliders now differ from them: the next-token panel shows the step's own."
        ))  # fmt: skip

    def show_report(self, report: dict) -> None:
        """A new step: the sliders start at the settings it was made with (a step of the same reply,
        made with the same settings, keeps what the user set)."""
        made = SamplingSettings.from_dict(report["sampling"]) if report.get("sampling") else None
        if made is not None and made != self._made:
            self.set_settings(made)
        self._made = made
        token = report["token"] if report["source"] != "message" else None
        self._drawn = piece(report, token) if token is not None else ""
        self._say_made()
        self.settings_changed.emit(self.settings())  # the new step through the sliders' settings

    def show_playground(self, result: dict) -> None:
        names = result["names"]
        text = f"A draw with these settings gives “{visible_piece(names[result['token']])}” (id {result['token']})."
        if self._drawn:
            text += f" The reply has “{self._drawn}” here."
        self.summary.setText(text)
        fill(self.table, [
            [s["name"], f"{s['kept']:,}", "  ".join(f"{visible_piece(names[i])} {percent(lp)}" for i, lp in s["top"][:5])]
            for s in result["stages"]
        ])  # fmt: skip


def settings_text(s: SamplingSettings) -> str:
    """Decoding settings as a sentence part: "temperature 0 (always the token ranked first after the penalties), top-k off, …"."""
    parts = [f"temperature {s.temperature:.2f}" + (" (always the token ranked first after the penalties)" if s.temperature < GREEDY_BELOW else "")]
    parts.append(f"top-k {s.top_k}" if s.top_k else "top-k off")
    parts.append(f"top-p {s.top_p:.2f}")
    parts.append(f"min-p {s.min_p:.2f}" if s.min_p else "min-p off")
    parts.append(f"repetition penalty {s.repetition_penalty:.2f}")
    if s.presence_penalty or s.frequency_penalty:
        parts.append(f"presence {s.presence_penalty:.2f}, frequency {s.frequency_penalty:.2f}")
    parts.append(f"seed {s.seed}" if s.seed is not None else "random seed")
    return ", ".join(parts)


CACHE_LENGTH = (
    "“cache length” is the prompt and the reply up to that token (the last token of a reply cut at its "
    "token limit is never fed back, so it is not in the cache)."
)


class LoopView(StepView):
    title = "11 · The loop and the KV cache"
    explanation = (
        "A reply is written one token at a time: each new token is fed back in. So the model does not "
        "recompute the past, every layer keeps the keys and values of all earlier tokens (the KV cache), "
        "which grows with each token; a prompt seen before is served from the prompt cache. The first "
        "step reads the whole prompt, so it takes longest; each later step reads one token."
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        self.chart = LoopChart()
        self.layout_.addWidget(self.chart, 1)
        legend = QLabel(LEGEND)
        legend.setWordWrap(True)
        self.layout_.addWidget(legend)
        self.table = self.add_table(["token", "piece", "step time", "cache length", "KV cache"])
        self.table.horizontalHeaderItem(3).setToolTip(CACHE_LENGTH)
        self.table.horizontalHeaderItem(4).setToolTip("The memory those tokens' keys and values take, in every layer")

    def show_records(self, records: list, stats: dict) -> None:
        """records: the reply's TokenEvents (a reopened reply has no per-token times: its stats do)."""
        series = LoopSeries.from_records(records, stats)
        prompt, cached = series.prompt, series.cached
        self.chart.set_series(series)
        text = f"{len(records):,} tokens generated."
        if prompt:
            text += (
                f" Prompt {prompt:,} tokens: {cached:,} from the prompt cache ({100 * cached / prompt:.0f} %), "
                f"{prompt - cached:,} computed."
            )
        if series.step_ms and series.step_ms[0]:
            text += f" First step (reading the prompt) {series.step_ms[0]:,.0f} ms."
        later = sorted(ms for ms in series.step_ms[1:] if ms)  # measured ones only
        if later:
            text += f" Later steps {later[len(later) // 2]:.1f} ms (median)."
        unmeasured = sum(1 for ms in series.step_ms if not ms)
        if unmeasured:
            which = "this reply" if unmeasured == len(records) else f"{unmeasured:,} of its tokens"
            text += (
                f" No step times or cache bytes for {which}: they are measured as a token is written and kept "
                "only while the app runs (a reply written before Glassbox was last started, or what a new "
                "version kept of the one it branched from); the cache lengths are shown."
            )
        if records:
            text += f" Each drawn token is fed back at once, so the cache holds it too: {CACHE_LENGTH}"
        if records and series.kv_bytes[-1]:
            text += f" The cache ends at {series.lengths[-1]:,} tokens, {byte_size(series.kv_bytes[-1])}."
        self.summary.setText(text)
        fill(self.table, [
            [r.index + 1, visible_piece(r.piece), f"{ms:.1f} ms" if ms else "", f"{length:,}",
             byte_size(b) if b else ""]
            for r, ms, length, b in zip(records, series.step_ms, series.lengths, series.kv_bytes, strict=True)
        ])  # fmt: skip

    def show_report(self, report: dict) -> None:
        pass  # filled from the reply's own token records (see the dock)


def shown(report: dict, position: int, names: list[str] | None = None) -> str:
    """The token at `position` of the context as the tables show it: a control token by its own
    text, an end of turn also by whose turn it ends, as Tokenization names it (`names`:
    prompt_pieces(report["pieces"]), computed once by a caller showing many rows)."""
    text = (names or prompt_pieces(report["pieces"]))[position]
    return "★ " + text if report["special"][position] else text


class ObjectiveView(StepView):
    title = "13 · Training objective"
    explanation = (
        "A language model is trained to make the next token likely. Its loss for a token is −log p, the "
        "surprise at seeing it. Here is that loss for each token of your message (template markers "
        "included): the average is the cross-entropy training minimises, and e to that power is the "
        "perplexity — how many equally likely choices the model was hesitating between."
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = self.add_table(["position", "token", "loss −log p (nats)", "p"])

    def show_report(self, report: dict) -> None:
        obj = report["objective"]
        if not obj["losses"]:
            self.summary.setText("No message tokens to score.")
            fill(self.table, [])
            return
        text = (
            f"Your message: {len(obj['losses'])} tokens, mean loss {obj['mean']:.4f} nats, "
            f"perplexity {obj['perplexity']:.2f}."
        )
        selected = report["position"] + 1 - obj["start"] if report["source"] == "message" else None
        if selected is not None and 0 <= selected < len(obj["losses"]):
            text += (
                f" The selected token “{piece(report, report['token'])}” (position {report['position'] + 1:,}, ▶): "
                f"loss {obj['losses'][selected]:.4f} nats — the model gave it p {percent(-obj['losses'][selected])}."
            )
        self.summary.setText(text)
        names = prompt_pieces(report["pieces"])
        fill(self.table, [
            [("▶ " if j == selected else "") + str(obj["start"] + j), shown(report, obj["start"] + j, names), f"{loss:.4f}",
             percent(-loss)]
            for j, loss in enumerate(obj["losses"])
        ])  # fmt: skip
        if selected is not None and 0 <= selected < len(obj["losses"]):
            show_row(self.table, selected)

