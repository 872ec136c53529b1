"""Building a `Db` in bulk: opening a store from its checkpoint, and `as_of` views.

Issue #2 asks for a store with 1M datoms of history to open in under 3 s.
Inserting datom by datom through `IndexEditor` costs microseconds each, so
the indexes are built directly: plain dicts filled in one pass per
attribute (~0.1 us per datom), chunks cut from sorted runs, no PMap per
leaf, one bare datom for a lone VAET referrer, and the cyclic GC paused.
docs/store.md ("The indexes in memory", "Performance") has the figures.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from contextlib import contextmanager
from itertools import chain
from operator import attrgetter
from typing import Any, Iterable, Iterator

from pyrsistent import PMap, pmap

from ..edn import Keyword
from ._datom import Datom
from ._index import Db, HistorySource, no_history
from ._intmap import IntMap, Node
from ._schema import Attr, Schema
from ._values import SCALARS, freeze

_e_of = attrgetter("e")
_v_of = attrgetter("v")


def build_db(
    schema: Schema,
    datoms: Iterable[Datom],
    *,
    basis_t: int,
    max_eid: int,
    history_source: HistorySource = no_history,
) -> Db:
    """A `Db` holding exactly `datoms` (current, added ones); for card-one the last one wins."""
    with gc_paused():
        eavt: defaultdict[int, Node] = defaultdict(Node)
        aevt: dict[Keyword, IntMap] = {}
        avet: dict[Keyword, PMap] = {}
        vaet: defaultdict[int, dict[Keyword, Datom | IntMap]] = defaultdict(dict)
        count = 0
        for a, group in _by_attribute(datoms).items():
            attr = schema.attr(a)
            es, leaves, current = _leaves(attr, group)
            for e, leaf in zip(es, leaves):
                eavt[e][a] = leaf
            aevt[a] = IntMap.from_items(es, leaves)
            count += len(current)
            if attr.unique is not None:
                avet[a] = pmap(dict(zip(map(_v_of, current), current)))
            elif attr.index:
                by_v = _by_value(current)
                avet[a] = pmap({v: IntMap.from_dict(by_e) for v, by_e in by_v.items()})
            if attr.ref:
                for v, by_e in _by_value(current).items():
                    vaet[v][a] = _vaet_entry(by_e)
        return Db(
            schema,
            IntMap.from_dict(eavt),
            pmap(aevt),
            pmap(avet),
            IntMap.from_dict(vaet),
            basis_t=basis_t,
            max_eid=max_eid,
            datom_count=count,
            history_source=history_source,
        )


def _by_attribute(datoms: Iterable[Datom]) -> dict[Keyword, list[Datom]]:
    groups: defaultdict[Keyword, list[Datom]] = defaultdict(list)
    for d in datoms:
        groups[d.a].append(d)
    return groups


def _leaves(attr: Attr, group: list[Datom]) -> tuple[list[int], list[Any], list[Datom]]:
    """The entities of one attribute's datoms, their leaves, and the datoms kept."""
    if not set(map(type, map(_v_of, group))) <= SCALARS:
        group = [d if type(d.v) in SCALARS else d._replace(v=freeze(d.v)) for d in group]
    if attr.many:
        values: defaultdict[int, Node] = defaultdict(Node)
        for d in group:
            values[d.e][d.v] = d
        leaves: list[Any] = list(values.values())
        if sum(map(len, leaves)) != len(group):  # repeated values were dropped
            group = list(chain.from_iterable(map(dict.values, leaves)))
        return list(values), leaves, group
    es = list(map(_e_of, group))
    by_e = dict(zip(es, group))
    if len(by_e) == len(group):
        return es, group, group
    kept: list[Datom] = list(by_e.values())
    return list(by_e), kept, kept


def _by_value(datoms: list[Datom]) -> dict[Any, dict[int, Datom]]:
    """v -> (e -> datom): the non-unique AVET of an attribute, or its VAET part."""
    by_v: defaultdict[Any, dict[int, Datom]] = defaultdict(dict)
    for d in datoms:
        by_v[d.v][d.e] = d
    return by_v


def _vaet_entry(by_e: dict[int, Datom]) -> Datom | IntMap:
    """A VAET entry (see _index.py): most referred-to entities have one referrer."""
    if len(by_e) == 1:
        return next(iter(by_e.values()))
    return IntMap.from_dict(by_e)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC around a bulk build of objects that are none of them garbage.

    Each collection rescans every object built so far; building 1M datoms'
    indexes took 1.2 s paused against 2-3x that with the collector on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
