"""One tokenizer interface over byte-level BPE (`tokenizers`) and SentencePiece (`sentencepiece`).

Also: chat templates rendered in a sandboxed jinja2 environment, and a streaming detokenizer that
turns token ids into text as they arrive without ever emitting half of a UTF-8 character.
"""

from __future__ import annotations

import codecs
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import meta
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# imported with the module, not inside a load (~20 ms of a load's critical path otherwise)
from tokenizers import AddedToken, Regex, decoders, models, pre_tokenizers
from tokenizers import Tokenizer as Backend

from engine import native, special_text
from engine.special_text import PlaceholderCut, SpecialTokens

GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# GGUF `tokenizer.ggml.pre` names (llama.cpp's) that we can reproduce with `tokenizers`.
# Switches a chat template may read that Glassbox offers per conversation (passed only to templates
# that read them): Qwen 3's enable_thinking (False: the reply skips its <think> section)
TEMPLATE_OPTIONS = frozenset({"enable_thinking"})
SUPPORTED_PRE = ("default", "gpt2", "gpt-2", "smollm", "llama3", "llama-bpe")
# Those whose BPE takes a piece that is itself a token whole, merges or not (`ignore_merges`: Llama 3's
# tokenizer.json sets it, llama.cpp sets it for these names; " Việt" is one token there, three without)
WHOLE_PIECE_PRE = ("llama3", "llama-bpe")

# Used when a model ships no chat template: ChatML, which most small instruct models follow.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class TokenizerError(ValueError):
    pass


def check_text(text: str, what: str = "the text") -> None:
    """Raise TokenizerError naming the first lone surrogate in `text` (a code point in
    U+D800..U+DFFF: half of a UTF-16 pair, not a character, so no tokenizer can encode it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise TokenizerError(
            f"{what} is not valid text: character {e.start + 1} is U+{ord(text[e.start]):04X}, "
            "half of a UTF-16 surrogate pair without its other half"
        ) from None


def _check_strings(value: Any, what: str) -> None:
    if isinstance(value, str):
        check_text(value, what)
    elif isinstance(value, dict):
        for v in value.values():
            _check_strings(v, what)
    elif isinstance(value, list | tuple):
        for v in value:
            _check_strings(v, what)


@lru_cache(maxsize=1)
def byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, inverted: printable stand-in character -> byte."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


@lru_cache(maxsize=1)
def _byte_level_translation() -> dict[int, str]:
    """str.translate table: each stand-in -> the Latin-1 character of its byte; every other
    character below the last stand-in -> U+FFFF, so that only a piece made of stand-ins alone
    encodes as Latin-1 afterwards (characters past the stand-ins are not Latin-1 either)."""
    table = {ord(ch): chr(b) for ch, b in byte_decoder().items()}
    for code in range(max(table) + 1):
        table.setdefault(code, "\uffff")
    return table


def byte_level_bytes(piece: str) -> bytes:
    """The bytes a byte-level BPE piece stands for; a piece that is not all stand-ins (an added
    token, stored as plain text) is its UTF-8. One C-level pass (a vocabulary has 50k-250k pieces)."""
    if piece.isascii() and piece.isprintable() and " " not in piece:  # "!".."~" stand for themselves
        return piece.encode("ascii")
    try:
        return piece.translate(_byte_level_translation()).encode("latin-1")
    except UnicodeEncodeError:
        return piece.encode("utf-8")  # added tokens are stored as plain text


class LazyTokenBytes(Sequence[bytes]):
    """`token_bytes` of a vocabulary, each computed from its piece on first use: a vocabulary has
    50k-262k pieces, a reply needs a few hundred, and building them all took ~0.1-0.4 s of a load.
    `byte_of(i)` is token i's bytes; indexing, len, iteration and == behave as for the list."""

    def __init__(self, n: int, byte_of: Callable[[int], bytes]):
        self._byte_of = byte_of
        self._done: list[bytes | None] = [None] * n

    def __len__(self) -> int:
        return len(self._done)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        b = self._done[i]  # IndexError past the end, as a list
        if b is None:
            b = self._done[i] = self._byte_of(i if i >= 0 else i + len(self))
        return b

    def __iter__(self) -> Iterator[bytes]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None


BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def sentencepiece_bytes(piece: str) -> bytes:
    m = BYTE_PIECE.match(piece)
    if m:
        return bytes([int(m.group(1), 16)])
    return piece.replace("\u2581", " ").encode("utf-8")


def _tojson(value, indent=None, ensure_ascii=False, separators=None, sort_keys=False) -> str:
    """transformers' `tojson` filter: templates pass these keywords (Qwen's: ensure_ascii=False)."""
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


class ChatTemplate:
    """A Hugging Face style chat template, rendered in a sandbox (no file or attribute access)."""

    def __init__(self, source: str, bos_token: str = "", eos_token: str = ""):
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = self._raise
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        env.filters["tojson"] = _tojson
        try:
            parsed = env.parse(source)  # parsed once: compiled from the tree, searched for switches
            self._template = env.from_string(parsed)
            read = meta.find_undeclared_variables(parsed)
        except TemplateError as e:
            raise TokenizerError(f"the model's chat template does not parse: {e}") from e
        self.source, self.bos_token, self.eos_token = source, bos_token, eos_token
        # the switches this template reads (e.g. Qwen 3's enable_thinking), of those Glassbox offers
        self.options: frozenset[str] = frozenset(read & TEMPLATE_OPTIONS)

    @cached_property
    def opens_thinking(self) -> bool:
        """Whether the prompt this template ends a conversation with already opens the reply's
        `<think>` section (DeepSeek R1's, Qwen 3 Thinking-2507's): the reply then starts inside
        its reasoning and only closes it."""
        try:
            prompt = self.render([{"role": "user", "content": "Hi"}], add_generation_prompt=True)
        except TokenizerError:
            return False
        return prompt.rstrip().endswith("<think>")

    @staticmethod
    def _raise(message: str):
        raise TemplateError(message)

    def render(
        self, messages: Sequence[dict[str, str]], add_generation_prompt: bool = True,
        options: Mapping[str, Any] | None = None,
    ) -> str:
        """`options`: switches for the template (only those it reads, `self.options`, are passed)."""
        passed = {k: v for k, v in (options or {}).items() if k in self.options}
        try:
            return self._template.render(
                messages=list(messages),
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                **passed,
            )
        except TemplateError as e:
            raise TokenizerError(f"the chat template refused these messages: {e}") from e
        except Exception as e:  # the template is the model's code: 1/0, a too-big range(), a bad +
            raise TokenizerError(f"the chat template failed: {type(e).__name__}: {e}") from e


