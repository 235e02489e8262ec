"""The headless CLI contract (DESIGN.md): tokenize, logprobs, inspect, generate, bench, convert, fetch.

Errors print one clear line to stderr and exit non-zero; never a bare traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable

EXIT_ERROR = 2


class CliError(Exception):
    pass


def _load(spec: str, weights: str = "auto"):
    from engine import default_model
    from engine.loading import WeightPolicy, load

    lm = load(default_model.resolve(spec), WeightPolicy(weights))
    if lm.info.speed_advice:
        print(f"note: {lm.info.speed_advice}", file=sys.stderr)
    return lm


def _valid_text(text: str, where: str, from_json: bool = False) -> str:
    """`text`, or CliError saying what in it is not text.

    Python hands over a command-line or stdin byte that is not UTF-8 as a surrogate U+DC80..U+DCFF
    (surrogateescape); a JSON string can hold any lone surrogate ("\\ud800"). Neither is a character.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        bad, at = text[e.start], e.start + 1
        if "\udc80" <= bad <= "\udcff" and not from_json:
            raise CliError(f"{where} is not valid UTF-8: byte 0x{ord(bad) - 0xDC00:02X} at character {at}") from None
        raise CliError(
            f"{where} holds a lone surrogate \\u{ord(bad):04x} at character {at} (half of a UTF-16 pair, "
            "not a character)"
        ) from None
    return text


def _read_inputs(args, field: str) -> Iterable[str]:
    """The single TEXT/PROMPT argument, stdin, or (with --jsonl) one JSON string per stdin line."""
    value = getattr(args, field)
    if args.jsonl:
        if value is not None:
            raise CliError(f"--jsonl reads from stdin; do not also pass {field.upper()}")
        for n, line in enumerate(sys.stdin, 1):
            if line.strip():
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as e:
                    raise CliError(f"stdin line {n} is not JSON: {e}") from e
                if not isinstance(item, str):
                    raise CliError(f"stdin line {n} must be a JSON string")
                yield _valid_text(item, f"stdin line {n}", from_json=True)
        return
    if value is not None:
        yield _valid_text(value, f"the {field}")
    else:
        yield _valid_text(sys.stdin.read(), "stdin")


def cmd_tokenize(args) -> int:
    lm = _load(args.model)
    tok = lm.tokenizer
    for text in _read_inputs(args, "text"):
        ids = tok.encode(text, special=args.special)
        pieces = [tok.piece(i) for i in ids]
        if args.json or args.jsonl:
            print(json.dumps({"ids": ids, "pieces": pieces}, ensure_ascii=False), flush=True)
        else:
            print(" ".join(f"{i}:{p!r}" for i, p in zip(ids, pieces, strict=True)))
    return 0


def cmd_logprobs(args) -> int:
    from engine.next_token import next_token_logprobs

    if args.top < 1:
        raise CliError("--top must be at least 1")
    lm = _load(args.model)
    for prompt in _read_inputs(args, "prompt"):
        ids = lm.tokenizer.encode(prompt, special=args.special)
        if not ids:
            raise CliError("the prompt is empty: nothing to predict from")
        top = next_token_logprobs(lm.model, ids, args.top)
        if args.json or args.jsonl:
            print(json.dumps({"ids": ids, "top": [[i, lp] for i, lp in top]}), flush=True)
        else:
            for i, lp in top:
                print(f"{i:>6} {lp:9.4f}  {lm.tokenizer.piece(i)!r}")
    return 0


def cmd_inspect(args) -> int:
    from engine.inspect import inspect_prompt

    if args.top < 1:
        raise CliError("--top must be at least 1")
    lm = _load(args.model)
    ids = lm.tokenizer.encode(args.prompt, special=args.special)
    if not ids:
        raise CliError("the prompt is empty: nothing to inspect")
    result = inspect_prompt(lm.model, ids, args.layer, args.head, args.position, args.top)
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    piece = lm.tokenizer.piece
    pos = len(ids) - 1 if args.position is None else args.position
    print(f"{len(ids)} tokens; position {pos} reads {piece(ids[pos])!r}")
    for i, (norm, entry) in enumerate(zip(result.residual_norms[1:], result.logit_lens, strict=True)):
        print(f"after block {i:>2}: |residual| {norm:8.2f}  lens {piece(entry[0][0])!r} {entry[0][1]:.3f}")
    for i, lp in result.next_token:
        print(f"{i:>6} {lp:9.4f}  {piece(i)!r}")
    return 0


def cmd_generate(args) -> int:
    from engine.generate import GenerationConfig, generate
    from engine.sampling import SamplingSettings

    settings = SamplingSettings(
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
        repetition_penalty=args.repetition_penalty, seed=args.seed,
    )
    problems = settings.validate()
    if problems:
        raise CliError("; ".join(problems))
    if not _valid_text(args.prompt, "the prompt").strip():
        raise CliError("the prompt is empty")
    if args.max_tokens < 1:
        raise CliError("--max-tokens must be at least 1")
    lm = _load(args.model)
    tok = lm.tokenizer
    if args.chat:
        ids = tok.encode_chat([{"role": "user", "content": args.prompt}])
    else:
        ids = tok.encode(args.prompt, special=args.special)
    cache = lm.model.make_cache()
    config = GenerationConfig(max_tokens=args.max_tokens, context_length=lm.info.context_length)
    out_ids, text, reason = [], [], None
    for ev in generate(lm.model, tok, ids, cache, settings, config):
        if ev.token is not None:
            out_ids.append(ev.token)
        text.append(ev.text)
        if not args.json:
            sys.stdout.write(ev.text)
            sys.stdout.flush()
        reason = ev.finish_reason
    if args.json:
        print(json.dumps({"ids": out_ids, "text": "".join(text), "finish_reason": reason}, ensure_ascii=False))
    else:
        print()
    return 0


