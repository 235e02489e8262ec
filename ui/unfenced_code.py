"""Code a model wrote without its fences: its `#` comment lines are the text they are, not headings.

A small model often writes code with no opening fence, then a closing ``` (trial 6, finding 7):

    def reverse_string(s):
        return s[::-1]
    print(reverse_string("Hello"))

    # Example of using the built-in function reversed()
    ```

Markdown reads the code as a paragraph and `# Example …` as a heading: a Python comment drawn as
the reply's biggest title. A heading is legitimate in prose, so a `#` line stays one unless what
surrounds it says it is a comment: `comments_as_text` makes a top-level `#` heading line text when

- the nearest line above it (past blank lines and other such `#` lines) is code-shaped, and
- the nearest line below it (the same way) is code-shaped, or is a stray fence (a ``` that
  `ui.reply_document` showed as text because it closes a block nobody opened).

Code-shaped (`looks_like_code`) is what prose rarely is: an indented line, an indented code block,
a line that opens a definition or a block (`def f(x):`, `if x:`, `function f(`, ending `{`), an
import, `return`, an assignment (`x = 1`, `s[i] += 2`), a line that is one call (`print(x)`,
`foo.bar(1);`, a comment after it allowed), a line of closing brackets, a `//` comment.
So "## Solution" above unfenced code, or "# Notes" between code and prose, stay headings; a `#`
line with code on both sides, or between code and the stray fence that ends it, is a comment.
Fenced code is never read (Markdown shows it verbatim already), and lines are only ever made text
(the `#` escaped, so it shows as written), never code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.markdown_text import block_tokens

CODE_LINE = re.compile(
    r"""^(?:
        (?:[ ]{4,}|\t)\S                                              # indented
      | [ \t]*(?:async[ ]+)?(?:def|class)[ ]+\w.*:[ \t]*(?:\#.*)?$   # a Python definition
      | [ \t]*(?:if|elif|else|for|while|try|except|finally|with)\b.*:[ \t]*(?:\#.*)?$  # a Python block
      | [ \t]*(?:import[ ]+[\w.]+|from[ ]+[\w.]+[ ]+import[ ]+\S)     # an import
      | [ \t]*(?:return|raise|yield)\b                                 # leaving a function
      | [ \t]*(?:const|let|var)[ ]+\w+[ \t]*=                          # a JavaScript declaration
      | [ \t]*(?:function|fn|func)[ ]+\w+[ \t]*\(                      # a definition elsewhere
      | [ \t]*[A-Za-z_][\w.]*(?:\[[^\]\n]*\])?[ \t]*(?:[-+*/%]|//|:)?=(?!=)[ \t]*\S  # an assignment
      | [ \t]*[A-Za-z_][\w.]*\(.*\)[ \t]*;?[ \t]*(?:(?:\#|//).*)?$    # one call, maybe a comment after
      | .*[{;][ \t]*$                                                  # ends a C-like line or opens a block
      | [ \t]*[)\]}]+[;,]?[ \t]*$                                      # closing brackets
      | [ \t]*//                                                       # a C-like comment
    )""",
    re.VERBOSE,
)
LIST_ITEM = re.compile(r"[ \t]*(?:\d{1,9}[.)]|[-*+])(?:[ \t]|$)")  # an indented list item is prose


def looks_like_code(line: str) -> bool:
    """Whether one line of a paragraph is shaped like a line of code (see the module's docstring).
    `looks_like_code('print(reverse_string("Hi"))  # Output: iH')` is True,
    `looks_like_code("Call print(x) to see it.")` is False."""
    return bool(CODE_LINE.match(line)) and not LIST_ITEM.match(line)


def comments_as_text(markdown: str, stray_fences: Iterable[int] = ()) -> str:
    """`markdown` with each `#` heading line that reads as a comment of unfenced code escaped
    (`\\#`), so it shows as the line written; `stray_fences` are the line indices of fences already
    shown as text. Line for line the same text (only backslashes are added)."""
    lines = markdown.split("\n")
    kind = ["blank" if not line.strip() else "code" if looks_like_code(line) else "prose" for line in lines]
    for line in stray_fences:
        kind[line] = "stray"
    for token in block_tokens(markdown):
        if not token.map:
            continue
        first, last = token.map
        if token.type == "fence":
            kind[first:last] = ["fenced"] * (last - first)  # verbatim already: it ends a run of code
        elif token.type == "code_block":
            kind[first:last] = ["code"] * (last - first)
        elif token.type == "heading_open" and token.level == 0 and token.markup.startswith("#"):
            kind[first] = "hash"

    def neighbour(start: int, step: int) -> str:
        at = start + step
        while 0 <= at < len(kind) and kind[at] in ("blank", "hash"):
            at += step
        return kind[at] if 0 <= at < len(kind) else "end"

    for number, what in enumerate(kind):
        if what == "hash" and neighbour(number, -1) == "code" and neighbour(number, 1) in ("code", "stray"):
            mark = len(lines[number]) - len(lines[number].lstrip(" "))
            lines[number] = f"{lines[number][:mark]}\\{lines[number][mark:]}"
    return "\n".join(lines)