class Tokenizer:
    """Text <-> token ids for one model, plus what generation needs to know about special tokens.

    Backends implement `_encode(text, special)` and `_decode(ids)`; everything else is shared.
    `token_bytes[i]` is the exact byte string token i stands for (what the detokenizer joins).
    """

    def __init__(
        self,
        token_bytes: list[bytes],
        pieces: list[str],
        special_ids: set[int],
        eos_ids: set[int],
        bos_id: int | None,
        add_bos: bool,
        chat_template: ChatTemplate | None,
        strip_leading_space: bool = False,
    ):
        self.token_bytes, self.pieces = token_bytes, pieces
        self.special_ids, self.eos_ids = special_ids, eos_ids
        self.bos_id, self.add_bos = bos_id, add_bos
        self.chat_template = chat_template
        self.strip_leading_space = strip_leading_space

    @property
    def vocab_size(self) -> int:
        return len(self.pieces)

    @property
    def has_chat_template(self) -> bool:
        return self.chat_template is not None

    def encode(self, text: str, special: bool = False, add_bos: bool | None = None) -> list[int]:
        """Token ids of `text`; `special` parses special-token text such as <|im_start|>.

        Raises TokenizerError if `text` is not valid text (a lone surrogate).
        """
        check_text(text)
        ids = self._encode(text, special)
        if (self.add_bos if add_bos is None else add_bos) and self.bos_id is not None:
            if not ids or ids[0] != self.bos_id:
                ids = [self.bos_id, *ids]
        return ids

    def decode(self, ids: Sequence[int], skip_special: bool = False) -> str:
        data = b"".join(
            self.token_bytes[i] for i in ids if not (skip_special and i in self.special_ids)
        )
        text = data.decode("utf-8", errors="replace")
        if self.strip_leading_space and text.startswith(" "):
            text = text[1:]
        return text

    def piece(self, token_id: int) -> str:
        """The token as readable text (bytes that are not whole characters shown as <0xNN>)."""
        data = self.token_bytes[token_id]
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return "".join(f"<0x{b:02X}>" for b in data)

    def apply_chat_template(
        self, messages: Sequence[dict[str, str]], add_generation_prompt: bool = True,
        options: Mapping[str, Any] | None = None,
    ) -> str:
        template = self.chat_template or ChatTemplate(CHATML_TEMPLATE)
        return template.render(messages, add_generation_prompt, options)

    def encode_chat(
        self, messages: Sequence[dict[str, str]], add_generation_prompt: bool = True,
        options: Mapping[str, Any] | None = None,
    ) -> list[int]:
        """Token ids of a conversation rendered with the model's chat template.

        Only the template's own markers become control tokens: special-token text inside any
        message string (typed by the user, remembered, written by the model) stays plain text
        (engine/special_text.py). Raises TokenizerError when the template fails or a message
        is not valid text.
        """
        for n, message in enumerate(messages, 1):
            _check_strings(message, f"message {n}")
        template = self.chat_template or ChatTemplate(CHATML_TEMPLATE)
        try:
            ids = special_text.encode_chat(
                messages,
                lambda defused: template.render(defused, add_generation_prompt, options),
                self.special_tokens,
                lambda text: self._encode(text, special=False),
            )
        except PlaceholderCut as e:
            raise TokenizerError(f"the chat template cannot take these messages: {e}") from e
        if self.add_bos and self.bos_id is not None and (not ids or ids[0] != self.bos_id):
            ids = [self.bos_id, *ids]
        return ids

    @cached_property
    def special_tokens(self) -> SpecialTokens:
        """The control tokens in text form (what special parsing turns into single ids). Two control
        tokens spelled alike: the later id, as the vocabulary's own text -> id lookup (and the
        `tokenizers` library's added tokens) has it, whatever order the id set iterates in."""
        return SpecialTokens({self.pieces[i]: i for i in sorted(self.special_ids) if self.pieces[i]})

    def detokenizer(self) -> StreamingDetokenizer:
        return StreamingDetokenizer(self)

    def piece_scores(self) -> list[float] | None:
        """SentencePiece vocabularies: each piece's score (what the tokenizer maximises); else None."""
        return None

    def _encode(self, text: str, special: bool) -> list[int]:
        raise NotImplementedError


class HFTokenizer(Tokenizer):
    """Backed by a `tokenizers.Tokenizer` (byte-level BPE, or tokenizer.json of any kind)."""

    def __init__(
        self, backend, bpe_merges: list[tuple[str, str]] | None = None, whole_pieces: bool | None = None, **kwargs
    ):
        """`bpe_merges`: the byte-level BPE merges the backend was built from, in rank order, where
        the builder has them (a GGUF's `tokenizer.ggml.merges`): the Inspector's Vocabulary reads
        them from here rather than serialising the whole backend to JSON (one call that holds the
        interpreter for ~0.3 s and stalled the window). `whole_pieces`: whether the BPE takes a
        pre-tokenized piece that is itself a token whole (see `whole_pieces`); None: the backend's
        BPE model says (a tokenizer.json's `ignore_merges`)."""
        super().__init__(**kwargs)
        self._backend = backend
        self._lock = threading.Lock()
        self._bpe_merges = bpe_merges
        self._whole_pieces = whole_pieces

    @property
    def bpe_merges(self) -> list[tuple[str, str]] | None:
        return self._bpe_merges

    @property
    def whole_pieces(self) -> bool:
        """True when the BPE takes a pre-tokenized piece that is itself in the vocabulary as that one
        token, without merging (`ignore_merges`: Llama 3's tokenizer.json, and the GGUF pre-tokenizers
        in WHOLE_PIECE_PRE); False for a BPE that only merges, and for any other model."""
        if self._whole_pieces is not None:
            return self._whole_pieces
        return bool(getattr(self.backend.model, "ignore_merges", False))

    def _encode(self, text: str, special: bool) -> list[int]:
        with self._lock:  # encode_special_tokens is state on the shared backend
            self._backend.encode_special_tokens = not special
            return self._backend.encode(text, add_special_tokens=False).ids

    @property
    def backend(self):
        return self._backend

    @cached_property
    def special_tokens(self) -> SpecialTokens:
        """As the library matches them: with each token's whitespace-absorbing flags."""
        added = {
            t.content: t for i, t in self._backend.get_added_tokens_decoder().items() if i in self.special_ids
        }
        base = super().special_tokens
        return SpecialTokens(
            base.ids,
            lstrip=frozenset(c for c, t in added.items() if t.lstrip),
            rstrip=frozenset(c for c, t in added.items() if t.rstrip),
        )


