"""Binding forms -> relations: `:in` values and function results.

?x            one value                BindScalar
[?a ?b]       one tuple                BindTuple
[?x ...]      a collection of values   BindColl
[[?a ?b]]     a relation               BindColl of BindTuple
_             anything, ignored        BindIgnore
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import product
from typing import Any

from ...edn import Symbol
from ._ast import BindColl, BindIgnore, Binding, BindScalar, BindTuple, Var, fail, vars_of
from ._relation import Rel, Row
from ._values import freeze


def occurrences(binding: Binding) -> list[Symbol]:
    """Every variable of a binding in order, repeats included (one per row slot)."""
    if isinstance(binding, BindScalar):
        return [binding.target.sym] if isinstance(binding.target, Var) else []
    if isinstance(binding, BindTuple):
        return [v for item in binding.items for v in occurrences(item)]
    if isinstance(binding, BindColl):
        return occurrences(binding.item)
    return []


def bind(binding: Binding, value: Any) -> Rel:
    """The relation of every way `value` matches `binding`."""
    rows = expand(binding, value)
    slots = occurrences(binding)
    distinct = vars_of(binding)
    if len(distinct) == len(slots):
        return Rel(distinct, rows)
    # A variable bound twice (`[?x ?x]`) keeps only rows where both slots agree.
    first = [slots.index(v) for v in distinct]
    same = [(i, slots.index(v)) for i, v in enumerate(slots) if slots.index(v) != i]
    kept = [r for r in rows if all(r[i] == r[j] for i, j in same)]
    return Rel(distinct, [tuple(r[i] for i in first) for r in kept])


def expand(binding: Binding, value: Any) -> list[Row]:
    """Rows aligned with `occurrences(binding)`."""
    if isinstance(binding, BindScalar):
        return [(freeze(value),)]
    if isinstance(binding, BindIgnore):
        return [()]
    if isinstance(binding, BindTuple):
        items = _tuple_items(binding, value)
        if all(isinstance(b, (BindScalar, BindIgnore)) for b in binding.items):
            return [
                tuple(freeze(v) for b, v in zip(binding.items, items) if isinstance(b, BindScalar))
            ]
        parts = [expand(b, v) for b, v in zip(binding.items, items)]
        return [sum(combo, ()) for combo in product(*parts)]
    coll = _collection(binding, value)
    item = binding.item
    if isinstance(item, BindScalar):  # the common `[?x ...]`, without per-element recursion
        return [(freeze(v),) for v in coll]
    return [row for v in coll for row in expand(item, v)]


def _tuple_items(binding: BindTuple, value: Any) -> Any:
    if not isinstance(value, (list, tuple)):
        raise fail("Cannot bind value {} to tuple {}", value, binding.form)
    if len(value) < len(binding.items):
        raise fail("Not enough elements in a collection {} to bind tuple {}", value, binding.form)
    return value


def _collection(binding: BindColl, value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        return value.items()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise fail("Cannot bind value {} to collection {}", value, binding.form)
    return value
