"""EDN codec speed: jobstreamer's reader and writer against edn_format, in one run.

Issue #2: "If edn_format is too slow to serve as the wire format (measure it),
write a faster codec."  Both codecs run on the same documents in the same
process, alternating, and each figure is the best of several rounds, so a
busy machine slows both alike.  `python -m bench.edn [--quick]` prints them.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import edn_format

from jobstreamer.common import edn

from ._report import Figure

PERFORMANCE = Path(__file__).resolve().parents[1].parent / "shared" / "edn-tests" / "performance"
READ_TARGET = ">= 20x edn_format"

ENTITY = (
    '{:db/id 17592186045418 :user/name "Ada Lovelace" :user/email "ada@example.com"'
    " :user/age 36 :user/active true :user/score 98.5 :user/tags #{:math :poetry}"
    ' :user/joined #inst "1843-07-01T00:00:00.000Z"'
    ' :user/uuid #uuid "fb20d6ab-c4e8-4404-b0df-885f58e3f682" :user/friend 17592186045419}'
)
DATOM = '[17592186045418 :user/name "Ada Lovelace" 13194139534312 true]'
TRANSACTION = (
    "["
    + " ".join(f'[{17592186045418 + i} :job/name "job-{i}" 13194139534312 true]' for i in range(1000))
    + "]"
)


@dataclass(frozen=True)
class _Doc:
    name: str
    text: str
    small: bool  # small documents get ops/s figures as well as ratios


def _docs() -> list[_Doc]:
    docs = [
        _Doc("entity map (10 keys)", ENTITY, True),
        _Doc("datom vector", DATOM, True),
        _Doc("1,000-datom transaction", TRANSACTION, True),
    ]
    docs += [_Doc(path.name, path.read_text(), False) for path in sorted(PERFORMANCE.glob("*.edn"))]
    return docs


def _seconds_per_call(fn: Callable[[], Any], budget: float) -> tuple[float, int]:
    """Calls of `fn` to fill about `budget` seconds, and the time one took."""
    calls, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= budget or calls >= 1 << 20:
            return elapsed / calls, calls
        calls *= 2


def _best(
    ours: Callable[[], Any], theirs: Callable[[], Any], rounds: int, budget: float
) -> tuple[float, float]:
    """Best seconds per call of each, measured in alternating rounds."""
    best_ours = best_theirs = float("inf")
    for _ in range(rounds):
        best_ours = min(best_ours, _seconds_per_call(ours, budget)[0])
        best_theirs = min(best_theirs, _seconds_per_call(theirs, budget)[0])
    return best_ours, best_theirs


def _figures(doc: _Doc, action: str, ours: float, theirs: float, sizes: str) -> list[Figure]:
    # The read target is checked on the small documents and on the
    # performance/ total; each file's own ratio is there to explain the total.
    target = READ_TARGET if action == "read" and doc.small else ""
    note = f"{1 / ours:,.0f} vs {1 / theirs:,.0f} ops/s{sizes}"
    ratio = Figure("edn", f"{action} {doc.name}", theirs / ours, "x edn_format", target, note)
    if not doc.small:
        return [ratio]
    return [
        Figure("edn", f"{action} {doc.name}, jobstreamer", 1 / ours, "ops/s", note=sizes.lstrip(", ")),
        Figure("edn", f"{action} {doc.name}, edn_format", 1 / theirs, "ops/s", note=sizes.lstrip(", ")),
        ratio,
    ]


def _total(action: str, ours: float, theirs: float, sizes: str) -> Figure:
    return Figure(
        "edn",
        f"{action} all of performance/ (total time)",
        theirs / ours,
        "x edn_format",
        READ_TARGET if action == "read" else "",
        f"{ours * 1e3:.1f} ms vs {theirs * 1e3:.1f} ms{sizes}",
    )


def run(quick: bool = False) -> list[Figure]:
    """Reads and writes of every document, ours against edn_format."""
    # edn_format logs its lexer's rules at INFO on every call; with logging
    # configured (as `python -m bench` does) that would time the logging.
    quiet = logging.getLogger("edn_format")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        return _measure(quick)
    finally:
        quiet.setLevel(level)


def _measure(quick: bool) -> list[Figure]:
    rounds, budget = (1, 0.01) if quick else (3, 0.1)
    sizes = ", --quick sizes" if quick else ""
    figures: list[Figure] = []
    totals = {"read": [0.0, 0.0], "write": [0.0, 0.0]}
    for doc in _docs():
        ours_value, their_value = edn.loads(doc.text, max_length=None), edn_format.loads(doc.text)
        measured = {
            "read": _best(
                lambda: edn.loads(doc.text, max_length=None),
                lambda: edn_format.loads(doc.text),
                rounds,
                budget,
            ),
            "write": _best(
                lambda: edn.dumps(ours_value), lambda: edn_format.dumps(their_value), rounds, budget
            ),
        }
        for action, (ours, theirs) in measured.items():
            figures += _figures(doc, action, ours, theirs, sizes)
            if not doc.small:
                totals[action][0] += ours
                totals[action][1] += theirs
    figures += [_total(action, ours, theirs, sizes) for action, (ours, theirs) in totals.items()]
    return figures


def _table(figures: list[Figure]) -> str:
    width = max(len(f.metric) for f in figures)
    rows = [f"{'metric':<{width}}  {'value':>12}  unit          note"]
    for f in figures:
        rows.append(f"{f.metric:<{width}}  {f.value:>12,.1f}  {f.unit:<12}  {f.note}")
    return "\n".join(rows)


if __name__ == "__main__":
    print(_table(run(quick="--quick" in sys.argv[1:])))
