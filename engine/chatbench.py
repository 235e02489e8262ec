"""`python -m engine chatbench`: a scripted multi-turn chat, with and without the prompt cache.

Replays `USER_TURNS` (short questions and four long pasted texts) against the model's own greedy
replies (at most `max_tokens` each), the way the app sends each request: the whole conversation
rendered with the chat template, caches checked out of and back into a `PromptCache`. Per turn:
prompt_tokens, cached_tokens (reused), prefilled_tokens (computed), new_tokens (tokens the
previous turn never computed: the reply's last token and closing tokens, the user message, the
generation prompt; with the prompt cache, prefilled_tokens should equal it), ttft_s (checkout + prefill + first token) and decode_tps.

Also `kv_agreement`: how often greedy tokens from a quantized KV cache equal the plain cache's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from engine.generate import GenerationConfig, generate
from engine.prompt_cache import PromptCache, common_prefix_length
from engine.sampling import GREEDY

SYSTEM = "You are Glassbox, a concise and friendly assistant running on the user's own computer."

REPORT = """\
Quarterly report, field operations (draft, please do not circulate)

Summary. Over the last three months the regional teams completed 412 service visits, up from 355
in the previous quarter, while the average time on site fell from 3.1 to 2.7 hours. Most of the
gain came from the new parts kits, which let technicians finish a repair on the first visit instead
of ordering a missing component and returning days later. First-visit resolution rose from 71% to
83%. Customer satisfaction, measured by the short survey sent after each visit, stayed flat at 4.4
out of 5; the comments most often praised punctuality and most often complained about the booking
process, which still requires a phone call during office hours.

Costs. Travel costs grew by 9% because the northern team covered two additional districts after a
colleague left in the spring. Fuel prices were stable. Parts spending rose by 14%, which is expected
given the larger kits, but returns of unused parts also rose, so the net increase is closer to 6%.
Overtime fell for the first time this year. We recommend keeping the kits as they are for another
quarter before deciding whether the two least used items can be removed.

Risks. Two of the five vans are due for replacement and one failed its inspection in August; it was
repaired but the workshop estimates it has at most a year left. The booking system's vendor has
announced that the current version will not be supported after next March. Hiring remains slow:
the open position in the north has had only four applicants in ten weeks, none of whom had the
required electrical certification.

Next steps. Replace the failed van this quarter and budget the second for early next year; start
the evaluation of an online booking tool with a pilot in the southern district; advertise the open
position again with a training offer for candidates without the certification; and review the
parts kits with the technicians at the December meeting.
"""

CODE = '''\
import csv
from collections import defaultdict
from datetime import datetime


def load_visits(path):
    """Read the visits export: one row per service visit."""
    visits = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            row["start"] = datetime.fromisoformat(row["start"])
            row["end"] = datetime.fromisoformat(row["end"])
            row["resolved"] = row["resolved"] == "yes"
            visits.append(row)
    return visits


def hours_on_site(visit):
    return (visit["end"] - visit["start"]).total_seconds() / 3600


def summarize(visits):
    by_team = defaultdict(list)
    for v in visits:
        by_team[v["team"]].append(v)
    summary = {}
    for team, rows in by_team.items():
        resolved = sum(1 for r in rows if r["resolved"])
        summary[team] = {
            "visits": len(rows),
            "hours": sum(hours_on_site(r) for r in rows) / len(rows),
            "first_visit_rate": resolved / len(rows),
        }
    return summary


if __name__ == "__main__":
    import sys

    for team, s in sorted(summarize(load_visits(sys.argv[1])).items()):
        print(f"{team:10} {s['visits']:4d} {s['hours']:5.2f} {s['first_visit_rate']:.0%}")
'''

EMAIL = """\
From: Dana (workshop)
To: Field operations
Subject: Re: van 3 inspection

