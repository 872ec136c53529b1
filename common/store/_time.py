"""Time views: `as_of(t)`, `since(t)` and `history()`, with Datomic semantics (issue #2).

- `as_of(t)` is the database right after transaction `t` (inclusive): the
  committed log replayed up to `t` into a plain `Db`.  Replay costs
  O(history), so recent views are cached per connection (per history source).
- `since(t)` keeps the current datoms asserted after `t` (exclusive).  Entity
  ids, lookup refs and idents still resolve through the database it filters,
  as in Datomic: `[:user/email "a@x"]` finds the entity even when its email
  was asserted before `t`.
- `history()` holds every assertion and retraction up to the basis, each
  with its `added` flag, indexed lazily on first use.

`t` is a transaction id (>= TX0, as `report.db_after.basis_t`) or a datetime
(the last transaction committed at or before it; a naive datetime is UTC).
The views compose: `db.since(t1).as_of(t2)` holds what was asserted in
(t1, t2], `db.as_of(t).history()` the history up to t.  Only the log is
replayed, so a value from `with_tx` (committed nowhere) travels back through
the committed transactions alone.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Protocol
from weakref import WeakKeyDictionary

from ..edn import Keyword
from ._datom import TX0, Datom
from ._db import DbMethods
from ._build import build_db, gc_paused
from ._cache import LRU
from ._index import HistorySource, attribute
from ._schema import Attr, Schema
from ._values import SCALARS, freeze, same_value, show, value_key
from ._view import DbView, IndexName
from .errors import QueryError

_CACHE_SIZE = 8  # views kept per connection: each may hold a full copy of the indexes


class TimedView(DbView, Protocol):
    """A database value that knows the log it came from (`Db` and the views here)."""

    # Committed TxRecords with tx <= t, oldest first.
    history_source: HistorySource


def as_of(db: TimedView, t: Any) -> TimedView:
    if isinstance(db, SinceView):
        return since(as_of(db.base, t), db.since_t)
    tx = _tx(db, t)
    if tx >= db.basis_t:
        return db  # nothing after `tx` to undo (an as_of value composes this way too)
    if isinstance(db, HistoryView):
        return _cached(db, ("history", tx), lambda: _history(db.db, tx))
    return _cached(db, ("as_of", tx), lambda: _replay(db, tx))


def since(db: TimedView, t: Any) -> TimedView:
    tx = _tx(db, t)
    if isinstance(db, SinceView):
        return SinceView(db.base, max(tx, db.since_t))
    return SinceView(db, tx)


def history(db: TimedView) -> TimedView:
    if isinstance(db, HistoryView):
        return db
    if isinstance(db, SinceView):
        return since(history(db.base), db.since_t)
    return _cached(db, ("history", db.basis_t), lambda: _history(db, db.basis_t))


# --- t ----------------------------------------------------------------------------


def _tx(db: TimedView, t: Any) -> int:
    """`t` as a transaction id; a datetime names the last tx committed by then."""
    if isinstance(t, datetime):
        when = t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)
        tx = TX0
        for record in db.history_source(db.basis_t):
            if record.instant > when:
                break
            tx = record.tx
        return tx
    if type(t) is not int or t < TX0:
        raise QueryError(
            f"Expected a transaction id (an int >= {TX0}) or a datetime, got {show(t)}", field="t"
        )
    return t


# --- as_of: replaying the log -------------------------------------------------------


def _replay(db: TimedView, tx: int) -> tuple[TimedView, bool]:
    """A `Db` holding the datoms current right after `tx`, and whether `tx` was committed."""
    many = {a for a, attr in db.schema.attrs.items() if attr.many}  # undeclared: card-one
    current: dict[tuple[Any, ...], Datom] = {}
    basis_t, max_eid = TX0, 0
    with gc_paused():  # a million live tuples: each collection would rescan them all
        for record in db.history_source(tx):
            for d in record.datoms:
                d = _frozen(d)
                # Card-one keys on (e, a): an assertion replaces the old value even
                # if a log does not spell out the implied retraction.
                key = (d.e, d.a, d.v) if d.a in many else (d.e, d.a)
                if d.added:
                    current[key] = d
                else:
                    old = current.get(key)
                    if old is not None and same_value(old.v, d.v):
                        del current[key]
            basis_t, max_eid = record.tx, record.max_eid
        built = build_db(
            db.schema,
            current.values(),
            basis_t=basis_t,
            max_eid=max_eid,
            history_source=db.history_source,
        )
    return built, basis_t == tx


def _frozen(d: Datom) -> Datom:
    return d if type(d.v) in SCALARS else d._replace(v=freeze(d.v))


_views: WeakKeyDictionary[HistorySource, LRU[TimedView]] = WeakKeyDictionary()
_views_lock = threading.Lock()


def _cached(
    db: TimedView, key: tuple[Any, ...], build: Callable[[], tuple[TimedView, bool]]
) -> TimedView:
    """The view `build` makes, reused while it is among the recent ones of db's connection.

    Keyed by the history source, which every Db of one connection shares, and
    by the schema, which can change.  `build` says whether its view may be
    kept: only when the log reached exactly the tx asked for, so a value from
    `with_tx` (ahead of the log) never leaves a view that later goes stale.
    """
    # The view holds the schema, so id(schema) in the key is not reused.
    key = key + (id(db.schema),)
    try:
        with _views_lock:
            views = _views.setdefault(db.history_source, LRU(_CACHE_SIZE))
    except TypeError:  # a source that cannot be weakly referenced: no caching
        return build()[0]
    view = views.find(key)
    if view is None:
        view, keep = build()  # outside any lock: replay is slow, a duplicate build is harmless
        if keep:
            views.put(key, view)
    return view


# --- since ------------------------------------------------------------------------


class SinceView(DbMethods):
    """The datoms of `base` asserted after `since_t`."""

    __slots__ = ("base", "since_t", "schema", "basis_t", "is_history", "history_source")

    def __init__(self, base: TimedView, since_t: int) -> None:
        self.base = base
        self.since_t = since_t
        self.schema: Schema = base.schema
        self.basis_t: int = base.basis_t
        self.is_history: bool = base.is_history
        self.history_source: HistorySource = base.history_source

    def __repr__(self) -> str:
        return f"<{self.base!r} since {self.since_t}>"

    def datoms(self, index: IndexName, *components: Any) -> Iterator[Datom]:
        t = self.since_t
        return (d for d in self.base.datoms(index, *components) if d.tx > t)

    def entid(self, eid: Any) -> int | None:
        return self.base.entid(eid)

    def attr(self, a: Keyword) -> Attr:
        return self.schema.attr(a)


# --- history ------------------------------------------------------------------------

# Each index's sort key over a datom; history adds (tx, added) so every
# assertion and retraction of one fact appear in order.
_ORDER: dict[str, Callable[[Datom], tuple[Any, ...]]] = {
    "eavt": lambda d: (d.e, d.a.full, value_key(d.v), d.tx, d.added),
    "aevt": lambda d: (d.a.full, d.e, value_key(d.v), d.tx, d.added),
    "avet": lambda d: (d.a.full, value_key(d.v), d.e, d.tx, d.added),
    "vaet": lambda d: (d.v, d.a.full, d.e, d.tx, d.added),
}
_COMPONENTS: dict[str, Callable[[Datom], tuple[Any, ...]]] = {
    "eavt": lambda d: (d.e, d.a, d.v, d.tx),
    "aevt": lambda d: (d.a, d.e, d.v, d.tx),
    "avet": lambda d: (d.a, d.v, d.e, d.tx),
    "vaet": lambda d: (d.v, d.a, d.e, d.tx),
}
# Where e, a and v sit in each index's components.
_POSITIONS = {"eavt": (0, 1, 2), "aevt": (1, 0, 2), "avet": (2, 0, 1), "vaet": (2, 1, 0)}


class _Grouped:
    """One history index: its datoms in order, grouped by one- and two-component prefixes."""

    __slots__ = ("all", "by1", "by2")

    def __init__(self, index: str, datoms: Iterable[Datom]) -> None:
        self.all = sorted(datoms, key=_ORDER[index])
        self.by1: dict[Any, list[Datom]] = {}
        self.by2: dict[tuple[Any, Any], list[Datom]] = {}
        components = _COMPONENTS[index]
        for d in self.all:
            c = components(d)
            self.by1.setdefault(c[0], []).append(d)
            self.by2.setdefault(c[:2], []).append(d)


def _history(db: TimedView, tx: int) -> tuple[HistoryView, bool]:
    """The history of db's connection up to `tx`, and whether `tx` was committed."""
    datoms: list[Datom] = []
    last = TX0
    for record in db.history_source(tx):
        datoms.extend(_frozen(d) for d in record.datoms)
        last = record.tx
    return HistoryView(db, tx, datoms), last == tx


