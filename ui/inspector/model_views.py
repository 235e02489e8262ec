"""Inside the model: embedding, positions, attention, the residual stream and the logit lens."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox

from ui.inspector.base import StepView, fill, piece
from ui.text_format import percent, prompt_pieces, visible_piece


def _pixmap(rgb: np.ndarray, width: int, height: int) -> QPixmap:
    """(H, W, 3) uint8 -> a pixmap scaled to width x height."""
    h, w, _ = rgb.shape
    bgra = np.empty((h, w, 4), dtype=np.uint8)
    bgra[..., 0], bgra[..., 1], bgra[..., 2], bgra[..., 3] = rgb[..., 2], rgb[..., 1], rgb[..., 0], 255
    img = QImage(bgra.tobytes(), w, h, 4 * w, QImage.Format.Format_RGB32)
    return QPixmap.fromImage(img.scaled(width, height))


def strip_image(values: list[float], height: int = 18) -> QPixmap:
    """A vector as a strip: red positive, blue negative, white zero."""
    v = np.asarray(values, dtype=np.float32)
    a = v / (float(np.abs(v).max()) or 1.0)
    fade = (255 * (1 - np.abs(a))).astype(np.uint8)
    full = np.full_like(fade, 255)
    rgb = np.stack([np.where(a > 0, full, fade), fade, np.where(a > 0, fade, full)], axis=-1)[None]
    return _pixmap(rgb, max(len(v), 576), height)


def heat_image(weights: np.ndarray, size: int = 360) -> QPixmap:
    """A (T, T) attention map: darker blue = more weight; the masked upper triangle is grey."""
    T = weights.shape[0]
    w = np.sqrt(np.clip(weights / (float(weights.max()) or 1.0), 0.0, 1.0))
    fade = (255 * (1 - w)).astype(np.uint8)
    rgb = np.stack([fade, fade, np.full_like(fade, 255)], axis=-1)
    rgb[np.triu(np.ones((T, T), dtype=bool), k=1)] = 225
    return _pixmap(rgb, size, size)


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
        self.strip = QLabel()
        self.layout_.addWidget(self.strip)
        self.table = self.add_table(["token", "id", "cosine"])
        row = QHBoxLayout()
        self.words = [QLineEdit(w) for w in (" king", " man", " woman")]
        for sign, box in zip(("", "−", "+"), self.words, strict=True):
            if sign:
                row.addWidget(QLabel(sign))
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
        self.summary.setText(
            f"“{piece(report, emb['token'])}” (id {emb['token']}) → a vector of {len(vec)} numbers, length {norm:.3f}."
        )
        self.strip.setPixmap(strip_image(vec))
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

    def show_report(self, report: dict) -> None:
        rope = report["rope"]
        self.summary.setText(
            f"Position {rope['position']:,} of at most {rope['context_length']:,} "
            f"({100 * (rope['position'] + 1) / rope['context_length']:.1f} % of the context). "
            f"Base {rope['base']:g}, head dimension {rope['head_dim']}: θᵢ = base^(−2i/{rope['head_dim']})."
        )
        fill(self.table, [
            [i, f"{f:.6g}", f"{a:.6g}", f"{math.degrees(a) % 360:.1f}"]
            for i, (f, a) in enumerate(zip(rope["inverse_frequencies"], rope["angles"], strict=True))
        ])  # fmt: skip


class AttentionView(StepView):
    title = "6 · Attention"
    explanation = (
        "In every layer each head decides how much to read from every earlier token: these weights are "
        "a softmax, so they add up to 100 %. Later tokens are hidden (the causal mask). Heads share their "
        "keys and values in groups (GQA) to keep the cache small."
    )
    map_requested = Signal(int, int)  # layer, head

    def __init__(self, parent=None):
        super().__init__(parent)
        row = QHBoxLayout()
        self.layer_box, self.head_box = QSpinBox(), QSpinBox()
        self.map_button = QPushButton("Full map for this head")
        for text, w in (("Layer", self.layer_box), ("Head", self.head_box)):
            row.addWidget(QLabel(text))
            row.addWidget(w)
        row.addWidget(self.map_button)
        row.addStretch(1)
        self.layout_.addLayout(row)
        self.kind_label = QLabel()
        self.kind_label.setWordWrap(True)
        self.layout_.addWidget(self.kind_label)
        self.table = self.add_table(["position", "token", "weight"])
        self.map_label = QLabel()
        self.map_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.layout_.addWidget(self.map_label)
        self.layer_box.valueChanged.connect(self._redraw)
        self.head_box.valueChanged.connect(self._redraw)
        self.map_button.clicked.connect(lambda: self.map_requested.emit(self.layer_box.value(), self.head_box.value()))
        self.report: dict | None = None

    def show_report(self, report: dict) -> None:
        self.report = report
        m = report["model"]
        self.layer_box.setRange(0, m["n_layers"] - 1)
        self.head_box.setRange(0, m["n_heads"] - 1)
        self.map_label.clear()
        self._redraw()

    def rows(self) -> list[tuple[int, float]]:
        """(position, weight) of the shown layer and head, heaviest first."""
        att = self.report["step"]["attention"][self.layer_box.value()]
        weights = att["weights"][self.head_box.value()] if att["weights"] else []
        return sorted(((att["key_start"] + j, w) for j, w in enumerate(weights)), key=lambda r: -r[1])

    def _redraw(self) -> None:
        if self.report is None:
            return
        r, m = self.report, self.report["model"]
        att = r["step"]["attention"][self.layer_box.value()]
        group = m["n_heads"] // m["n_kv_heads"]
        kv = self.head_box.value() // group
        self.kind_label.setText(
            f"Layer {att['layer']}: {att['kind']}. Query heads {kv * group}–{kv * group + group - 1} share "
            f"KV head {kv} ({m['n_heads']} query heads, {m['n_kv_heads']} KV heads)."
        )
        self.summary.setText(
            f"Token at position {r['position']} (“{prompt_pieces(r['pieces'])[r['position']]}”) reading "
            f"{r['position'] + 1:,} positions; the rows below are its weights, heaviest first."
        )
        shown = prompt_pieces(r["pieces"])  # an end of turn is named by whose turn it ends
        fill(self.table, [[pos, shown[pos], f"{w:.4f}"] for pos, w in self.rows()[:200]])

    def show_map(self, result: dict) -> None:
        self.map_label.setPixmap(heat_image(result["weights"]))
        self.map_label.setToolTip(f"Layer {result['layer']}, head {result['head']}: rows are queries, columns keys")


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
            + (f" The reply's token was “{piece(report, target)}”." if target is not None else "")
        )
        fill(self.table, [
            [i, piece(report, e[0][0]), f"{e[0][1]:.4f}", percent(e[0][1]), "  ".join(piece(report, t) for t, _ in e[1:4])]
            for i, e in enumerate(lens)
        ])  # fmt: skip
