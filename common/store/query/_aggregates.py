"""Aggregate functions for :find (DataScript built_ins.cljc `aggregates`).

Each takes the extra arguments written before the variable (`(max 3 ?x)`)
and then the list of that variable's values in one group.  Results are
hashable (tuples, frozensets) so aggregated rows still form a set.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from typing import Any

from ...edn import Symbol, Vector
from ._values import compare

_KEY = functools.cmp_to_key(compare)


def _sum(xs: list[Any]) -> Any:
    return sum(xs, 0)


def _exact_div(a: Any, b: int) -> Any:
    return a // b if isinstance(a, int) and a % b == 0 else a / b


def _avg(xs: list[Any]) -> Any:
    return _exact_div(_sum(xs), len(xs))


def _median(xs: list[Any]) -> Any:
    terms = sorted(xs, key=_KEY)
    mid = len(terms) // 2
    return terms[mid] if len(terms) % 2 else _exact_div(terms[mid - 1] + terms[mid], 2)


def _variance(xs: list[Any]) -> Any:
    mean = _avg(xs)
    return _exact_div(_sum([(x - mean) * (x - mean) for x in xs]), len(xs))


def _stddev(xs: list[Any]) -> float:
    return math.sqrt(_variance(xs))


def _extreme(largest: bool) -> Callable[..., Any]:
    def pick(*args: Any) -> Any:
        if len(args) == 1:
            (xs,) = args
            return (max if largest else min)(xs, key=_KEY) if xs else None
        n, xs = args
        ordered = sorted(xs, key=_KEY)
        return Vector(ordered[-n:] if largest else ordered[:n])

    return pick


def _rand(*args: Any) -> Any:
    if len(args) == 1:
        return random.choice(args[0])
    n, xs = args
    return Vector(random.choice(xs) for _ in range(n))


def _sample(n: int, xs: list[Any]) -> Vector:
    return Vector(random.sample(xs, min(n, len(xs))))


_TABLE: list[tuple[str, Callable[..., Any]]] = [
    ("sum", _sum),
    ("avg", _avg),
    ("median", _median),
    ("variance", _variance),
    ("stddev", _stddev),
    ("distinct", frozenset),
    ("min", _extreme(largest=False)),
    ("max", _extreme(largest=True)),
    ("rand", _rand),
    ("sample", _sample),
    ("count", len),
    ("count-distinct", lambda xs: len(set(xs))),
]

AGGREGATES: dict[Symbol, Callable[..., Any]] = {Symbol(name): fn for name, fn in _TABLE}