Hi all, a short update on van 3 after Tuesday's inspection. The brakes and the steering passed, but
the inspector flagged corrosion on the rear subframe and a leak in the exhaust. We fixed the leak
the same day. The subframe can be treated, which buys some time, but a proper repair would cost
more than the van is worth. My honest advice is to treat it now, keep it on short routes only, and
plan its replacement within twelve months. If you need it for the long northern routes in winter,
please tell me before November so we can look at a rental. I also noticed the tyres on van 5 are
close to the legal limit; I have ordered a set and will fit them next week unless someone objects.

Best, Dana

> From: Sam (field operations)
> Could you tell us whether van 3 is safe to use for the rest of the year, and what it would cost
> to keep it running? We are preparing the budget and need a number by the end of the month.
"""

NOTES = """\
Notes from the last team meeting (September)

Attendees: Sam, Dana, Priya, Tomasz, Lea, and Marco from finance for the first half hour.

1. Parts kits. Priya presented the results of the first month with the new kits. Technicians like
them, but the kits are heavy and two items (the spare thermostat and the long hose) were used only
twice. Tomasz suggested keeping them until the winter, when heating repairs peak. Agreed.

2. Booking. Lea reported that about a third of the calls to book a visit come in after 5 pm and go
to voicemail, and that roughly one in ten of those customers never calls back. Marco asked what an
online booking tool would cost; Lea will collect three quotes. Sam asked that any tool must let
customers choose a two-hour window, not just a day.

3. Vans. Dana warned that van 3 is getting old and that the workshop will give a firm opinion after
the inspection. Marco said that a replacement this year is possible only if it is requested before
the budget closes at the end of October.

4. Hiring. The northern position is still open. Tomasz proposed offering the electrical
certification course to a candidate who is otherwise a good fit; the course takes six weeks and
costs about as much as two months of overtime in the north. Sam will check with HR.

5. Any other business. Lea asked whether the team could get a second tablet for the southern van.
Dana reminded everyone that the December meeting will be in person.

