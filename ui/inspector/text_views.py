"""The text ends of the pipeline: characters, tokens, the vocabulary, and ids back to text."""

from __future__ import annotations

from PySide6.QtWidgets import QHeaderView, QLabel

from app.inspection import TEMPLATE_MARKUP
from ui.inspector.base import StepView, fill, piece, show_row
from ui.text_format import prompt_pieces, visible_piece


class TextEncodingView(StepView):
    title = "1 · Text encoding"
    explanation = (
        "Before anything else your message is just characters. Each has a Unicode code point, and the "
        "computer stores it as one to four UTF-8 bytes. The tokenizer works on these bytes, which is "
        "why an emoji or an accented letter can cost more than one token."
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = self.add_table(["char", "code point", "UTF-8 bytes"])

    def show_report(self, report: dict) -> None:
        text = report.get("user_message", "")
        data = text.encode("utf-8")
        self.summary.setText(f"Your message: {len(text):,} characters, {len(data):,} UTF-8 bytes.")
        fill(self.table, [
            [visible_piece(ch), f"U+{ord(ch):04X}", " ".join(f"{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))]
            for ch in text[:2000]
        ])  # fmt: skip


def parts_sentence(parts: list[tuple[str, int, int]]) -> str:
    """The token count of each part, as "system prompt 12, earlier turns 18, your message 8, template markup 28":
    one per name in `parts` ([(name, start, end)], the Tokenization table's "part" column), in the
    order the names first appear, template markup last; the counts add up to the prompt's."""
    counts: dict[str, int] = {}
    for name, a, b in parts:
        counts[name] = counts.get(name, 0) + b - a
    order = sorted(counts, key=lambda name: name == TEMPLATE_MARKUP)  # stable: first appearance otherwise
    return ", ".join(f"{name} {counts[name]:,}" for name in order if counts[name])


class TokenizationView(StepView):
    title = "2 · Tokenization"
    explanation = (
        "The model never sees your text, only token ids. Glassbox puts the system prompt, memories and "
        "earlier turns into the model's chat template, and the tokenizer cuts the result into pieces it "
        "knows. Special tokens (marked ★) are the template's markers; a leading ␣ is a space that "
        "belongs to the piece. The “part” column says where each token's text came from; template "
        "markup is the text nobody wrote: the template's markers and role names, and the blank line "
        "Glassbox puts between your memories and your message."
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = self.add_table(["position", "id", "piece", "part"])

    def show_report(self, report: dict) -> None:
        ids, pieces, special = report["shown_ids"], report["pieces"], report["special"]
        chars = sum(len(p) for p in pieces)
        n_prompt = report["prompt_tokens"]
        start, end = report["objective"]["start"], n_prompt
        selected = report["position"] + 1 if report["token"] is not None else report["position"]
        if selected < len(ids):  # a token of the prompt (your message): it is in the table
            marked, mark_text = selected, "▶ marks the selected token."
        else:  # a reply's token is predicted after the context: the last position the step reads is marked
            marked = report["position"]
            mark_text = (
                f"▶ marks position {marked:,}, the last token the step reads; the selected token "
                f"“{piece(report, report['token'])}” is the one predicted after it (not yet in the context)."
            )
        # without the parts (a template whose rendering could not be lined up) the turn is all that is known
        parts = report.get("prompt_parts") or [
            ("before your message", 0, start), ("your message with its template markers", start, end)]  # fmt: skip
        self.summary.setText(
            f"The context is {len(ids):,} tokens ({chars:,} characters): the prompt {n_prompt:,} "
            f"({parts_sentence(parts)}), then {len(ids) - n_prompt:,} of the reply. "
            f"Vocabulary: {report['model']['vocab_size']:,} tokens. {mark_text}"
        )
        shown = prompt_pieces(pieces)  # an end of turn is named by whose turn it ends

        def part(pos: int) -> str:
            return "reply" if pos >= n_prompt else next((name for name, a, b in parts if a <= pos < b), "prompt")

        fill(self.table, [
            [("▶ " if pos == marked else "") + str(pos), i, ("★ " if sp else "") + shown[pos], part(pos)]
            for pos, (i, p, sp) in enumerate(zip(ids, pieces, special, strict=True))
        ])  # fmt: skip
        if 0 <= marked < len(ids):
            show_row(self.table, marked)


def _merges(n: int) -> str:
    return "1 merge" if n == 1 else f"{n:,} merges"


class VocabularyView(StepView):
    title = "3 · Vocabulary"
    explanation = (
        "The vocabulary is the fixed list of pieces the model can read and write, learned from text "
        "before training. In BPE, pieces are built by merging pairs, starting from single bytes: the "
        "rules learned first (low rank) are the most common pairs. SentencePiece gives every piece a "
        "score and joins the best-scoring pairs. So one word can split differently with a space in "
        "front, at the start of a line, or in capitals."
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        # the pieces share the width (a long one, "part of a character (bytes C3)", is elided, whole
        # in its tooltip); the rank keeps the width its numbers need: it is what the table is for
        self.merges = self.add_table(["step", "left", "+ right", "→ piece", "rank / score"], stretch=[1, 2, 3])
        # a row is as tall as its wrapped labels at the width they get (a token has a few dozen merges at most)
        self.merges.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.splits_label = QLabel()
        self.splits_label.setWordWrap(True)
        self.layout_.addWidget(self.splits_label)
        self.splits = self.add_table(["where", "text", "tokens", "count"])

    def show_report(self, report: dict) -> None:
        v = report["vocabulary"]
        token = v["token"]
        kind = f"{v['kind']} " if v["kind"] != "unknown" else ""
        text = f"{v['size']:,} tokens in this {kind}vocabulary. The selected token is id {token}: “{piece(report, token)}”"
        if v["special"]:
            text += ", a control token of the chat template: it was added whole, not built by merges."
        elif v["whole_piece"]:
            ends = " │ ".join(f"“{visible_piece(p)}”" for p in v["end"])
            text += (
                ". This tokenizer takes a piece of text that is itself in the vocabulary as that one token, "
                "without merging: when the text is cut into pieces (at spaces and punctuation) and one "
                "piece is exactly this token's text, it is looked up whole. That is how this token is made: "
                f"the merge rules alone stop at {len(v['end'])} pieces, {ends}"
                + (f" ({_merges(len(v['merges']))}, below)." if v["merges"] else ".")
            )
        elif v["merges"]:
            text += f", built from {len(v['start'])} characters in {_merges(len(v['merges']))}."
            if not v["reached"]:
                text += " The merges stop before reaching it: it was added to the vocabulary by hand."
        else:
            text += ", a single character of the base alphabet: no merge needed."
        if v["score"] is not None:
            text += f" Its SentencePiece score is {v['score']:.4f}."
        self.summary.setText(text)
        fill(self.merges, [
            [n + 1, visible_piece(m["left"]), visible_piece(m["right"]), visible_piece(m["result"]),
             f"rank {m['rank']:,}" if m["rank"] is not None else f"score {m['score']:.4f}"]
            for n, m in enumerate(v["merges"])
        ])  # fmt: skip
        word = v["splits"][0]["text"] if v["splits"] else ""
        self.splits_label.setText(
            f"This token's own text, “{visible_piece(word)}”, written on its own in other places (each "
            "encoded by the real tokenizer; inside a longer word it may split differently again):"
            if word
            else "This token is part of a character's bytes: there is no text to split."
        )
        fill(self.splits, [
            [s["context"], visible_piece(s["text"]), " │ ".join(visible_piece(p) for p in s["pieces"]), len(s["ids"])]
            for s in v["splits"]
        ])  # fmt: skip


class DetokenizationView(StepView):
    title = "12 · Detokenization"
    explanation = (
        "Each generated id is turned back into bytes and the bytes into text. A character can be split "
        "across two tokens (the first holds only part of its UTF-8 bytes): Glassbox holds such bytes back "
        "and shows the character only when it is complete, so you never see a broken symbol."
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = self.add_table(["#", "id", "piece", "text shown"])

    def show_records(self, records: list) -> None:
        """records: the reply's TokenEvents. The end-of-reply marker (the token that ended the
        reply at the model's own end) has no text to hold: it is named as such, not counted held."""

        def end_marker(r) -> bool:
            return r.finish_reason == "eos" and not r.text

        held = sum(1 for r in records if r.piece and not r.text and not end_marker(r))
        self.summary.setText(f"{len(records):,} tokens; {held} added no text when they arrived (held back).")
        fill(self.table, [
            [r.index + 1, r.token, visible_piece(r.piece),
             visible_piece(r.text) if r.text else "(end of reply: no text)" if end_marker(r) else "(held)"]
            for r in records
        ])  # fmt: skip

    def show_report(self, report: dict) -> None:
        pass  # filled from the reply's own token records (see the dock)