class MergeRanks(Mapping[tuple[str, str], int]):
    """A native BPE model's merge ranks as a read-only mapping (left, right) -> rank; a rule named
    twice has its later rank, as the model merges by it."""

    def __init__(self, model, rules: Sequence[str]):
        self._model, self._rules = model, rules

    def __getitem__(self, pair: tuple[str, str]) -> int:
        """KeyError for anything that is not a rule's pair, as a dict of the rules would: another
        tuple, non-str parts, a lone surrogate (the native lookup takes UTF-8 strings only)."""
        rank = None
        if isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair):
            try:
                rank = self._model.rank(*pair)
            except TypeError:  # a part that is no UTF-8 (a lone surrogate): no token spells it
                rank = None
        if rank is None:
            raise KeyError(pair)
        return rank

    def __len__(self) -> int:
        return len(set(self._rules))  # a rule named twice is one key

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(dict.fromkeys(_merge_pairs(self._rules)))


class NativeBPETokenizer(HFTokenizer):
    """A GGUF's byte-level BPE, merged by Glassbox's native BPE (engine/_native/bpe.h: the rules of
    `tokenizers`' BPE model, built without holding the GIL).

    `tokenizers` still cuts the text: its pre-tokenizer (the regex split and the byte-to-character
    map) makes the pieces, and only the merging is ours. Building the vocabulary this way takes
    ~20 ms off the interpreter's lock where `models.BPE(vocab, merges)` held it for ~75-90 ms,
    stalling the window and the rest of a model load (docs/benchmarks.md, "Tokenizer built
    without the GIL"). The `tokenizers` backend itself (export to a model folder) is built the
    first time it is asked for; `tests/engine/test_native_bpe.py` holds both to the same ids.
    """

    def __init__(self, model, pre_tokenizer, merge_rules: list[str], build_backend: Callable[[], Backend], **kwargs):
        """`model`: the native BytePairModel of the vocabulary and `merge_rules` ("left right",
        rank order); `build_backend()`: the equivalent `tokenizers.Tokenizer`."""
        super().__init__(None, **kwargs)
        self._model, self._pre = model, pre_tokenizer
        self._merge_rules, self._build_backend = merge_rules, build_backend

    def _encode(self, text: str, special: bool) -> list[int]:
        ids: list[int] = []
        for part in self.special_tokens.split(text) if special else [text]:
            if isinstance(part, int):
                ids.append(part)
            else:
                ids.extend(self._model.encode([piece for piece, _span in self._pre.pre_tokenize_str(part)]))
        return ids

    @cached_property
    def backend(self):
        return self._build_backend()

    @cached_property
    def bpe_merges(self) -> list[tuple[str, str]]:
        return _merge_pairs(self._merge_rules)

    @cached_property
    def merge_ranks(self) -> MergeRanks:
        """(left, right) -> the rank of the rule joining them, read from the native tables (a dict
        of 49k pairs took ~40 ms holding the GIL after every load, for the Inspector)."""
        return MergeRanks(self._model, self._merge_rules)

    @cached_property
    def special_tokens(self) -> SpecialTokens:
        """The control tokens as the backend would match them: added whole, with no whitespace
        flags (`tokenizer_from_gguf`), so the base class's reading is the backend's."""
        return Tokenizer.special_tokens.func(self)


