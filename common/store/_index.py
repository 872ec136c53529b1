"""The current database value and its four indexes.

Shapes (a leaf is a `Datom` for cardinality one, a `Node` v -> Datom for
cardinality many; EAVT and AEVT share leaf objects; an `IntMap` is a table of
small chunks keyed by entity id, see _intmap.py):

    eavt  IntMap e -> Node a -> leaf
    aevt  PMap a -> IntMap e -> leaf
    avet  PMap a -> PMap v -> Datom           (:db/unique attributes)
               or PMap v -> IntMap e -> Datom (:db/index, not unique)
    vaet  IntMap v -> dict a -> referrers (ref attributes)

where referrers is the one `Datom` referring to v through a (the usual case:
a component, a user's org seen from a small org), or an IntMap e -> Datom.

Hashed maps keep point lookups at a few hundred nanoseconds per level; the
price is that index order has to be computed.  Every dict is immutable once
published, so a `Node` computes its order once and keeps it: scanning an
attribute again, or pulling an entity again, reads cached tuples.  A
transaction edits copies (`_editor.IndexEditor`) and publishes a new `Db`;
every older `Db` stays valid and unchanged.  `_build.build_db` makes one in
bulk (opening a store, `as_of`).
"""

from __future__ import annotations

from itertools import chain
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from pyrsistent import PMap, pmap

from ..edn import Keyword
from ._datom import TX0, Datom
from ._db import DbMethods
from ._intmap import EMPTY_INTMAP, IntMap, Node
from ._schema import Attr, Schema, as_keyword
from ._storage import TxRecord
from ._values import SCALARS, freeze, same_value, show, sort_values
from .errors import QueryError, SchemaError, StoreError

if TYPE_CHECKING:
    from ._transact import TxReport

EMPTY: PMap = pmap()
DB_IDENT = Keyword("db/ident")
# DataScript's `emax`: ids above it are rejected rather than silently accepted.
EMAX = 0x7FFFFFFF

HistorySource = Callable[[int], Iterable[TxRecord]]
_by_name = attrgetter("full")
_key_of = itemgetter(0)
_v_of = attrgetter("v")


def pget(m: PMap, key: Any, default: Any = None) -> Any:
    """`m.get(key, default)` without the KeyError that PMap's Mapping.get raises on a miss.

    Misses are the common case while transacting new entities, and an
    exception costs more than a second hash lookup.
    """
    return m[key] if key in m else default


def no_history(t: int) -> Iterable[TxRecord]:
    """The history of a database value that was never committed anywhere."""
    return ()


# --- entity ids ---------------------------------------------------------------


def resolve_eid(
    schema: Schema,
    eid: Any,
    lookup: Callable[[Keyword, Any], int | None],
    error: type[StoreError],
) -> int | None:
    """An entity id from an int, an ident or a lookup ref; None when nothing matches.

    `lookup(a, v)` finds the entity holding unique value `v`; `error` is the
    class raised for a malformed id (QueryError on reads, TransactionError in
    a transaction).
    """
    t = type(eid)
    if t is int:
        if 0 < eid <= EMAX:
            return eid
        if eid > EMAX:
            raise error(f"Highest supported entity id is {EMAX}, got {eid}", field=":db/id")
        raise error(f"Expected a positive entity id, got {eid}", field=":db/id")
    if t is Keyword:
        return lookup(DB_IDENT, eid)
    if isinstance(eid, (list, tuple)) and t is not Datom:
        if len(eid) != 2:
            raise error(f"Lookup ref should contain 2 elements: {show_eid(eid)}", field=":db/id")
        a = attribute(eid[0], error)
        attr = schema.attr(a)
        if attr.unique is None:
            raise error(
                f"Lookup ref attribute should be marked as :db/unique: {show_eid(eid)}",
                field=str(a),
            )
        v = eid[1]
        if v is None:
            return None
        if attr.ref and type(v) is not int:
            v = resolve_eid(schema, v, lookup, error)
            if v is None:
                return None
        return lookup(a, v if type(v) in SCALARS else freeze(v))
    raise error(f"Expected number, ident or lookup ref for entity id, got {show(eid)}", field=":db/id")


