"""The autoregressive loop as a chart: the KV cache growing token by token, and each step's time."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ui.text_format import byte_size

CACHED, COMPUTED, GENERATED, BYTES, STEP, FIRST = (
    QColor(76, 175, 80), QColor(255, 167, 38), QColor(66, 133, 244), QColor(40, 40, 40), QColor(120, 144, 156),
    QColor(229, 115, 115),
)  # fmt: skip


@dataclass(frozen=True)
class LoopSeries:
    """One reply's loop. Per generated token i: `lengths[i]` tokens in the KV cache once it was
    drawn (the prompt and the reply up to it, as the engine fed it back; the last token of a reply
    cut at its token limit is never fed back), `kv_bytes[i]` that cache's memory (0: not recorded),
    `step_ms[i]` its time (token 0's includes reading the prompt; 0: not recorded, e.g. a reply
    reopened after a restart). The reply's own prompt was `prompt` tokens, `cached` of them from
    the prompt cache."""

    prompt: int
    cached: int
    lengths: list[int]
    kv_bytes: list[int]
    step_ms: list[float]

    @classmethod
    def from_records(cls, records: list, stats: dict) -> LoopSeries:
        """From a reply's TokenEvents and its numbers. A live token says the cache length its bytes
        were measured at (`kv_tokens`); a reopened one has no measurement, and its length is the
        same count worked out from the reply's numbers (its last one's bytes are the reply's)."""
        n = len(records)
        used = stats.get("context_used") or 0  # the prompt read and every token of the reply
        prompt = (records[0].prompt_tokens if records else 0) or (used - n if used > n else stats.get("prompt_tokens") or 0)
        ends_unfed = stats.get("finish_reason") == "length"  # a reply cut at its limit never fed its last token back
        lengths = [
            r.kv_tokens or prompt + i + 1 - (1 if ends_unfed and i == n - 1 else 0) for i, r in enumerate(records)
        ]  # fmt: skip
        kv = [r.kv_bytes for r in records]
        if kv and not kv[-1] and not records[-1].kv_tokens:
            kv[-1] = int(stats.get("kv_bytes") or 0)  # the cache the reply left, as the status bar showed it
        cached = min(int(stats.get("cached_tokens", records[0].cached_tokens if records else 0) or 0), prompt)
        return cls(prompt, cached, lengths, kv, [1000 * r.step_s for r in records])

    @property
    def timed(self) -> bool:
        return any(self.step_ms)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k that is at least `value` (> 0): an axis top a reader can
    take as a round tick, never mistaken for a measured time."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value * (1 - 1e-9))


def time_axis_top(step_ms: list[float]) -> float:
    """The top of the step-time axis: a round value above the decode steps (their 95th percentile
    and 20 % room); the first step, which reads the whole prompt, may be taller and is clipped."""
    rest = sorted(step_ms[1:]) or sorted(step_ms)
    return nice_ceiling(max(rest[min(len(rest) - 1, int(0.95 * len(rest)))] * 1.2, 1e-3))


TOP_CAPTION = "KV cache (tokens; line: bytes)"
TIMED_CAPTION, UNTIMED_CAPTION = "time per step (ms)", "step times not recorded"
WRAP = int(Qt.TextFlag.TextWordWrap)


@dataclass(frozen=True)
class ChartFrame:
    """Where a LoopChart draws at a size, in px: each caption's box (wrapped to the width, never
    cut at a large text size), the two plots' boxes, and the margins left of and right of the plots
    for the axis numbers."""

    top_caption: QRectF
    top: QRectF
    bottom_caption: QRectF
    bottom: QRectF
    left: float
    right: float


