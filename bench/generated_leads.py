"""Generated lead mails read as the pipeline reads them: exact fields, invented values, cost.

Part 2 of `bench.evaluate_leads`. Each mail from `tests.lead_mails` is parsed (MIME, then the
lead parsers) and every field compared with what the generator wrote: right, invented (written
nothing, read something), missed (written, read nothing) or wrong (read something else).
The time of each parse is taken with `time.perf_counter_ns`, in this one process.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.lead_mails import LEAD_FIELDS, OWN_DOMAINS, SENDERS, RandomChooser, generate

from leadflow.leads.parsers import LeadEmail, parse_lead
from leadflow.mail.mime import parse_message

EXAMPLES = 15
_ABSENT = object()  # a field this parser does not have


def _empty(value: Any) -> bool:
    return value is None or value == {}


@dataclass
class GeneratedScore:
    seed: int
    mails: int = 0
    exceptions: list[str] = field(default_factory=list)
    not_leads: int = 0
    exact_mails: int = 0
    right: Counter[str] = field(default_factory=Counter)
    invented: Counter[str] = field(default_factory=Counter)
    missed: Counter[str] = field(default_factory=Counter)
    wrong: Counter[str] = field(default_factory=Counter)
    absent: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    exact_by_source: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    full_us: list[float] = field(default_factory=list)
    lead_us: list[float] = field(default_factory=list)

    def compare(self, expected: dict[str, Any], got: dict[str, Any], layout: str) -> None:
        exact = True
        for name in LEAD_FIELDS:
            want, read = expected[name], got[name]
            if read == want:
                self.right[name] += 1
                continue
            exact = False
            if read is _ABSENT:
                self.absent[name] += 1
            elif _empty(want):
                self.invented[name] += 1
            elif _empty(read):
                self.missed[name] += 1
            else:
                self.wrong[name] += 1
            if len(self.examples) < EXAMPLES and read is not _ABSENT:
                self.examples.append(f"{layout} {name}: want {want!r} got {read!r}")
        self.exact_mails += exact
        self.exact_by_source[layout.split("/")[0]] += exact

    def report(self) -> str:
        lines = [
            f"mails: {self.mails}; exceptions {len(self.exceptions)}; "
            f"not read as a lead {self.not_leads}; every field exact in {self.exact_mails} "
            f"({_pct(self.exact_mails, self.mails)})",
            "by source (every field exact / mails): "
            + ", ".join(
                f"{k} {self.exact_by_source[k]}/{n}" for k, n in sorted(self.by_source.items())
            ),
            "per field (exact / mails; invented, missed, wrong):",
        ]
        for name in LEAD_FIELDS:
            lines.append(
                f"  {name:19} {self.right[name]:6d} / {self.mails:6d}  "
                f"{_pct(self.right[name], self.mails):>9}   invented {self.invented[name]}, "
                f"missed {self.missed[name]}, wrong {self.wrong[name]}"
                + (" (the parser has no such field)" if self.absent[name] else "")
            )
        lines.append(
            f"invented values in all: {sum(self.invented.values())}; parsing cost per mail: "
            f"MIME + lead parsers median {statistics.median(self.full_us):.1f} µs "
            f"(p90 {_p90(self.full_us):.1f}); lead parsers alone median "
            f"{statistics.median(self.lead_us):.1f} µs (p90 {_p90(self.lead_us):.1f})"
        )
        lines += [f"  exception: {e}" for e in self.exceptions[:EXAMPLES]]
        lines += [f"  difference: {e}" for e in self.examples]
        return "\n".join(lines)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f} %" if whole else "n/a"


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def score_generated(*, seed: int, count: int) -> GeneratedScore:
    """Generate `count` lead mails from `seed`, read each back, compare and time it."""
    chooser = RandomChooser(random.Random(seed))
    score = GeneratedScore(seed=seed)
    for index in range(count):
        mail = generate(chooser, index)
        score.mails += 1
        score.by_source[mail.source_key] += 1
        try:
            start = time.perf_counter_ns()
            message = parse_message(
                mail.raw, gmail_message_id="g", gmail_thread_id="t", own_domains=OWN_DOMAINS
            )
            email = LeadEmail.from_parsed(message)
            middle = time.perf_counter_ns()
            lead = parse_lead(email, senders=SENDERS, own_domains=OWN_DOMAINS)
            end = time.perf_counter_ns()
        except Exception as exc:  # counted and reported: the target is zero
            score.exceptions.append(f"{mail.layout}: {exc!r}")
            continue
        score.full_us.append((end - start) / 1000)
        score.lead_us.append((end - middle) / 1000)
        if lead is None:
            score.not_leads += 1
            continue
        # getattr with a default: the same command scores an older parser without some fields.
        read = {name: getattr(lead, name, _ABSENT) for name in LEAD_FIELDS}
        score.compare(mail.expected, read, mail.layout)
    return score