def show_eid(eid: Any) -> str:
    """An entity id for a message; a lookup ref's attribute shown as the keyword it stands for."""
    if not isinstance(eid, (list, tuple)) or not eid:
        return show(eid)
    head = eid[0]
    if isinstance(head, str) and head:
        head = Keyword(head[1:] if head.startswith(":") else head)
    return show([head, *eid[1:]])


def attribute(a: Any, error: type[StoreError]) -> Keyword:
    """`a` as an attribute keyword, or `error` naming it."""
    if type(a) is Keyword:
        return a
    try:
        return as_keyword(a)
    except SchemaError:
        raise error(f"Bad attribute {show(a)}, expected keyword or string", field=show(a)) from None


# --- leaves -------------------------------------------------------------------


def leaf_datoms(leaf: Any) -> Iterable[Datom]:
    """The datoms of one leaf, unordered."""
    return (leaf,) if type(leaf) is Datom else leaf.values()


def leaf_ordered(leaf: Any) -> tuple[Datom, ...]:
    """The datoms of one leaf in value order."""
    return (leaf,) if type(leaf) is Datom else leaf.ordered(_by_value)


def _by_value(leaf: Node) -> tuple[Datom, ...]:
    if len(leaf) == 1:
        return tuple(leaf.values())
    return tuple(sort_values(leaf.values(), _v_of))


def leaf_find(leaf: Any, v: Any) -> Datom | None:
    """The datom of `leaf` whose value is `v`."""
    if leaf is None:
        return None
    if type(leaf) is Datom:
        return leaf if same_value(leaf.v, v) else None
    try:
        d = leaf[v]
    except (KeyError, TypeError):
        return None
    return d if same_value(d.v, v) else None


def entity_ordered(attrs: Node) -> tuple[Datom, ...]:
    """An entity's datoms in EAVT order (by attribute name, then value)."""
    return attrs.ordered(_by_attribute)


def _by_attribute(attrs: Node) -> tuple[Datom, ...]:
    out: list[Datom] = []
    for a in sorted(attrs, key=_by_name):
        leaf = attrs[a]
        if type(leaf) is Datom:
            out.append(leaf)
        else:
            out.extend(leaf_ordered(leaf))
    return tuple(out)


def _avet_sorted(by_v: PMap) -> Iterator[Datom]:
    for _, x in sort_values(by_v.items(), _key_of):
        if type(x) is Datom:
            yield x
        else:
            yield from x.sorted_values()


def referrers_of(x: Datom | IntMap) -> Iterable[Datom]:
    """The datoms of a VAET referrers entry, in entity order."""
    return (x,) if isinstance(x, Datom) else x.sorted_values()


def as_referrers(by_e: IntMap) -> Datom | IntMap:
    """The VAET entry for these datoms: the datom itself when it is the only one."""
    return next(by_e.values()) if len(by_e) == 1 else by_e


def _referrers(by_a: dict[Keyword, Datom | IntMap]) -> Iterator[Datom]:
    """The VAET datoms of one value: by attribute name, then entity."""
    return chain.from_iterable(referrers_of(by_a[a]) for a in sorted(by_a, key=_by_name))


def _with_tx(datoms: Iterable[Datom], tx: Any) -> Iterator[Datom]:
    return (d for d in datoms if d.tx == tx)


# --- the database value -------------------------------------------------------


