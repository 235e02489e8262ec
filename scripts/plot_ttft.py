"""Draw TTFT per turn, with and without the prompt cache, as a PNG with QPainter (offscreen)."""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QPointF, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter, QPen  # noqa: E402

with_path, without_path, out = sys.argv[1:4]
with_c = [t["ttft_s"] for t in json.load(open(with_path))["turns"]]
without_c = [t["ttft_s"] for t in json.load(open(without_path))["turns"]]
prompt = [t["prompt_tokens"] for t in json.load(open(with_path))["turns"]]

app = QGuiApplication([])
W, H = 900, 540
L, R, T, B = 90, 55, 60, 90
img = QImage(W, H, QImage.Format_ARGB32)
img.fill(QColor("white"))
p = QPainter(img)
p.setRenderHint(QPainter.Antialiasing)
font = QFont("DejaVu Sans", 11)
p.setFont(font)

n = len(with_c)
ymax = max(without_c + with_c)
step = next(s for s in (0.5, 1, 2, 5, 10, 20, 50) if ymax / s <= 8)
ytop = step * (int(ymax / step) + 1)


def x_of(i):
    return L + (W - L - R) * (i / (n - 1) if n > 1 else 0.5)


def y_of(v):
    return H - B - (H - T - B) * v / ytop


# grid and y ticks
p.setPen(QPen(QColor("#dddddd"), 1))
v = 0.0
while v <= ytop + 1e-9:
    p.drawLine(QPointF(L, y_of(v)), QPointF(W - R, y_of(v)))
    v += step
p.setPen(QPen(QColor("black"), 1))
v = 0.0
while v <= ytop + 1e-9:
    p.drawText(QRectF(0, y_of(v) - 10, L - 10, 20), Qt.AlignRight | Qt.AlignVCenter, f"{v:g}")
    v += step
p.drawLine(QPointF(L, T), QPointF(L, H - B))
p.drawLine(QPointF(L, H - B), QPointF(W - R, H - B))
for i in range(n):
    p.drawText(QRectF(x_of(i) - 40, H - B + 6, 80, 20), Qt.AlignCenter, str(i + 1))
    p.setPen(QPen(QColor("#777777"), 1))
    p.drawText(QRectF(x_of(i) - 40, H - B + 24, 80, 20), Qt.AlignCenter, f"{prompt[i]} tok")
    p.setPen(QPen(QColor("black"), 1))
p.drawText(QRectF(L, H - 40, W - L - R, 20), Qt.AlignCenter, "turn (prompt tokens in grey)")
p.save()
p.translate(22, (T + H - B) / 2)
p.rotate(-90)
p.drawText(QRectF(-150, -12, 300, 24), Qt.AlignCenter, "time to first token (s)")
p.restore()
title = QFont("DejaVu Sans", 14)
title.setBold(True)
p.setFont(title)
p.drawText(QRectF(0, 12, W, 30), Qt.AlignCenter, "SmolLM2-135M, 10-turn chat: TTFT per turn (CPU, 2 cores)")
p.setFont(font)

for values, color, label, row in (
    (without_c, QColor("#d62728"), "without prompt cache", 0),
    (with_c, QColor("#1f77b4"), "with prompt cache", 1),
):
    p.setPen(QPen(color, 2.5))
    for i in range(n - 1):
        p.drawLine(QPointF(x_of(i), y_of(values[i])), QPointF(x_of(i + 1), y_of(values[i + 1])))
    p.setBrush(color)
    for i in range(n):
        p.drawEllipse(QPointF(x_of(i), y_of(values[i])), 4, 4)
    ly = T + 10 + row * 24
    p.drawLine(QPointF(L + 20, ly), QPointF(L + 50, ly))
    p.setPen(QPen(QColor("black"), 1))
    p.drawText(QRectF(L + 58, ly - 10, 300, 20), Qt.AlignLeft | Qt.AlignVCenter, label)
p.end()
assert img.save(out), out
print("wrote", out)