class LoopChart(QWidget):
    """Top: the cache length per token, split into prompt-cache (green), computed prompt (orange)
    and generated (blue) tokens, with its bytes as a line. Bottom: each step's time as a bar. Each
    plot's caption wraps above it; the chart is as tall as its captions and two readable plots
    need at its width (`heightForWidth`), taller where the view has room."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.series: LoopSeries | None = None
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def set_series(self, series: LoopSeries | None) -> None:
        self.series = series
        self.updateGeometry()  # the bottom caption (timed or not) may take another number of lines
        self.update()

    def _captions(self) -> tuple[str, str]:
        timed = self.series is not None and self.series.timed
        return TOP_CAPTION, TIMED_CAPTION if timed else UNTIMED_CAPTION

    def _caption_height(self, text: str, width: int) -> float:
        return self.fontMetrics().boundingRect(0, 0, max(width, 1), 100000, WRAP, text).height()

    def _plot_least(self) -> tuple[float, float]:
        """The least heights of the top and bottom plots: room for their axis numbers and labels."""
        line = self.fontMetrics().height()
        return max(80.0, 3.0 * line), max(60.0, 2.5 * line)

    def _axis_labels(self) -> tuple[list[str], str]:
        """The numbers drawn left of the plots (the longest cache, the time axis' top, 0) and the
        bytes drawn right of the top plot ("" when none were measured)."""
        s = self.series
        if s is None or not s.lengths:
            return ["100,000"], "100.0 MB"  # room for what a chart usually shows, before it has a series
        longest = max(*s.lengths, 1)
        left = [f"{longest:,}", "0"] + ([f"{time_axis_top(s.step_ms):g}"] if s.timed else [])
        return left, byte_size(self._most_bytes()) if any(s.kv_bytes) else ""

    def _most_bytes(self) -> float:
        s = self.series
        longest = max(*s.lengths, 1)
        return max(b * longest / max(length, 1) for b, length in zip(s.kv_bytes, s.lengths, strict=True))

    def _margins(self) -> tuple[int, int]:
        """px left of the plots for their axis numbers, and right of them for the bytes: the labels
        this series draws, so the bars keep the rest of the width at a large text size."""
        fm = self.fontMetrics()
        left, right = self._axis_labels()
        return 8 + max(fm.horizontalAdvance(t) for t in left), 8 + (fm.horizontalAdvance(right) if right else 0)

    def frame(self, width: int, height: int) -> ChartFrame:
        fm = self.fontMetrics()
        left, right = self._margins()
        top_text, bottom_text = self._captions()
        text_width = max(width - 4, 1)
        top_cap, bottom_cap = self._caption_height(top_text, text_width), self._caption_height(bottom_text, text_width)
        foot = fm.height() + 4  # "token 1 … token n" under the plots
        least_top, least_bottom = self._plot_least()
        spare = max(0.0, height - (top_cap + bottom_cap + foot + 12 + least_top + least_bottom))
        top_h, bottom_h = least_top + 0.55 * spare, least_bottom + 0.45 * spare
        w = max(width - left - right, 1)
        top_caption = QRectF(2, 0, text_width, top_cap)
        top = QRectF(left, top_cap + 4, w, top_h)
        bottom_caption = QRectF(2, top.bottom() + 4, text_width, bottom_cap)
        bottom = QRectF(left, bottom_caption.bottom() + 4, w, bottom_h)
        return ChartFrame(top_caption, top, bottom_caption, bottom, left, right)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt's name)
        f = self.frame(width, 0)
        return int(math.ceil(f.bottom.bottom() + self.fontMetrics().height() + 4))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        fm = self.fontMetrics()
        left, right = self._margins()
        width = left + right + fm.horizontalAdvance("token 1")
        return QSize(width, self.heightForWidth(width))

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(400, max(260, self.heightForWidth(400)))

    def paintEvent(self, event) -> None:
        s = self.series
        if s is None or not s.lengths:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = p.fontMetrics()
        h = self.height()
        f = self.frame(self.width(), h - fm.height() - 4)
        top, bottom, left, w = f.top, f.bottom, f.left, f.top.width()
        n = len(s.lengths)
        bar = w / n
        longest = max(*s.lengths, 1)
        text_pen = self.palette().color(self.palette().ColorRole.Text)
        p.setPen(text_pen)
        top_text, bottom_text = self._captions()
        p.drawText(f.top_caption, WRAP, top_text)
        for i, length in enumerate(s.lengths):
            x = left + i * bar
            for lo, hi, color in ((0, s.cached, CACHED), (s.cached, s.prompt, COMPUTED), (s.prompt, length, GENERATED)):
                if hi > lo:
                    y0, y1 = top.bottom() - top.height() * lo / longest, top.bottom() - top.height() * hi / longest
                    p.fillRect(QRectF(x, y1, max(bar, 1.0), y0 - y1), color)
        p.drawText(QPointF(2, top.top() + fm.ascent()), f"{longest:,}")
        p.drawText(QPointF(2, top.bottom()), "0")
        if any(s.kv_bytes):
            # on the tokens' scale: bytes that grow with the length run along the bars' tops
            most = self._most_bytes()
            path = QPainterPath()
            for i, b in enumerate(s.kv_bytes):
                if not b:  # not measured (a reopened reply's earlier tokens)
                    continue
                point = QPointF(left + (i + 0.5) * bar, top.bottom() - top.height() * b / most)
                path.lineTo(point) if path.elementCount() else path.moveTo(point)
            p.setPen(QPen(BYTES, 2))
            p.drawPath(path)
            p.setPen(text_pen)
            p.drawText(QPointF(left + w + 4, top.top() + fm.ascent()), byte_size(most))
        p.drawText(f.bottom_caption, WRAP, bottom_text)
        if s.timed:
            # the first step reads the whole prompt: scale the bars to the decode steps, clip the first
            scale = time_axis_top(s.step_ms)
            for i, ms in enumerate(s.step_ms):
                height = bottom.height() * min(ms / scale, 1.0)
                p.fillRect(QRectF(left + i * bar, bottom.bottom() - height, max(bar - 1, 1.0), height), FIRST if i == 0 else STEP)
            if s.step_ms[0] > scale:  # the first step is clipped: its own time is written on it, wrapped to the plot
                first = QRectF(left + 2, bottom.top(), max(w - 2, 1), bottom.height() - fm.height())
                p.drawText(first, WRAP, f"first step {s.step_ms[0]:,.0f} ms ↑")
            p.drawText(QPointF(2, bottom.top() + fm.ascent()), f"{scale:g}")
            p.drawText(QPointF(2, bottom.bottom()), "0")
        first, last, baseline = "token 1", f"token {n:,}", h - 2 - fm.descent()
        if fm.horizontalAdvance(first) + fm.horizontalAdvance("  " + last) <= w:  # under the plot's two ends
            p.drawText(QPointF(left, baseline), first)
            p.drawText(QPointF(left + w - fm.horizontalAdvance(last), baseline), last)
        else:  # a narrow plot (a large text size): one label, never the two drawn over each other
            label = f"tokens 1–{n:,}"
            p.drawText(QPointF(max(2, min(left, self.width() - 2 - fm.horizontalAdvance(label))), baseline), label)
        p.end()


LEGEND = (
    f"<span style='color:{CACHED.name()}'>■</span> prompt from the prompt cache "
    f"<span style='color:{COMPUTED.name()}'>■</span> prompt computed "
    f"<span style='color:{GENERATED.name()}'>■</span> generated "
    f"<span style='color:{FIRST.name()}'>■</span> first step (reads the prompt)"
)