class SentencePieceTokenizer(Tokenizer):
    """Backed by a `sentencepiece` processor; special parsing cuts the text at the control pieces'
    text and encodes each piece on its own (as llama.cpp and transformers do)."""

    def __init__(self, processor, **kwargs):
        super().__init__(**kwargs)
        self._sp = processor

    def piece_scores(self) -> list[float]:
        return [self._sp.GetScore(i) for i in range(self._sp.GetPieceSize())]

    def _encode(self, text: str, special: bool) -> list[int]:
        if not special:
            return self._sp.encode(text)
        ids: list[int] = []
        for part in self.special_tokens.split(text):
            if isinstance(part, int):
                ids.append(part)
            else:
                ids.extend(self._sp.encode(part))
        return ids


class StreamingDetokenizer:
    """Feed token ids one at a time; get back only whole characters.

    Bytes of a character split across tokens (emoji, CJK, accents in byte-level BPE) are held back
    until the character is complete, so no UTF-8 character is ever emitted in halves.
    """

    def __init__(self, tokenizer: Tokenizer):
        self._tok = tokenizer
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False
        self.text = ""

    def add(self, token_id: int) -> str:
        """Add one token; return the text that became complete with it (maybe "")."""
        delta = self._decoder.decode(self._tok.token_bytes[token_id])
        if not self._started and delta:
            self._started = True
            if self._tok.strip_leading_space and delta.startswith(" "):
                delta = delta[1:]
        self.text += delta
        return delta

    def flush(self) -> str:
        """End of stream: whatever bytes are left (an incomplete character becomes U+FFFD)."""
        delta = self._decoder.decode(b"", final=True)
        self.text += delta
        return delta


# ---------------------------------------------------------------------------------------------
# Construction from a GGUF file's metadata or a model folder.


def _pre_tokenizer(pre: str):
    if pre in ("default", "gpt2", "gpt-2"):
        return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre == "smollm":  # every numeric character on its own (\p{N}), then GPT-2's split
        return pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
            ]
        )
    if pre in ("llama3", "llama-bpe"):
        return pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    raise TokenizerError(
        f"unsupported pre-tokenizer {pre!r} in this GGUF (supported: {', '.join(SUPPORTED_PRE)})"
    )


