"""Shaping results: :with, aggregates, pull, find specs and return maps.

:find ?a ?b          a set of tuples (a list when :with keeps duplicates,
                     or when pull puts dicts in the rows)
:find [?a ...]       a list of values
:find ?a .           one value, or None
:find [?a ?b]        one tuple, or None
:keys/:syms/:strs    rows as dicts (a list for a relation)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ...edn import Symbol
from ._aggregates import AGGREGATES
from ._ast import (
    Aggregate,
    Const,
    Element,
    FindColl,
    FindRel,
    FindScalar,
    FnName,
    Pull,
    Query,
    Src,
    fail,
)
from ._builtins import call_builtin
from ._engine import Context
from ._relation import Row
from ._values import freeze


def shape_result(query: Query, ctx: Context, result_vars: tuple[Symbol, ...]) -> Any:
    elements = query.find.elements
    rows: Iterable[Row] = ctx.rels.collect(result_vars)
    bag = bool(query.with_)
    if bag:
        rows = [row[: len(elements)] for row in rows]
    if any(isinstance(e, Aggregate) for e in elements):
        rows, bag = _aggregate(elements, rows, ctx), False
    pulls = any(isinstance(e, Pull) for e in elements)
    if pulls:
        rows = _pull(elements, rows, ctx)
    return _post_process(query, rows, as_list=bag or pulls)


def _post_process(query: Query, rows: Iterable[Row], as_list: bool) -> Any:
    find, return_map = query.find, query.return_map
    if isinstance(find, FindColl):
        return [row[0] for row in rows]
    if isinstance(find, FindScalar):
        return next((row[0] for row in rows), None)
    if isinstance(find, FindRel):
        if return_map is not None:
            return [dict(zip(return_map.keys, row)) for row in rows]
        return list(rows) if as_list else rows if isinstance(rows, set) else set(rows)
    first = next(iter(rows), None)  # FindTuple
    if first is None or return_map is None:
        return first
    return dict(zip(return_map.keys, first))


def _argument(ctx: Context, arg: Any) -> Any:
    if isinstance(arg, Const):
        return arg.value
    if isinstance(arg, Src):
        return ctx.source_value(arg.sym)
    return scalar_value(ctx, arg.sym)


def scalar_value(ctx: Context, var: Symbol) -> Any:
    """The value of a variable bound once (an :in scalar), for aggregate and pull arguments."""
    for rel in ctx.rels.rels:
        if var in rel.index and rel.rows:
            return rel.rows[0][rel.index[var]]
    raise fail("{} is not bound to a value (aggregate and pull arguments must be :in scalars)", var)


def _aggregate(elements: tuple[Element, ...], rows: Iterable[Row], ctx: Context) -> set[Row]:
    """One row per group of equal non-aggregate values (built_ins.cljc semantics)."""
    keys = [i for i, e in enumerate(elements) if not isinstance(e, Aggregate)]
    groups: dict[Row, list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(row[i] for i in keys), []).append(row)
    calls: dict[int, tuple[Symbol | None, Callable[..., Any], list[Any]]] = {}
    for i, e in enumerate(elements):
        if isinstance(e, Aggregate):
            args = [_argument(ctx, a) for a in e.args[:-1]]
            if isinstance(e.fn, FnName):
                calls[i] = (e.fn.sym, AGGREGATES[e.fn.sym], args)
            else:
                calls[i] = (None, scalar_value(ctx, e.fn.sym), args)
    out = set()
    for members in groups.values():
        cells = list(members[0])
        for i, (name, fn, args) in calls.items():
            values = [*args, [m[i] for m in members]]
            # A built-in failing on the data is the query's fault; a caller's function's, its own.
            form = elements[i].form  # type: ignore[union-attr]
            cells[i] = freeze(call_builtin(name, fn, values, form) if name else fn(*values))
        out.add(tuple(cells))
    return out


def _pull(elements: tuple[Element, ...], rows: Iterable[Row], ctx: Context) -> list[Row]:
    from .._pull import parse_for, pull  # lazily: pull is another module of the store

    specs = {}
    for i, e in enumerate(elements):
        if isinstance(e, Pull):
            db = ctx.source_value(e.source.sym)
            if not hasattr(db, "datoms"):
                raise fail("pull needs a database, but {} is a collection", e.source.sym)
            specs[i] = (db, parse_for(db, _argument(ctx, e.pattern)))  # once, not per row
    return [
        tuple(pull(*specs[i], value) if i in specs else value for i, value in enumerate(row))
        for row in rows
    ]