class Db(DbMethods):
    """An immutable database value: what `conn.db()` returns (implements DbView)."""

    __slots__ = (
        "schema",
        "basis_t",
        "max_eid",
        "datom_count",
        "history_source",
        "_eavt",
        "_aevt",
        "_avet",
        "_vaet",
    )
    is_history = False

    def __init__(
        self,
        schema: Schema,
        eavt: IntMap,
        aevt: PMap,
        avet: PMap,
        vaet: IntMap,
        *,
        basis_t: int,
        max_eid: int,
        datom_count: int,
        history_source: HistorySource = no_history,
    ) -> None:
        self.schema = schema
        self.basis_t = basis_t  # the last transaction this value includes (TX0: none)
        self.max_eid = max_eid  # the highest entity id allocated so far
        self.datom_count = datom_count  # how many current datoms there are
        # Committed TxRecords with tx <= t, oldest first: what time views replay.
        self.history_source = history_source
        self._eavt = eavt
        self._aevt = aevt
        self._avet = avet
        self._vaet = vaet

    @classmethod
    def empty(cls, schema: Schema, history_source: HistorySource = no_history) -> Db:
        return cls(
            schema, EMPTY_INTMAP, EMPTY, EMPTY, EMPTY_INTMAP,
            basis_t=TX0, max_eid=0, datom_count=0, history_source=history_source,
        )

    def __repr__(self) -> str:
        return f"<Db basis_t={self.basis_t} datoms={self.datom_count}>"

    def attr(self, a: Keyword) -> Attr:
        return self.schema.attr(a)

    # -- entity ids --

    def entid(self, eid: Any) -> int | None:
        if type(eid) is int and 0 < eid <= EMAX:
            return eid
        return resolve_eid(self.schema, eid, self.unique_owner, QueryError)

    def unique_owner(self, a: Keyword, v: Any) -> int | None:
        """The entity whose unique attribute `a` has value `v` (hashable), or None."""
        try:
            d = self._avet[a][v]
        except (KeyError, TypeError):  # no such value; an unhashable value is nobody's
            return None
        return d.e if type(d) is Datom else None

    # -- index access --

    def datoms(self, index: str, *components: Any) -> Iterator[Datom]:
        # Trailing Nones mean "any", so callers can pass fixed-arity patterns.
        n = len(components)
        while n and components[n - 1] is None:
            n -= 1
        c = components[:n]
        if index == "eavt":
            return self._eavt_datoms(c)
        if index == "aevt":
            return self._aevt_datoms(c)
        if index == "avet":
            return self._avet_datoms(c)
        if index == "vaet":
            return self._vaet_datoms(c)
        raise QueryError(f"Unknown index {index!r}, expected eavt, aevt, avet or vaet", field="index")

    def all_datoms(self) -> Iterator[Datom]:
        """Every current datom, attribute by attribute, each in entity order.

        The fast way to copy a value (a checkpoint): it reads the cached orders.
        """
        return chain.from_iterable(map(self._attribute_datoms, self._aevt.keys()))

    def _attribute_datoms(self, a: Keyword, by_e: IntMap | None = None) -> Iterator[Datom]:
        """AEVT datoms of `a`: its leaves in entity order, read from the chunks' caches."""
        leaves = (self._aevt[a] if by_e is None else by_e).sorted_values()
        if self.schema.attr(a).many:
            return chain.from_iterable(map(leaf_ordered, leaves))
        return leaves

    def _value(self, attr: Attr, v: Any) -> Any:
        """A value component as stored: lookup refs resolved for refs, hashable otherwise."""
        if attr.ref and type(v) is not int:
            return self.entid(v)
        return v if type(v) in SCALARS else freeze(v)

    def _eavt_datoms(self, c: tuple[Any, ...]) -> Iterator[Datom]:
        if not c:
            return chain.from_iterable(map(entity_ordered, self._eavt.sorted_values()))
        e = self.entid(c[0])
        attrs = self._eavt.get(e) if e is not None else None
        if attrs is None:
            return iter(())
        if len(c) == 1:
            return iter(entity_ordered(attrs))
        attr = self.schema.attr(attribute(c[1], QueryError))
        leaf = attrs.get(attr.ident)
        if leaf is None:
            return iter(())
        if len(c) == 2:
            return iter(leaf_ordered(leaf))
        return self._leaf_tail(leaf, attr, c[2:])

    def _aevt_datoms(self, c: tuple[Any, ...]) -> Iterator[Datom]:
        if not c:
            by_name = sorted(self._aevt.keys(), key=_by_name)
            return chain.from_iterable(map(self._attribute_datoms, by_name))
        attr = self.schema.attr(attribute(c[0], QueryError))
        by_e = pget(self._aevt, attr.ident)
        if by_e is None:
            return iter(())
        if len(c) == 1:
            return self._attribute_datoms(attr.ident, by_e)
        e = self.entid(c[1])
        leaf = by_e.get(e) if e is not None else None
        if leaf is None:
            return iter(())
        if len(c) == 2:
            return iter(leaf_ordered(leaf))
        return self._leaf_tail(leaf, attr, c[2:])

    def _leaf_tail(self, leaf: Any, attr: Attr, c: tuple[Any, ...]) -> Iterator[Datom]:
        """Datoms of `leaf` matching (v) or (v, tx)."""
        v = self._value(attr, c[0])
        d = leaf_find(leaf, v) if v is not None else None
        if d is None or (len(c) > 1 and d.tx != c[1]):
            return iter(())
        return iter((d,))

    def _avet_datoms(self, c: tuple[Any, ...]) -> Iterator[Datom]:
        if not c:
            return (
                d
                for a in sorted(self._avet.keys(), key=_by_name)
                for d in _avet_sorted(self._avet[a])
            )
        attr = self.schema.attr(attribute(c[0], QueryError))
        if not attr.indexed:
            raise QueryError(
                f"Attribute {attr.ident} should be marked as :db/index true", field=str(attr.ident)
            )
        by_v = self._avet.get(attr.ident)
        if by_v is None:
            return iter(())
        if len(c) == 1:
            return _avet_sorted(by_v)
        v = self._value(attr, c[1])
        try:
            x = by_v[v] if v is not None and v in by_v else None
        except TypeError:  # unhashable: stored by nobody
            x = None
        if x is None:
            return iter(())
        # Python hashes 1 and True alike, so the value is checked, not just the key.
        e = self.entid(c[2]) if len(c) > 2 else None
        hits: Iterable[Datom]
        if type(x) is Datom:  # unique: one entity per value
            hits = (x,) if same_value(x.v, v) and (len(c) == 2 or x.e == e) else ()
        elif len(c) == 2:
            hits = (d for d in x.sorted_values() if same_value(d.v, v))
        else:
            d = x.get(e) if e is not None else None
            hits = (d,) if d is not None and same_value(d.v, v) else ()
        return _with_tx(hits, c[3]) if len(c) > 3 else iter(hits)

    def _vaet_datoms(self, c: tuple[Any, ...]) -> Iterator[Datom]:
        if not c:
            return chain.from_iterable(map(_referrers, self._vaet.sorted_values()))
        v = self.entid(c[0])
        by_a = self._vaet.get(v) if v is not None else None
        if by_a is None:
            return iter(())
        if len(c) == 1:
            return _referrers(by_a)
        found = by_a.get(attribute(c[1], QueryError))
        if found is None:
            return iter(())
        if len(c) == 2:
            return iter(referrers_of(found))
        e = self.entid(c[2])
        d = found if type(found) is Datom else found.get(e)
        return iter((d,) if d is not None and d.e == e else ())

    # -- new values --

    def with_tx(self, tx_data: Any) -> TxReport:
        """What transacting `tx_data` would give, without persisting it anywhere."""
        from ._transact import transact

        return transact(self, tx_data)

    def with_schema(self, schema: Schema) -> Db:
        """This value under a schema that indexes it alike (`_migrate.rebuild` decides)."""
        return Db(
            schema, self._eavt, self._aevt, self._avet, self._vaet,
            basis_t=self.basis_t, max_eid=self.max_eid, datom_count=self.datom_count,
            history_source=self.history_source,
        )

    def with_datoms(self, datoms: Iterable[Datom], tx: int, max_eid: int) -> Db:
        """This value plus an already-resolved transaction (replaying the log)."""
        from ._build import gc_paused
        from ._editor import IndexEditor

        with gc_paused():
            editor = IndexEditor(self)
            for d in datoms:
                if d.added:
                    editor.add(d)
                else:
                    old = editor.find(d.e, d.a, d.v if type(d.v) in SCALARS else freeze(d.v))
                    if old is not None:
                        editor.retract(old)
            return editor.finish(basis_t=tx, max_eid=max_eid)