def cmd_bench(args) -> int:
    from engine.bench import run_bench

    result = run_bench(args.model, args.prompt_tokens, args.gen_tokens)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>18}: {v:.3f}" if isinstance(v, float) else f"{k:>18}: {v}")
    return 0


def cmd_chatbench(args) -> int:
    from engine.chatbench import format_table, run_chat

    if args.turns < 1 or args.max_tokens < 1:
        raise CliError("--turns and --max-tokens must be at least 1")
    result = run_chat(_load(args.model), args.turns, not args.no_prompt_cache, args.max_tokens)
    print(json.dumps(result) if args.json else format_table(result))
    return 0


def cmd_convert(args) -> int:
    from engine.export import export_folder

    lm = _load(args.model, args.weights)
    out = export_folder(lm, args.output)
    print(f"wrote {out}")
    return 0


def cmd_fetch(args) -> int:
    from engine import default_model, model_catalog

    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    if args.name == "default":
        path = default_model.fetch(log=log)
    else:
        model = model_catalog.CATALOG.get(args.name)
        if model is not None and model_catalog.licence(model).needs_acceptance and not model_catalog.accepted(model):
            _accept_licence(model, args.accept_licence)
        path = model_catalog.fetch(args.name, log=log)
    print(path)
    return 0


def _accept_licence(model, given: bool) -> None:
    """Show the model's terms before first fetch; accepted by --accept-licence or by answering y at
    a terminal (remembered in the models dir), else CliError and nothing is fetched."""
    from engine import model_catalog

    terms = model_catalog.licence(model)
    print(
        f"{model.display_name} is licensed under the {terms.name}"
        + (f": {terms.url}" if terms.url else "")
        + f". Its full text will be kept beside the model as {model_catalog.license_path(model)}.",
        file=sys.stderr,
    )
    if not given:
        if not sys.stdin.isatty():
            raise CliError(
                f"{model.name} needs its licence accepted first ({terms.name}); stdin is not a terminal, so fetch "
                "cannot ask: read the terms and pass --accept-licence"
            )
        # asked on stderr: stdout carries only the path (`--model "$(python -m engine fetch NAME)"`)
        print(f"Accept the {terms.name}? [y/N] ", end="", file=sys.stderr, flush=True)
        answer = sys.stdin.readline()
        if answer.strip().lower() not in ("y", "yes"):
            raise CliError(f"licence not accepted: {model.name} was not fetched")
    model_catalog.accept(model)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m engine", description="Glassbox headless engine")
    sub = ap.add_subparsers(dest="command", required=True)

    def model_arg(p):
        p.add_argument("--model", default="default", help="`default`, a GGUF file or a model folder")

    p = sub.add_parser("tokenize", help="text -> token ids and pieces")
    model_arg(p)
    p.add_argument("--special", action="store_true", help="parse special-token text (<|im_start|>)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--jsonl", action="store_true", help="batch: one JSON string per stdin line")
    p.add_argument("text", nargs="?")
    p.set_defaults(func=cmd_tokenize)

    p = sub.add_parser("logprobs", help="next-token distribution after a verbatim prompt")
    model_arg(p)
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--special", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--jsonl", action="store_true")
    p.add_argument("prompt", nargs="?")
    p.set_defaults(func=cmd_logprobs)

    p = sub.add_parser("inspect", help="the Inspector's numbers for a verbatim prompt")
    model_arg(p)
    p.add_argument("--special", action="store_true")
    p.add_argument("--layer", type=int, default=0, help="the attention map's layer (0-based, default 0)")
    p.add_argument("--head", type=int, default=0, help="the attention map's query head (0-based, default 0)")
    p.add_argument("--position", type=int, help="the inspected position (0-based, default the last token)")
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.add_argument("prompt")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("generate", help="generate text")
    model_arg(p)
    p.add_argument("--chat", action="store_true", help="wrap PROMPT as a user turn (chat template)")
    p.add_argument("--special", action="store_true")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--min-p", type=float, default=0.0)
    p.add_argument("--repetition-penalty", type=float, default=1.0)
    p.add_argument("--seed", type=int)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--json", action="store_true")
    p.add_argument("prompt")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("bench", help="prefill/decode speed, time to first token, load time, memory")
    model_arg(p)
    p.add_argument("--prompt-tokens", type=int, default=512)
    p.add_argument("--gen-tokens", type=int, default=128)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("chatbench", help="per-turn TTFT of a scripted chat, with and without the prompt cache")
    model_arg(p)
    p.add_argument("--turns", type=int, default=10)
    p.add_argument("--max-tokens", type=int, default=48, help="longest reply per turn")
    p.add_argument("--no-prompt-cache", action="store_true", help="prefill the whole conversation every turn")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_chatbench)

    p = sub.add_parser("convert", help="export a model to an MLX safetensors folder")
    model_arg(p)
    p.add_argument("output")
    p.add_argument("--weights", choices=("auto", "float32", "stored"), default="auto",
                   help="float32: expand quantized weights; stored: keep the file's quantization; "
                   "auto: as the app holds them")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("fetch", help="download and verify the default model, or one known by name")
    p.add_argument("name", nargs="?", default="default", help="`default` or e.g. `gemma3-270m`")
    p.add_argument("--accept-licence", "--accept-license", action="store_true", dest="accept_licence",
                   help="accept the model's licence without being asked (needed when stdin is not a terminal)")
    p.set_defaults(func=cmd_fetch)
    return ap


def main(argv: list[str] | None = None) -> int:
    from engine.default_model import FetchError
    from engine.loading import ModelLoadError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CliError, ModelLoadError, FetchError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # the contract is one line on stderr, never a bare traceback
        print(f"error: unexpected {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_ERROR
