"""Entities: a lazy, read-only mapping view of one entity in one database value.

Ported from DataScript impl/entity.cljc.  Attributes are read on first access
and cached; `touch()` reads them all.  Card-many values are frozensets, refs
come back as entities (a frozenset of them for card-many), and a reverse key
(`e[":user/_friends"]`) gives the set of entities pointing here, or the one
owner for a component attribute.  A ref is an entity even when its target has
no datoms (as in Datomic; DataScript gives nil), so reading one costs no
lookup.

Keys may be `Keyword("user/name")`, `"user/name"` or `":user/name"`.  A
missing attribute raises KeyError, so `in`, `.get` and `dict(e)` behave as on
any mapping; `e[":db/id"]` is the entity id but, as in DataScript, `:db/id` is
not one of the keys.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any, Iterator, Mapping

from ..edn import Keyword
from ._datom import Datom
from ._pull_pattern import DB_ID, reverse_name
from ._schema import as_keyword
from ._values import show
from ._view import DbView
from .errors import QueryError, SchemaError


def entity(db: DbView, eid: Any) -> Entity | None:
    """The entity `eid` (id, lookup ref or ident) names, or None if it has no datoms."""
    if db.is_history:
        # As Datomic: a history value holds retracted facts next to current
        # ones, so an attribute has no single value to show.
        raise QueryError("entity needs a current or as_of database, not history()")
    if isinstance(eid, bool) or not isinstance(eid, (int, list, tuple, Keyword)):
        return None  # DataScript's answer for nil, strings and other non-ids
    e = db.entid(eid)
    if e is None or next(iter(db.datoms("eavt", e)), None) is None:
        return None
    return Entity(db, e)


class Entity(Mapping[Keyword, Any]):
    """One entity of one database value.  Equal when both are equal."""

    __slots__ = ("db", "eid", "_cache", "_touched")

    def __init__(self, db: DbView, eid: int) -> None:
        self.db = db
        self.eid = eid
        self._cache: dict[Keyword, Any] = {}
        self._touched = False

    def __getitem__(self, key: Any) -> Any:
        a = _attribute(key)
        if a is DB_ID:
            return self.eid
        if a in self._cache:
            return self._cache[a]
        forward = reverse_name(a)
        if forward is not None:
            return self._referrers(key, forward)
        if self._touched:
            raise KeyError(key)
        datoms = list(self.db.datoms("eavt", self.eid, a))
        if not datoms:
            raise KeyError(key)
        value = self._cache[a] = _value(self.db, a, datoms)
        return value

    def _referrers(self, key: Any, a: Keyword) -> Any:
        info = self.db.attr(a)
        datoms = list(self.db.datoms("vaet", self.eid, a)) if info.ref else []
        if not datoms:
            raise KeyError(key)
        if info.component:
            return Entity(self.db, datoms[0].e)
        return frozenset(Entity(self.db, d.e) for d in datoms)

    def __iter__(self) -> Iterator[Keyword]:
        return iter(self.touch()._cache)

    def __len__(self) -> int:
        return len(self.touch()._cache)

    def touch(self) -> Entity:
        """Read every attribute now; components are touched too, as DataScript does."""
        self._touch(set())
        return self

    def _touch(self, seen: set[int]) -> None:
        seen.add(self.eid)
        if not self._touched:
            for a, datoms in groupby(self.db.datoms("eavt", self.eid), key=_attr_of):
                self._cache[a] = _value(self.db, a, list(datoms))
            self._touched = True
        for a, value in self._cache.items():
            if self.db.attr(a).component:
                for sub in value if isinstance(value, frozenset) else (value,):
                    if sub.eid not in seen:  # a component cycle is bad data, not a hang
                        sub._touch(seen)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Entity)
            and self.eid == other.eid
            and _db_identity(self.db) == _db_identity(other.db)
        )

    def __hash__(self) -> int:
        return hash((self.eid, _db_identity(self.db)))

    def __repr__(self) -> str:
        return f"Entity({show({DB_ID: self.eid, **self._cache})})"


def _attribute(key: Any) -> Keyword:
    try:
        return as_keyword(key)
    except SchemaError:
        raise KeyError(key) from None


def _attr_of(d: Datom) -> Keyword:
    return d.a


def _value(db: DbView, a: Keyword, datoms: list[Datom]) -> Any:
    info = db.attr(a)
    if info.many:
        return frozenset(Entity(db, d.v) if info.ref else d.v for d in datoms)
    return Entity(db, datoms[0].v) if info.ref else datoms[0].v


def _db_identity(db: DbView) -> tuple[Any, ...]:
    """Which database value an entity belongs to: the same store, view kind and basis.

    Cheaper and steadier than identity: two `conn.db()` calls with no
    transaction between them give equal entities even if the Db objects differ.
    """
    return (type(db), db.basis_t, getattr(db, "since_t", None), id(db.schema))