class HistoryView(DbMethods):
    """Every assertion and retraction of `db`'s connection up to `basis_t`."""

    __slots__ = ("db", "schema", "basis_t", "history_source", "_datoms", "_indexes", "_lock")
    is_history = True

    def __init__(self, db: TimedView, basis_t: int, datoms: list[Datom]) -> None:
        self.db = db  # resolves entity ids, lookup refs and idents
        self.schema: Schema = db.schema
        self.basis_t = basis_t
        self.history_source: HistorySource = db.history_source
        self._datoms = datoms  # in log order; indexed per index on first use
        self._indexes: dict[str, _Grouped] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<history up to {self.basis_t}>"

    def entid(self, eid: Any) -> int | None:
        return self.db.entid(eid)

    def attr(self, a: Keyword) -> Attr:
        return self.schema.attr(a)

    def datoms(self, index: IndexName, *components: Any) -> Iterator[Datom]:
        if index not in _ORDER:
            raise QueryError(f"Unknown index {index!r}, expected eavt, aevt, avet or vaet", field="index")
        n = len(components)
        while n and components[n - 1] is None:  # trailing Nones mean "any", as on Db
            n -= 1
        c = list(components[:n])
        if not self._normalize(index, c):
            return iter(())
        grouped = self._index(index)
        if not c:
            return iter(grouped.all)
        if len(c) == 1:
            return iter(grouped.by1.get(c[0], ()))
        found = grouped.by2.get((c[0], c[1]), ())
        if len(c) == 2:
            return iter(found)
        components_of = _COMPONENTS[index]
        rest = c[2:]
        return (d for d in found if all(map(same_value, components_of(d)[2:], rest)))

    def _normalize(self, index: str, c: list[Any]) -> bool:
        """Components as stored, in place: False when an entity position names nothing."""
        e_at, a_at, v_at = _POSITIONS[index]
        ref = index == "vaet"
        if a_at < len(c):
            a = c[a_at] = attribute(c[a_at], QueryError)
            info = self.attr(a)
            if index == "avet" and not info.indexed:
                raise QueryError(f"Attribute {a} should be marked as :db/index true", field=str(a))
            ref = ref or info.ref
        if e_at < len(c):
            c[e_at] = self.entid(c[e_at])
            if c[e_at] is None:
                return False
        if v_at < len(c):
            v = c[v_at]
            if ref and type(v) is not int:
                v = self.entid(v)
                if v is None:
                    return False
            elif type(v) not in SCALARS:
                v = freeze(v)
            c[v_at] = v
        return True

    def _index(self, index: str) -> _Grouped:
        grouped = self._indexes.get(index)
        if grouped is None:
            with self._lock:  # built once even when queried from several threads
                grouped = self._indexes.get(index)
                if grouped is None:
                    grouped = self._indexes[index] = _Grouped(index, self._of(index))
        return grouped

    def _of(self, index: str) -> Iterable[Datom]:
        if index == "avet":
            return (d for d in self._datoms if self.attr(d.a).indexed)
        if index == "vaet":
            return (d for d in self._datoms if self.attr(d.a).ref)
        return self._datoms
