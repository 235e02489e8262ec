"""Inside the model: embedding, positions, attention, the residual stream and the logit lens."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QBoxLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QWidget,
)

from ui.fitted_button import FittedButton
from ui.inspector.base import StepView, fill, piece, whose_token
from ui.inspector.flow_row import FlowRow
from ui.inspector.scaled_image import ScaledImage, rgb_image
from ui.inspector.tinted_text import TintedText, TintedToken
from ui.text_format import percent, prompt_pieces, visible_piece

CONTEXT_SHOWN = 2000  # tokens of the context drawn as tinted text (the latest ones)
TABLE_ROWS = 100  # the heaviest weights listed
HEAD_ROW = 8  # pixels per head in the every-head strip
SIDE_BY_SIDE = 560  # narrower than this, the attention table and the full map stack up


def strip_image(values: list[float]) -> QImage:
    """A vector as a one-pixel-high image, one pixel per number: red positive, blue negative,
    white zero (drawn stretched to the view's width)."""
    v = np.asarray(values, dtype=np.float32)
    a = v / (float(np.abs(v).max()) or 1.0)
    fade = (255 * (1 - np.abs(a))).astype(np.uint8)
    full = np.full_like(fade, 255)
    rgb = np.stack([np.where(a > 0, full, fade), fade, np.where(a > 0, fade, full)], axis=-1)[None]
    return rgb_image(rgb)


def heat_image(weights: np.ndarray, allowed: np.ndarray | None = None) -> QImage:
    """A (T, T) attention map, one pixel per cell: darker blue = more weight; what the mask hides
    (above the diagonal, outside a sliding window) is grey."""
    T = weights.shape[0]
    w = np.sqrt(np.clip(weights / (float(weights.max()) or 1.0), 0.0, 1.0))
    fade = (255 * (1 - w)).astype(np.uint8)
    rgb = np.stack([fade, fade, np.full_like(fade, 255)], axis=-1)
    hidden = ~allowed if allowed is not None else np.triu(np.ones((T, T), dtype=bool), k=1)
    rgb[hidden] = 225
    return rgb_image(rgb)


def heads_image(weights: list[list[float]]) -> QImage:
    """Every head's row of weights for the selected token ((heads, keys)): one pixel row per head,
    one column per key, each row scaled to its own largest weight."""
    w = np.asarray(weights, dtype=np.float32)
    w = np.sqrt(np.clip(w / np.maximum(w.max(axis=1, keepdims=True), 1e-12), 0.0, 1.0))
    fade = (255 * (1 - w)).astype(np.uint8)
    rgb = np.stack([fade, fade, np.full_like(fade, 255)], axis=-1)
    return rgb_image(rgb)


def tinted_tokens(
    pieces: list[str], weights: dict[int, float], hidden: set[int], selected: int, first: int = 0
) -> list[TintedToken]:
    """The context's tokens (positions `first`…) shaded by their weight relative to the largest
    (square root, so small weights still show); positions the layer cannot see are marked hidden."""
    top = max(weights.values(), default=0.0) or 1.0
    out = []
    for pos, text in enumerate(pieces):
        w = weights.get(pos, 0.0)
        out.append(TintedToken(text, math.sqrt(w / top), pos in hidden, pos == selected, first + pos, w))
    return out


class WordField(QLineEdit):
    """A word of the analogy: as wide as its text (a few characters at least), so the word is
    seen whole at any text size; a row of them takes more lines rather than cutting one."""

    LEAST_CHARS = 5

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.textChanged.connect(self.updateGeometry)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        hint = super().sizeHint()
        metrics = self.fontMetrics()
        padding = hint.width() - 17 * metrics.horizontalAdvance("x")  # QLineEdit's hint is 17 x wide
        text = max(metrics.horizontalAdvance(self.text()), self.LEAST_CHARS * metrics.averageCharWidth())
        return QSize(text + padding + metrics.averageCharWidth(), hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return self.sizeHint()


class EmbeddingView(StepView):
    title = "4 · Embedding"
    explanation = (
        "Each token id picks one row of the embedding matrix: a list of numbers (shown as a strip, red "
        "positive, blue negative) that is where the token starts inside the model. Tokens used alike "
        "end up with similar rows; the table lists the closest rows by cosine similarity."
    )

    analogy_requested = Signal(str, str, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.strip = ScaledImage(height=18)
        self.layout_.addWidget(self.strip)
        self.table = self.add_table(["token", "id", "cosine"])
        row = FlowRow()  # the words and the button: more lines in a narrow Inspector, never cut
        self.words = [WordField(w) for w in (" king", " man", " woman")]
        for sign, box in zip(("", "−", "+"), self.words, strict=True):
            if sign:  # the sign stays with its word on a line
                pair = QWidget()
                pair.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
                signed = QHBoxLayout(pair)
                signed.setContentsMargins(0, 0, 0, 0)
                signed.addWidget(QLabel(sign))
                signed.addWidget(box, 1)
                row.addWidget(pair)
            else:
                row.addWidget(box)
        self.analogy_button = QPushButton("→ nearest")
        self.analogy_button.clicked.connect(lambda: self.analogy_requested.emit(*(w.text() for w in self.words)))
        row.addWidget(self.analogy_button)
        self.layout_.addLayout(row)
        self.analogy_label = QLabel("Analogy on this embedding matrix: a − b + c → the nearest other tokens.")
        self.analogy_label.setWordWrap(True)
        self.layout_.addWidget(self.analogy_label)

    def show_analogy(self, result: dict) -> None:
        names = result["names"]
        a, b, c = (visible_piece(names[i]) for i in result["ids"])
        found = ", ".join(f"{visible_piece(names[i])} ({cos:.3f})" for i, cos in result["nearest"])
        self.analogy_label.setText(f"{a} − {b} + {c} → {found}")

    def show_report(self, report: dict) -> None:
        emb = report["embedding"]
        vec = emb["vector"]
        norm = math.sqrt(sum(x * x for x in vec))
        text = (
            f"This step reads “{piece(report, emb['token'])}” (id {emb['token']}, position {report['position']:,}): "
            f"its row is a vector of {len(vec)} numbers, length {norm:.3f} — what enters the first block there."
        )
        if report["token"] is not None:
            text += f" It predicts the next token, “{piece(report, report['token'])}” (steps 8–9)."
        self.summary.setText(text)
        self.strip.set_image(strip_image(vec))
        fill(self.table, [[piece(report, i), i, f"{c:.4f}"] for i, c in emb["neighbours"]])


class PositionView(StepView):
    title = "5 · Position (RoPE)"
    explanation = (
        "Attention alone does not know word order. Before comparing queries with keys, the model rotates "
        "each pair of their numbers by an angle that grows with the position: fast for the first pairs, "
        "very slowly for the last. Two tokens' score then depends on how far apart they are."
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = self.add_table(["pair i", "θᵢ (rad/position)", "angle pos·θᵢ (rad)", "angle mod 360°"])
        self.distance_label = QLabel(
            "How the rotation alone changes a score with distance: a query and a key that are the same "
            "vector score 100 % when side by side; further apart, their pairs turn by different angles "
            "and the score falls and wobbles (the average of cos(distance·θᵢ))."
        )
        self.distance_label.setWordWrap(True)
        self.layout_.addWidget(self.distance_label)
        self.distances = self.add_table(["distance (positions)", "score, relative to distance 0"])

    def show_report(self, report: dict) -> None:
        rope = report["rope"]
        reading = report["ids"][report["position"]]
        dims = rope.get("rotary_dims", rope["head_dim"])
        rotated = f", of which the first {dims} rotate" if dims < rope["head_dim"] else ""
        self.summary.setText(
            f"The token this step reads, “{piece(report, reading)}”, is at position {rope['position']:,} "
            f"of at most {rope['context_length']:,} "
            f"({100 * (rope['position'] + 1) / rope['context_length']:.1f} % of the context). "
            f"Base {rope['base']:g}, head dimension {rope['head_dim']}{rotated}: θᵢ = base^(−2i/{dims})."
        )
        fill(self.table, [
            [i, f"{f:.6g}", f"{a:.6g}", f"{math.degrees(a) % 360:.1f}"]
            for i, (f, a) in enumerate(zip(rope["inverse_frequencies"], rope["angles"], strict=True))
        ])  # fmt: skip
        fill(self.distances, [
            [f"{d:,}", f"{100 * score:+.1f} %"] for d, score in zip(rope["distances"], rope["distance_scores"], strict=True)
        ])  # fmt: skip


class AttentionView(StepView):
    title = "6 · Attention"
    explanation = (
        "In every layer each head decides how much to read from every earlier token: these weights are "
        "a softmax, so they add up to 100 %. The text below is tinted by the chosen head's weights for "
        "the selected step: the darker, the more it reads that token. Later tokens are hidden (the causal "
        "mask); a sliding-window layer cannot see beyond its window (struck through). Heads share their "
        "keys and values in groups (GQA) to keep the cache small."
    )
    map_requested = Signal(int, int)  # layer, head
    stop_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        row = FlowRow()
        self.layer_box, self.head_box = QSpinBox(), QSpinBox()
        self.map_button = FittedButton(["Full map for this head", "Full map"], "The whole attention map of this head")
        self.stop_button = QPushButton("Stop")
        self.progress = QProgressBar()
        for text, w in (("Layer", self.layer_box), ("Head", self.head_box)):
            row.addWidget(QLabel(text))
            row.addWidget(w)
        self.layout_.addLayout(row)
        map_row = QHBoxLayout()  # its own row: the two rows fit a narrow Inspector
        map_row.addWidget(self.map_button)
        map_row.addWidget(self.progress, 1)
        map_row.addWidget(self.stop_button)
        self.progress.hide()
        self.stop_button.hide()
        self.layout_.addLayout(map_row)
        self.kind_label = QLabel()
        self.kind_label.setWordWrap(True)
        self.layout_.addWidget(self.kind_label)
        self.context = TintedText()
        self.context_area = QScrollArea()
        self.context_area.setWidgetResizable(True)
        self.context_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.context_area.setWidget(self.context)
        self._to_end = False
        self.context_area.verticalScrollBar().rangeChanged.connect(self._scroll_to_end)
        self.layout_.addWidget(self.context_area, 3)
        self.heads_caption = QLabel()
        self.heads_caption.setWordWrap(True)
        self.layout_.addWidget(self.heads_caption)
        self.heads_label = ScaledImage(height=HEAD_ROW)
        self.heads_label.setToolTip("Every head of this layer, one line each: its weights over the context")
        self.layout_.addWidget(self.heads_label)
        self.lower = lower = QBoxLayout(QBoxLayout.Direction.LeftToRight)  # top to bottom when narrow
        self.table = self.add_table(["position", "token", "weight"])
        self.layout_.removeWidget(self.table)
        lower.addWidget(self.table, 1)
        self.map_label = ScaledImage(square=True, max_side=300)
        self.map_label.hide()  # until a full map is asked for
        lower.addWidget(self.map_label)
        self.layout_.addLayout(lower, 3)
        self.layer_box.valueChanged.connect(self._redraw)
        self.head_box.valueChanged.connect(self._redraw)
        self.map_button.clicked.connect(self._ask_map)
        self.stop_button.clicked.connect(self.stop_requested)
        self.report: dict | None = None

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        narrow = event.size().width() < SIDE_BY_SIDE
        direction = QBoxLayout.Direction.TopToBottom if narrow else QBoxLayout.Direction.LeftToRight
        if self.lower.direction() != direction:
            self.lower.setDirection(direction)

    def _scroll_to_end(self, _low: int, high: int) -> None:
        if self._to_end:
            self._to_end = False
            self.context_area.verticalScrollBar().setValue(high)

    def _ask_map(self) -> None:
        self.map_label.clear()
        self.map_label.hide()
        self.progress.setRange(0, 0)  # busy until the first chunk reports
        self.progress.show()
        self.stop_button.show()
        self.map_button.setEnabled(False)
        self.map_requested.emit(self.layer_box.value(), self.head_box.value())

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{done:,} / {total:,} rows")

    def map_finished(self) -> None:
        """The map arrived, failed or was stopped: the controls go back."""
        self.progress.hide()
        self.stop_button.hide()
        self.map_button.setEnabled(True)

    def show_report(self, report: dict) -> None:
        self.report = report
        m = report["model"]
        for box, top in ((self.layer_box, m["n_layers"] - 1), (self.head_box, m["n_heads"] - 1)):
            box.blockSignals(True)  # one redraw per report, not one per clamped box
            box.setRange(0, top)
            box.blockSignals(False)
        self.map_label.clear()
        self.map_label.hide()
        self._redraw()

    def rows(self) -> list[tuple[int, float]]:
        """(position, weight) of the shown layer and head, heaviest first."""
        att = self.report["step"]["attention"][self.layer_box.value()]
        weights = att["weights"][self.head_box.value()] if att["weights"] else []
        return sorted(((att["key_start"] + j, w) for j, w in enumerate(weights)), key=lambda r: -r[1])

    def hidden_positions(self) -> set[int]:
        """Earlier positions the shown layer cannot see (outside its sliding window)."""
        att, position = self.report["step"]["attention"][self.layer_box.value()], self.report["position"]
        if att["window"] is None:
            return set()
        if att["window"] == 0:
            return set(range(position + 1))
        return set(range(0, max(0, position + 1 - att["window"])))

    def _redraw(self) -> None:
        if self.report is None:
            return
        r, m = self.report, self.report["model"]
        att = r["step"]["attention"][self.layer_box.value()]
        group = m["n_heads"] // m["n_kv_heads"]
        kv = self.head_box.value() // group
        hidden = self.hidden_positions()
        kind = f"Layer {att['layer']}: {att['kind']}."
        if att["window"]:
            kind += f" From position {r['position']:,} it sees positions {r['position'] + 1 - att['window']:,} onwards."
        heads = (  # a layer without attention weights (linear attention) has no heads to share
            f" Query heads {kv * group}–{kv * group + group - 1} share KV head {kv} ({m['n_heads']} query heads, "
            f"{m['n_kv_heads']} KV heads)." if att["weights"] else ""
        )
        self.kind_label.setText(kind + heads)
        shown = prompt_pieces(r["pieces"])  # an end of turn is named by whose turn it ends
        listed = "the rows below are its weights, heaviest first" if att["weights"] else "it has no weight per position to list"
        self.summary.setText(
            f"Token at position {r['position']} (“{shown[r['position']]}”) reading "
            f"{r['position'] + 1 - len(hidden):,} positions; {listed}."
        )
        rows = self.rows()
        start = max(0, r["position"] + 1 - CONTEXT_SHOWN)
        if start:
            self.summary.setText(self.summary.text() + f" The text shows the latest {CONTEXT_SHOWN:,} positions.")
        self.context.set_tokens(tinted_tokens(r["pieces"][start : r["position"] + 1], {p - start: w for p, w in rows},
                                              {p - start for p in hidden if p >= start}, r["position"] - start, start))  # fmt: skip
        self._to_end = True  # the reading token is at the end: shown once the area knows its new height
        bar = self.context_area.verticalScrollBar()
        bar.setValue(bar.maximum())
        if att["weights"]:
            self.heads_caption.setText(
                f"Every head of layer {att['layer']} (one line each, head 0 on top) over positions "
                f"{att['key_start']:,}–{r['position']:,}:"
            )
            self.heads_label.set_image(heads_image(att["weights"]), HEAD_ROW * len(att["weights"]))
        else:
            self.heads_caption.setText("")
            self.heads_label.clear()
        fill(self.table, [[pos, shown[pos], f"{w:.4f}"] for pos, w in rows[:TABLE_ROWS]])

    def show_map(self, result: dict) -> None:
        self.map_finished()
        self.map_label.set_image(heat_image(result["weights"], allowed=result.get("allowed")))
        self.map_label.show()
        window = result.get("window")
        self.map_label.setToolTip(
            f"Layer {result['layer']}, head {result['head']}: rows are queries, columns keys; grey is masked"
            + (f" (a sliding window of {window})" if window else "")
            + (f"; each cell is the largest weight of {f} × {f} positions" if (f := result.get("positions_per_cell", 1)) > 1 else "")
        )


class ResidualView(StepView):
    title = "7 · Feed-forward and residual stream"
    explanation = (
        "The token's vector travels up through every block. Each block adds two updates to it: what "
        "attention gathered from other tokens, and what the feed-forward network (MLP) computed from the "
        "vector itself. The table shows the vector's size after each block and each update's size."
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = self.add_table(["after", "|residual|", "|attention update|", "|MLP update|"])

    def show_report(self, report: dict) -> None:
        s = report["step"]
        self.summary.setText(f"{len(s['attn_norms'])} blocks; L2 norms at position {s['position']}.")
        rows = [["embedding", f"{s['residual_norms'][0]:.4f}", "", ""]]
        rows += [
            [f"block {i}", f"{s['residual_norms'][i + 1]:.4f}", f"{a:.4f}", f"{m:.4f}"]
            for i, (a, m) in enumerate(zip(s["attn_norms"], s["mlp_norms"], strict=True))
        ]
        fill(self.table, rows)


class LogitLensView(StepView):
    title = "8 · Logit lens"
    explanation = (
        "What would the model say if it stopped after each block? Glassbox applies the final norm and "
        "the output layer to the vector after every block. Early layers guess vaguely; you can watch the "
        "answer form as the layers go up. The last row is the real prediction."
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = self.add_table(["after block", "top token", "logprob", "p", "runners-up"])

    def show_report(self, report: dict) -> None:
        lens = report["step"]["logit_lens"]
        target = report["token"]
        settled = next((i for i in range(len(lens)) if all(e[0][0] == lens[-1][0][0] for e in lens[i:])), None)
        self.summary.setText(
            f"The final top token “{piece(report, lens[-1][0][0])}” is on top from block {settled} on."
            + (f" {whose_token(report)} was “{piece(report, target)}”." if target is not None else "")
        )
        fill(self.table, [
            [i, piece(report, e[0][0]), f"{e[0][1]:.4f}", percent(e[0][1]), "  ".join(piece(report, t) for t, _ in e[1:4])]
            for i, e in enumerate(lens)
        ])  # fmt: skip