def tokenizer_from_gguf(meta: dict[str, Any]) -> Tokenizer:
    """The tokenizer in GGUF `tokenizer.ggml.*` metadata: byte-level BPE or SentencePiece."""
    kind = meta.get("tokenizer.ggml.model")
    if kind == "llama":  # SentencePiece: tokens, scores and types, tokenized as llama.cpp does
        from engine.spm import sentencepiece_from_gguf

        return sentencepiece_from_gguf(
            meta, lambda bos, eos: _template(meta.get("tokenizer.chat_template"), bos, eos)
        )
    if kind != "gpt2":
        raise TokenizerError(
            f"unsupported GGUF tokenizer model {kind!r} (supported: 'gpt2' byte-level BPE and "
            "'llama' SentencePiece); use the model's folder (tokenizer.json) instead"
        )
    tokens: list[str] = list(meta["tokenizer.ggml.tokens"])
    merge_rules: list[str] = list(meta.get("tokenizer.ggml.merges", []))
    control = _control_ids(meta.get("tokenizer.ggml.token_type"), len(tokens))
    pre_name = str(meta.get("tokenizer.ggml.pre", "default"))
    pre, whole_pieces = _pre_tokenizer(pre_name), pre_name in WHOLE_PIECE_PRE

    def build_backend() -> Backend:
        try:
            model = models.BPE(dict(zip(tokens, range(len(tokens)), strict=True)), _merge_pairs(merge_rules),
                               ignore_merges=whole_pieces)
        except Exception as e:  # the library raises a bare Exception naming the merge's token
            raise TokenizerError(f"this GGUF's byte-level BPE vocabulary is damaged: {e}") from e
        backend = Backend(model)
        backend.pre_tokenizer = pre
        backend.decoder = decoders.ByteLevel()
        backend.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i in control])
        return backend

    eos = _scalar(meta.get("tokenizer.ggml.eos_token_id"))
    eot = _scalar(meta.get("tokenizer.ggml.eot_token_id"))
    bos = _scalar(meta.get("tokenizer.ggml.bos_token_id"))
    template = meta.get("tokenizer.chat_template")
    shared = dict(
        token_bytes=LazyTokenBytes(len(tokens), lambda i: byte_level_bytes(tokens[i])),
        pieces=tokens,
        special_ids=set(control),
        eos_ids={i for i in (eos, eot) if i is not None},
        bos_id=bos,
        add_bos=bool(_scalar(meta.get("tokenizer.ggml.add_bos_token", False))),
        chat_template=_template(
            template,
            tokens[bos] if bos is not None else "",
            tokens[eos] if eos is not None else "",
        ),
    )
    try:
        model = native.byte_pair_model(tokens, merge_rules, whole_pieces)
    except (ValueError, TypeError) as e:  # a merge without a space or naming a token not in the vocabulary;
        # a token or merge that is not a string (TypeError naming it)
        raise TokenizerError(f"this GGUF's byte-level BPE vocabulary is damaged: {e}") from e
    if model is None:  # the native module is not built: the `tokenizers` BPE does the merging
        return HFTokenizer(build_backend(), bpe_merges=_merge_pairs(merge_rules), whole_pieces=whole_pieces, **shared)
    return NativeBPETokenizer(model, pre, merge_rules, build_backend, whole_pieces=whole_pieces, **shared)


def _merge_pairs(rules: list[str]) -> list[tuple[str, str]]:
    """GGUF merge rules ("left right") as the pairs `models.BPE` takes, in rank order."""
    return [tuple(m.split(" ", 1)) for m in rules]  # type: ignore[misc]


def tokenizer_from_folder(folder: Path, config: dict[str, Any]) -> Tokenizer:
    """From tokenizer.json (preferred) or a SentencePiece tokenizer.model, plus tokenizer_config.json."""
    tconf: dict[str, Any] = {}
    if (folder / "tokenizer_config.json").exists():
        tconf = json.loads((folder / "tokenizer_config.json").read_text())
    template = tconf.get("chat_template")
    if (folder / "chat_template.jinja").exists():
        template = (folder / "chat_template.jinja").read_text()
    elif (folder / "chat_template.json").exists():
        template = json.loads((folder / "chat_template.json").read_text()).get("chat_template")
    if isinstance(template, list):  # named templates: take the default one
        template = next((t["template"] for t in template if t.get("name") == "default"), None)
    if (folder / "tokenizer.json").exists():
        return _from_tokenizer_json(folder / "tokenizer.json", tconf, config, template)
    if (folder / "tokenizer.model").exists():
        return _from_sentencepiece(folder / "tokenizer.model", tconf, config, template)
    raise TokenizerError(f"{folder} has no tokenizer (tokenizer.json or tokenizer.model)")


def _token_text(value) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value


