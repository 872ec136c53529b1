"""Editing the indexes of a `Db` datom by datom: one transaction, or one replayed log tail.

Nothing published is ever mutated.  The editor works on private copies (an
entity's attribute `Node`, a card-many leaf as a `_Draft`, IntMap and PMap
evolvers) and `finish()` publishes them in a new `Db`, so readers of the old
value, on any thread, never see a half-applied transaction.
"""

from __future__ import annotations

from typing import Any

from pyrsistent import PMap

from ..edn import Keyword
from ._datom import Datom
from ._index import EMPTY, Db, as_referrers, leaf_datoms, leaf_find, pget
from ._intmap import EMPTY_INTMAP, IntMap, Node
from ._schema import Attr
from ._values import SCALARS, freeze


class _Draft(dict):  # type: ignore[type-arg]
    """A card-many leaf being edited: published as a `Node` by `finish()`."""

    __slots__ = ()


def _discard(ev: Any, key: Any) -> None:
    if key in ev:
        del ev[key]


class IndexEditor:
    """The indexes of one `Db`, edited datom by datom for one transaction.

    Reads see the edits made so far (DataScript resolves each op against the
    intermediate value); `finish()` publishes a new `Db` and leaves the
    original untouched.
    """

    def __init__(self, db: Db) -> None:
        self._db = db
        self._attr = db.schema.attr
        self._count = db.datom_count
        # e -> private copy of its attributes; card-many leaves in it are _Drafts.
        self._ents: dict[int, dict[Keyword, Any]] = {}
        self._touched: dict[int, set[Keyword]] = {}
        self._avet: dict[Keyword, Any] = {}  # a -> evolver of avet[a]
        self._avet_sets: dict[tuple[Keyword, Any], Any] = {}  # (a, v) -> evolver, non-unique
        self._vaet: dict[int, dict[Keyword, Any]] = {}  # v -> a -> evolver of e -> Datom

    # -- reads --

    def attrs(self, e: int) -> dict[Keyword, Any]:
        """e's attributes as they stand now (do not mutate)."""
        ent = self._ents.get(e)
        if ent is None:
            ent = self._db._eavt.get(e, {})
        return ent

    def find(self, e: int, a: Keyword, v: Any) -> Datom | None:
        return leaf_find(self.attrs(e).get(a), v)

    def current(self, e: int, a: Keyword) -> list[Datom]:
        leaf = self.attrs(e).get(a)
        return [] if leaf is None else list(leaf_datoms(leaf))

    def entity_datoms(self, e: int) -> list[Datom]:
        return [d for leaf in self.attrs(e).values() for d in leaf_datoms(leaf)]

    def unique_owner(self, a: Keyword, v: Any) -> int | None:
        by_v = self._avet.get(a)
        if by_v is None:
            return self._db.unique_owner(a, v)
        try:
            return by_v[v].e if v in by_v else None
        except TypeError:  # an unhashable value is nobody's
            return None

    def refs_to(self, e: int) -> list[Datom]:
        """Datoms whose ref value is `e`."""
        by_a = dict(self._db._vaet.get(e, {}))
        by_a.update(self._vaet.get(e, {}))
        return [d for by_e in by_a.values() for d in leaf_datoms(by_e)]

    # -- writes --

    def _entity(self, e: int, a: Keyword) -> dict[Keyword, Any]:
        ent = self._ents.get(e)
        if ent is None:
            ent = self._ents[e] = Node(self._db._eavt.get(e, ()))
            self._touched[e] = {a}
        else:
            self._touched[e].add(a)
        return ent

    def _many(self, ent: dict[Keyword, Any], a: Keyword) -> _Draft:
        leaf = ent.get(a)
        if type(leaf) is not _Draft:
            leaf = ent[a] = _Draft(leaf or ())
        return leaf

    def add(self, d: Datom) -> None:
        """Assert `d`; for cardinality one it replaces the current value."""
        v = d.v
        if type(v) not in SCALARS:
            v = freeze(v)
            d = d._replace(v=v)
        attr = self._attr(d.a)
        ent = self._entity(d.e, d.a)
        if attr.many:
            leaf = self._many(ent, d.a)
            if v in leaf:
                self._unindex(leaf[v], attr)
                self._count -= 1
            leaf[v] = d
        else:
            old = ent.get(d.a)
            if old is not None:
                self._unindex(old, attr)
                self._count -= 1
            ent[d.a] = d
        self._count += 1
        self._index(d, attr)

    def retract(self, d: Datom) -> None:
        """Retract `d`, a datom currently stored (as returned by `find`)."""
        attr = self._attr(d.a)
        ent = self._entity(d.e, d.a)
        if attr.many:
            _discard(self._many(ent, d.a), d.v)
        elif ent.get(d.a) is d:
            del ent[d.a]
        self._count -= 1
        self._unindex(d, attr)

    def _avet_of(self, a: Keyword) -> Any:
        ev = self._avet.get(a)
        if ev is None:
            ev = self._avet[a] = pget(self._db._avet, a, EMPTY).evolver()
        return ev

    def _avet_set(self, a: Keyword, v: Any) -> Any:
        ev = self._avet_sets.get((a, v))
        if ev is None:
            by_v = self._avet_of(a)
            ev = self._avet_sets[(a, v)] = (by_v[v] if v in by_v else EMPTY_INTMAP).evolver()
        return ev

    def _vaet_set(self, v: int, a: Keyword) -> Any:
        by_a = self._vaet.get(v)
        if by_a is None:
            by_a = self._vaet[v] = {}
        ev = by_a.get(a)
        if ev is None:
            found = (self._db._vaet.get(v) or {}).get(a)
            if type(found) is Datom:
                found = IntMap.from_dict({found.e: found})
            ev = by_a[a] = (found or EMPTY_INTMAP).evolver()
        return ev

    def _index(self, d: Datom, attr: Attr) -> None:
        if attr.unique is not None:
            self._avet_of(d.a)[d.v] = d
        elif attr.index:
            self._avet_set(d.a, d.v)[d.e] = d
        if attr.ref:
            self._vaet_set(d.v, d.a)[d.e] = d

    def _unindex(self, d: Datom, attr: Attr) -> None:
        if attr.unique is not None:
            by_v = self._avet_of(d.a)
            if d.v in by_v and by_v[d.v] is d:
                del by_v[d.v]
        elif attr.index:
            self._avet_set(d.a, d.v).discard(d.e)
        if attr.ref:
            self._vaet_set(d.v, d.a).discard(d.e)

    # -- publishing --

    def finish(self, *, basis_t: int, max_eid: int) -> Db:
        base = self._db
        eavt = base._eavt.evolver()
        aevt_by_a: dict[Keyword, Any] = {}
        for e, ent in self._ents.items():
            for a in self._touched[e]:
                leaf = ent.get(a)
                if type(leaf) is _Draft:
                    if leaf:
                        leaf = ent[a] = Node(leaf)
                    else:
                        del ent[a]
                        leaf = None
                by_e = aevt_by_a.get(a)
                if by_e is None:
                    by_e = aevt_by_a[a] = pget(base._aevt, a, EMPTY_INTMAP).evolver()
                if leaf is None:
                    by_e.discard(e)
                else:
                    by_e[e] = leaf
            if ent:
                eavt[e] = ent
            else:
                eavt.discard(e)
        return Db(
            base.schema,
            eavt.persistent(),
            _publish(base._aevt, aevt_by_a),
            self._finish_avet(),
            self._finish_vaet(),
            basis_t=basis_t,
            max_eid=max_eid,
            datom_count=self._count,
            history_source=base.history_source,
        )

    def _finish_avet(self) -> PMap:
        for (a, v), ev in self._avet_sets.items():
            by_e = ev.persistent()
            by_v = self._avet[a]
            if by_e:
                by_v[v] = by_e
            else:
                _discard(by_v, v)
        return _publish(self._db._avet, self._avet)

    def _finish_vaet(self) -> IntMap:
        vaet = self._db._vaet.evolver()
        for v, edits in self._vaet.items():
            by_a = dict(vaet.get(v, {}))
            for a, ev in edits.items():
                by_e = ev.persistent()
                if by_e:
                    by_a[a] = as_referrers(by_e)
                else:
                    by_a.pop(a, None)
            if by_a:
                vaet[v] = by_a
            else:
                vaet.discard(v)
        return vaet.persistent()


def _publish(outer: PMap, inner: dict[Keyword, Any]) -> PMap:
    """`outer` with each evolved inner map of `inner` replacing its entry."""
    if not inner:
        return outer
    ev = outer.evolver()
    for k, inner_ev in inner.items():
        m = inner_ev.persistent()
        if m:
            ev[k] = m
        else:
            _discard(ev, k)
    return ev.persistent()


