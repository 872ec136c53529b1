"""Relations (a tuple of variables and a list of rows) and their algebra.

A query's state is a `Rels`: relations over disjoint sets of variables
whose cartesian product is the set of solutions so far.  Keeping unrelated
relations apart, as DataScript's context does, means a product is only
paid for when a clause or the :find needs it.  Joins are hash joins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any

from ...edn import Symbol

Row = tuple[Any, ...]


def key_fn(idxs: Sequence[int]) -> Callable[[Row], Any]:
    """Row -> join key: the value itself for one index, a tuple for several."""
    if len(idxs) == 1:
        return itemgetter(idxs[0])
    if not idxs:
        return lambda row: ()
    return itemgetter(*idxs)


def tuple_fn(idxs: Sequence[int]) -> Callable[[Row], Row]:
    """Row -> the tuple of the values at `idxs` (always a tuple)."""
    if len(idxs) == 1:
        i = idxs[0]
        return lambda row: (row[i],)
    return key_fn(idxs)


class Rel:
    """A relation: `rows` are tuples aligned with `vars`."""

    __slots__ = ("vars", "index", "rows")

    def __init__(self, vars: tuple[Symbol, ...], rows: list[Row]) -> None:
        self.vars = vars
        self.index = {v: i for i, v in enumerate(vars)}
        self.rows = rows

    def idxs(self, vars: Iterable[Symbol]) -> list[int]:
        return [self.index[v] for v in vars]

    def project(self, vars: Sequence[Symbol]) -> set[Row]:
        """The distinct tuples of these variables' values."""
        get = tuple_fn(self.idxs(vars))
        return {get(r) for r in self.rows}

    def __repr__(self) -> str:
        return f"Rel({[v.full for v in self.vars]}, {len(self.rows)} rows)"


UNIT = Rel((), [()])  # the relation with one empty row: identity of product


def product(a: Rel, b: Rel) -> Rel:
    if not a.vars:
        return b if a.rows else Rel(b.vars, [])
    if not b.vars:
        return a if b.rows else Rel(a.vars, [])
    return Rel(a.vars + b.vars, [ra + rb for ra in a.rows for rb in b.rows])


def join(a: Rel, b: Rel) -> Rel:
    """Natural join on the shared variables; a product when there are none."""
    shared = [v for v in a.vars if v in b.index]
    if not shared:
        return product(a, b)
    extra = [v for v in b.vars if v not in a.index]
    get_extra = tuple_fn(b.idxs(extra)) if extra else (lambda rb: ())
    key_a, key_b = key_fn(a.idxs(shared)), key_fn(b.idxs(shared))
    if len(b.rows) < len(a.rows):  # hash the smaller side
        table = group(b.rows, key_b)
        rows = [ra + get_extra(rb) for ra in a.rows for rb in table.get(key_a(ra), ())]
    else:
        table = group(a.rows, key_a)
        rows = [ra + get_extra(rb) for rb in b.rows for ra in table.get(key_b(rb), ())]
    return Rel(a.vars + tuple(extra), rows)


def group(rows: Iterable[Row], key: Callable[[Row], Any]) -> dict[Any, list[Row]]:
    table: dict[Any, list[Row]] = {}
    for row in rows:
        k = key(row)
        found = table.get(k)
        if found is None:
            table[k] = [row]
        else:
            found.append(row)
    return table


class Rels:
    """The relations of one evaluation context; each variable is in at most one."""

    __slots__ = ("rels",)

    def __init__(self, rels: list[Rel] | None = None) -> None:
        self.rels: list[Rel] = rels if rels is not None else []

    def copy(self) -> Rels:
        return Rels(list(self.rels))

    @property
    def empty(self) -> bool:
        """Whether there is no solution (some relation has no rows)."""
        return any(not r.rows for r in self.rels)

    def bound(self, var: Symbol) -> bool:
        return any(var in r.index for r in self.rels)

    def bound_vars(self) -> set[Symbol]:
        return {v for r in self.rels for v in r.vars}

    def take(self, vars: Iterable[Symbol]) -> Rel:
        """Remove the relations holding any of `vars` and return their product."""
        wanted = tuple(vars)
        taken: list[Rel] = []
        kept: list[Rel] = []
        for r in self.rels:
            (taken if any(v in r.index for v in wanted) else kept).append(r)
        if not taken:
            return UNIT
        self.rels = kept
        result = taken[0]
        for r in taken[1:]:
            result = product(result, r)
        return result

    def put(self, rel: Rel) -> None:
        """Add a relation that shares no variable with the others (no join needed)."""
        if rel.vars or not rel.rows:  # a row of nothing is the identity: drop it
            self.rels.append(rel)

    def add(self, rel: Rel) -> None:
        """Add a relation, joining it with those it shares variables with."""
        overlapping = self.take(rel.vars) if rel.vars else UNIT
        self.put(join(overlapping, rel) if overlapping.vars else rel)

    def collect(self, vars: Sequence[Symbol]) -> set[Row]:
        """The distinct tuples of `vars` over every solution."""
        if self.empty:
            return set()
        needed = [r for r in self.rels if not set(vars).isdisjoint(r.vars)]
        combined = needed[0] if needed else UNIT
        for r in needed[1:]:
            combined = product(combined, r)
        return combined.project(vars)