def _from_tokenizer_json(path: Path, tconf, config, template) -> Tokenizer:
    try:
        backend = Backend.from_file(str(path))
    except Exception as e:  # the library raises a bare Exception on malformed files
        raise TokenizerError(f"{path} is not a valid tokenizer.json: {e}") from e
    vocab_size = backend.get_vocab_size(with_added_tokens=True)
    vocab = backend.get_vocab(with_added_tokens=True)
    pieces = _pieces(vocab, vocab_size, backend.id_to_token)
    added = backend.get_added_tokens_decoder()  # id -> AddedToken (the file is not parsed twice)
    decoder = backend.decoder.__getstate__().decode() if backend.decoder is not None else "{}"  # its JSON
    byte_level = "ByteLevel" in decoder
    to_bytes = byte_level_bytes if byte_level else sentencepiece_bytes
    token_bytes = LazyTokenBytes(  # each token's bytes on first use (50k-250k tokens, a reply needs hundreds)
        vocab_size, lambda i: added[i].content.encode() if i in added else to_bytes(pieces[i])
    )
    special_ids = {i for i, t in added.items() if t.special}
    eos_text, bos_text = _token_text(tconf.get("eos_token")), _token_text(tconf.get("bos_token"))
    eos_ids = _ids(config.get("eos_token_id")) | ({vocab[eos_text]} if eos_text in vocab else set())
    bos_id = vocab.get(bos_text) if bos_text else _scalar(config.get("bos_token_id"))
    add_bos = bool(tconf.get("add_bos_token", False)) and bos_id is not None
    return HFTokenizer(
        backend,
        token_bytes=token_bytes,
        pieces=pieces,
        special_ids=special_ids,
        eos_ids=eos_ids,
        bos_id=bos_id,
        add_bos=add_bos,
        chat_template=_template(template, bos_text or "", eos_text or ""),
        strip_leading_space=not byte_level and "Strip" in decoder,
    )


def _pieces(vocab: dict[str, int], size: int, id_to_token: Callable[[int], str | None]) -> list[str]:
    """Token i's spelling for every id below `size`, from the library's vocabulary dict (one call,
    where asking for each id took ~35 ms of a load); an id the dict lacks (two ids spelled alike)
    is asked for on its own."""
    pieces: list[str | None] = [None] * size
    for piece, i in vocab.items():
        if 0 <= i < size:
            pieces[i] = piece
    return [p if p is not None else (id_to_token(i) or "") for i, p in enumerate(pieces)]


def _from_sentencepiece(path: Path, tconf, config, template) -> Tokenizer:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor()
    try:
        sp.Load(str(path))
    except (OSError, RuntimeError) as e:
        raise TokenizerError(f"{path} is not a valid SentencePiece model: {e}") from e
    n = sp.GetPieceSize()
    pieces = [sp.IdToPiece(i) for i in range(n)]
    special = {i for i in range(n) if sp.IsControl(i) or sp.IsUnknown(i)}
    token_bytes = [b"" if i in special else sentencepiece_bytes(p) for i, p in enumerate(pieces)]
    bos_id = sp.bos_id() if sp.bos_id() >= 0 else None
    eos_ids = _ids(config.get("eos_token_id")) | ({sp.eos_id()} if sp.eos_id() >= 0 else set())
    return SentencePieceTokenizer(
        sp,
        token_bytes=token_bytes,
        pieces=pieces,
        special_ids=special,
        eos_ids=eos_ids,
        bos_id=bos_id,
        add_bos=bool(tconf.get("add_bos_token", True)),
        chat_template=_template(
            template, pieces[bos_id] if bos_id is not None else "", pieces[sp.eos_id()] if sp.eos_id() >= 0 else ""
        ),
        strip_leading_space=True,
    )


def _template(source: str | None, bos: str, eos: str) -> ChatTemplate | None:
    return ChatTemplate(source, bos, eos) if source else None


def _control_ids(types, n_tokens: int) -> list[int]:
    """Ids whose GGUF token type is CONTROL (3) or USER_DEFINED (4): the special tokens. `types` is
    the file's array (numpy, one entry per token; a vocabulary has 50k-262k) or None (no types).
    TokenizerError when it has not one entry per token (a type past the vocabulary would name no
    token; one missing would leave a control token plain text)."""
    if types is None:
        return []
    kinds = np.asarray(types)
    if kinds.shape != (n_tokens,):
        raise TokenizerError(
            f"this GGUF's vocabulary is damaged: tokenizer.ggml.token_type has {kinds.size} entries for "
            f"{n_tokens} tokens"
        )
    return np.flatnonzero((kinds == 3) | (kinds == 4)).tolist()


def _scalar(value):
    if value is None:
        return None
    return value.item() if hasattr(value, "item") else value


def _ids(value) -> set[int]:
    if value is None:
        return set()
    if isinstance(value, (list, tuple)):
        return {int(v) for v in value}
    return {int(value)}
