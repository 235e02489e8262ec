"""CPU time of the window thread to render a reply whole, by the reply's length, and of one zoom step.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/render_cost.py [--replies 20]

A streaming reply is rendered whole again whenever a batch brings a line break or a Markdown
character (ui/token_text.py `_appends`), so the cost of one whole render is the window's stall at
that batch. The replies are prose, a list and a Python code block per section (one section is ~258
tokens, every section's code different), 80 % of the tokens confident (not tinted). Times are
`time.thread_time` (this thread's CPU, which a loaded machine inflates far less than wall time),
the least of 5 renders after one that warms the caches. The zoom step: `--replies` finished
replies of 456 tokens in one column, then `apply_look` one step larger and the events it posts
handled; it prints how many whole renders that took.
"""

from __future__ import annotations

import argparse
import random
import re
import time

from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from engine.events import TokenEvent
from ui.theme import apply_look
from ui.token_text import TokenText


def section(k: int) -> str:
    code = "".join(f"def f{i}_{k}(x):\n    return x * {i} + helper(x, '{i}')\n\n" for i in range(12))
    return f"Here is a function that does the work:\n\n```python\n{code}```\n\nAnd a list:\n\n- one item\n- two items with `code`\n\n"


def tokens_of(text: str, rng: random.Random) -> list[TokenEvent]:
    pieces = re.findall(r"\S+|\s+", text)
    return [TokenEvent(index=i, token=i, text=p, piece=p, logprob=-0.05 if rng.random() < 0.8 else -1.0,
                       sampled_logprob=-0.5, entropy=1.0) for i, p in enumerate(pieces)]  # fmt: skip


def render_ms(sections: int, rng: random.Random) -> tuple[int, float]:
    text = "".join(section(k) for k in range(sections))
    tokens = tokens_of(text, rng)
    view = TokenText()
    view.resize(700, 400)
    view.set_content(text, tokens, tint=True)  # warms the caches, as the batches before it did
    times = []
    for _ in range(5):
        view._source = None  # a whole render, as a batch with a line break asks for
        start = time.thread_time()
        view.set_content(text, tokens, tint=True)
        times.append(time.thread_time() - start)
    return len(tokens), min(times) * 1000


def zoom_step(app: QApplication, replies: int, rng: random.Random) -> tuple[float, int]:
    apply_look(app, "light", 100)
    text = "Bread is made from flour, water and yeast. **Knead** it well.\n\n- one item\n- two items with `code`\n\n" * 12
    tokens = tokens_of(text, rng)
    column = QWidget()
    layout = QVBoxLayout(column)
    for _ in range(replies):
        view = TokenText()
        layout.addWidget(view)
        view.set_content(text, tokens, tint=True, ended=True)
    column.resize(800, 600)
    column.show()
    app.processEvents()
    renders = [0]
    real = TokenText.set_content

    def counted(self, *args, **kwargs):
        renders[0] += 1
        return real(self, *args, **kwargs)

    TokenText.set_content = counted
    start = time.thread_time()
    apply_look(app, "light", 110)
    for _ in range(5):
        app.processEvents()
    TokenText.set_content = real
    return (time.thread_time() - start) * 1000, renders[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=20, help="replies in the conversation zoomed")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    apply_look(app, "light", 100)
    rng = random.Random(1)
    for sections in (2, 8, 16):
        count, ms = render_ms(sections, rng)
        print(f"reply of {count} tokens: {ms:.1f} ms of CPU for a whole render")
    ms, renders = zoom_step(app, args.replies, rng)
    print(f"zoom step, {args.replies} replies: {ms:.0f} ms of CPU, {renders} whole renders")


if __name__ == "__main__":
    main()