Actions: Lea, quotes for booking tools; Dana, inspection report for van 3; Sam, HR question about
the certification course; Priya, review of the parts kits in December.
"""

USER_TURNS = [
    "Hi! Can you help me prepare for a team meeting tomorrow?",
    "Here is the draft report I will present:\n\n" + REPORT + "\nWhat are the three most important points?",
    "Which numbers in it would you put on a slide?",
    "The first-visit resolution went from 71% to 83%. How much is that in relative terms?",
    "This is the script that produced the numbers:\n\n" + CODE + "\nDoes it compute the average hours on site correctly?",
    "How would I add the total travel cost per team to the summary?",
    "And here is an email from the workshop about one of the vans:\n\n" + EMAIL + "\nWhat should I decide about van 3?",
    "Write two sentences I could say about the vans in the meeting.",
    "These are my notes from the previous meeting:\n\n" + NOTES + "\nWhich actions are still open?",
    "Thanks. Give me a one-line summary of the whole meeting plan.",
]

AGREEMENT_PROMPTS = [
    "Explain in a few sentences why the sky is blue.",
    "Write a short poem about a lighthouse.",
    "What are three tips for learning a new language?",
    "Summarize the plot of Romeo and Juliet.",
    "How do I make a simple tomato sauce?",
]


def run_chat(
    lm,
    turns: int = 10,
    prompt_cache: bool = True,
    max_tokens: int = 48,
    user_turns: Sequence[str] = USER_TURNS,
) -> dict:
    """Replay `turns` user messages; one dict per turn (see the module docstring)."""
    model, tok = lm.model, lm.tokenizer
    fresh = model.make_cache
    pc = PromptCache(fresh) if prompt_cache else None
    config = GenerationConfig(max_tokens=max_tokens, context_length=lm.info.context_length)
    list(generate(model, tok, tok.encode("Hello there"), fresh(), GREEDY, GenerationConfig(max_tokens=4)))

    messages = [{"role": "system", "content": SYSTEM}]
    previous: list[int] = []  # tokens the last turn computed: its prompt and reply (but the last token)
    rows = []
    for i in range(turns):
        messages.append({"role": "user", "content": user_turns[i % len(user_turns)]})
        prompt = tok.encode_chat(messages)
        start = time.perf_counter()
        caches, reused = pc.checkout(prompt) if pc is not None else (fresh(), 0)
        stamps, out = [], []
        for ev in generate(model, tok, prompt, caches, GREEDY, config):
            stamps.append(time.perf_counter())
            if ev.token is not None:
                out.append(ev.token)
        if pc is not None:
            pc.checkin((prompt + out)[: caches[0].offset], caches)
        shared = common_prefix_length(np.asarray(previous, np.int64), np.asarray(prompt, np.int64))
        rows.append({
            "prompt_tokens": len(prompt),
            "cached_tokens": reused,
            "prefilled_tokens": len(prompt) - reused,
            "new_tokens": len(prompt) - shared,
            "ttft_s": stamps[0] - start,
            "decode_tps": (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0,
            "generated_tokens": len(out),
        })
        previous = (prompt + out)[: caches[0].offset]  # what this turn's model calls computed
        messages.append({"role": "assistant", "content": tok.decode(out, skip_special=True)})
    return {"model": lm.info.name, "prompt_cache": prompt_cache, "max_tokens": max_tokens, "turns": rows}


def _greedy_ids(lm, prompt: list[int], caches, n: int) -> list[int]:
    events = generate(lm.model, lm.tokenizer, prompt, caches, GREEDY, GenerationConfig(max_tokens=n))
    return [e.token for e in events if e.token is not None]


def kv_agreement(
    lm, bits_list: Sequence[int] = (8, 4), n_tokens: int = 32, prompts: Sequence[str] = AGREEMENT_PROMPTS
) -> dict[int, dict]:
    """Greedy tokens with a quantized KV cache against the plain cache, per bit width.

    token_agreement: matching positions / positions (a reply that stops early counts its missing
    positions as different); identical: replies identical to the plain cache's; mean_first_diff:
    mean index of the first differing token (n_tokens when identical).
    """
    encoded = [lm.tokenizer.encode_chat([{"role": "user", "content": p}]) for p in prompts]
    reference = [_greedy_ids(lm, ids, lm.model.make_cache(), n_tokens) for ids in encoded]
    result = {}
    for bits in bits_list:
        matched = total = identical = 0
        first_diffs = []
        for ids, ref in zip(encoded, reference, strict=True):
            got = _greedy_ids(lm, ids, lm.model.make_cache("quantized", bits=bits), n_tokens)
            length = max(len(got), len(ref))
            same = [i < len(got) and i < len(ref) and got[i] == ref[i] for i in range(length)]
            matched, total = matched + sum(same), total + length
            identical += got == ref
            first_diffs.append(same.index(False) if False in same else n_tokens)
        result[bits] = {
            "token_agreement": matched / total,
            "identical": identical,
            "prompts": len(prompts),
            "mean_first_diff": sum(first_diffs) / len(first_diffs),
        }
    return result


def format_table(with_cache: dict, without_cache: dict | None = None) -> str:
    """A Markdown table of the per-turn numbers (both runs side by side when given two)."""
    ttft = "TTFT cached (s)" if without_cache else "TTFT (s)"
    head = f"| turn | prompt | cached | prefilled | new | {ttft} | decode tok/s |"
    rule = "|---:|---:|---:|---:|---:|---:|---:|"
    if without_cache:
        head += " TTFT no cache (s) | speed-up |"
        rule += "---:|---:|"
    lines = [head, rule]
    for i, row in enumerate(with_cache["turns"]):
        line = (
            f"| {i + 1} | {row['prompt_tokens']} | {row['cached_tokens']} | {row['prefilled_tokens']} | "
            f"{row['new_tokens']} | {row['ttft_s']:.3f} | {row['decode_tps']:.1f} |"
        )
        if without_cache:
            base = without_cache["turns"][i]["ttft_s"]
            line += f" {base:.3f} | {base / row['ttft_s']:.1f}x |"
        lines.append(line)
    return "\n".join(lines)
