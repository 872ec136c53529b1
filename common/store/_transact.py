"""Transaction data to datoms, with DataScript's semantics (db.cljc, transact-tx-data).

Tx data is a list of entity maps and op lists:

    {":db/id": "t1", ":user/name": "Ivan", ":user/friends": [{...}, [":user/email", "x"]]}
    [":db/add", e, a, v]   [":db/retract", e, a]   [":db/retract", e, a, v]
    [":db/retractEntity", e]   [":db.fn/retractAttribute", e, a]   [":db/cas", e, a, old, new]

Items are processed in order against the value as it stands so far; entity
maps explode into `:db/add` ops.  A tempid that turns out to name an
existing entity through a `:db.unique/identity` value (an upsert) after it was
already given a new id restarts the run with that tempid pinned, exactly as
DataScript's `retry-with-tempid` does.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from ..edn import Keyword
from ._datom import TX0, Datom
from ._editor import IndexEditor
from ._index import EMAX, Db, attribute, resolve_eid, show_eid
from ._schema import Attr
from ._values import SCALARS, freeze, same_value, show, sort_values
from .errors import CasFailed, TransactionError, UniqueConflict

DB_ID = Keyword("db/id")
CURRENT_TX = Keyword("db/current-tx")
_TX_TOKENS = frozenset({CURRENT_TX, ":db/current-tx", "datomic.tx", "datascript.tx"})

ADD = Keyword("db/add")
RETRACT = Keyword("db/retract")
RETRACT_ENTITY = Keyword("db/retractEntity")
RETRACT_ATTRIBUTE = Keyword("db.fn/retractAttribute")
CAS = Keyword("db/cas")
_OPS = {
    ADD: ADD,
    RETRACT: RETRACT,
    RETRACT_ENTITY: RETRACT_ENTITY,
    Keyword("db.fn/retractEntity"): RETRACT_ENTITY,
    RETRACT_ATTRIBUTE: RETRACT_ATTRIBUTE,
    CAS: CAS,
    Keyword("db.fn/cas"): CAS,
}
# How many items each op takes, op keyword included.
_ARITY = {ADD: (4,), RETRACT: (3, 4), RETRACT_ENTITY: (2,), RETRACT_ATTRIBUTE: (3,), CAS: (5,)}
_SHAPES = {
    ADD: "[:db/add e a v]",
    RETRACT: "[:db/retract e a] or [:db/retract e a v]",
    RETRACT_ENTITY: "[:db/retractEntity e]",
    RETRACT_ATTRIBUTE: "[:db.fn/retractAttribute e a]",
    CAS: "[:db/cas e a old new]",
}


@dataclass(frozen=True, slots=True)
class TxReport:
    """What a transaction did."""

    db_before: Db
    db_after: Db
    tx_data: list[Datom]  # every datom asserted or retracted (added=False), in order
    tempids: dict[Any, int]  # tempid -> entity id, plus Keyword("db/current-tx") -> tx
    tx: int
    tx_instant: datetime  # UTC


class _AutoTempid:
    """The tempid of an entity map without `:db/id`; never shown in `tempids`."""

    __slots__ = ("n",)
    _counter = itertools.count(1)

    def __init__(self) -> None:
        self.n = next(self._counter)

    def __repr__(self) -> str:
        return f"#tempid {self.n}"


class _Entity:
    """An entity map, normalised: keyword keys, values listed, nested maps prepared."""

    __slots__ = ("eid", "attrs")

    def __init__(self, eid: Any, attrs: dict[Keyword, list[Any]]) -> None:
        self.eid = eid
        self.attrs = attrs

    def __repr__(self) -> str:
        return show({DB_ID: self.eid, **self.attrs})


class _Retry(Exception):
    """Restart the transaction with `tempid` pinned to `eid`."""

    def __init__(self, tempid: Any, eid: int) -> None:
        super().__init__(tempid, eid)
        self.tempid = tempid
        self.eid = eid


def is_tempid(x: Any) -> bool:
    t = type(x)
    return (t is int and x < 0) or t is str or t is _AutoTempid


def _is_tx_token(x: Any) -> bool:
    try:
        return x in _TX_TOKENS
    except TypeError:  # unhashable: certainly not a token
        return False


def _reverse(a: Keyword) -> Keyword:
    """`:ns/_name` <-> `:ns/name`."""
    ns = a.namespace + "/" if a.namespace else ""
    name = a.name[1:] if a.name.startswith("_") else "_" + a.name
    return Keyword(ns + name)


# --- reading tx data ----------------------------------------------------------


def _read(tx_data: Any) -> Any:
    if isinstance(tx_data, str):
        from .. import edn

        tx_data = edn.loads(tx_data)
    if not isinstance(tx_data, (list, tuple)):
        raise TransactionError(
            f"Bad transaction data {show(tx_data)}, expected a list of maps and ops",
            field="tx-data",
        )
    return tx_data


def _prepare(db: Db, tx_data: Any) -> list[Any]:
    """Tx data with keywords normalised and an id given to every map (once, for retries)."""
    items: list[Any] = []
    for item in _read(tx_data):
        if item is None:
            continue
        if _is_map(item):
            items.append(_prepare_map(db, item))
        elif type(item) is Datom:
            op = ADD if item.added else RETRACT
            items.append((op, item.e, item.a, item.v))
        elif isinstance(item, (list, tuple)) and item:
            items.append(_prepare_op(item))
        else:
            raise TransactionError(
                f"Bad entity type at {show(item)}, expected map or vector", field="tx-data"
            )
    return items


def _prepare_op(item: Any) -> tuple[Any, ...]:
    # Keywords written as text become Keywords, so messages show what was meant.
    item = tuple(
        Keyword(x[1:] if x.startswith(":") else x) if i in (0, 2) and isinstance(x, str) and x else x
        for i, x in enumerate(item)
    )
    known = _OPS.get(item[0]) if type(item[0]) is Keyword else None
    if known is None:
        raise TransactionError(
            f"Unknown operation at {show(item)}, expected :db/add, :db/retract, "
            ":db/retractEntity, :db.fn/retractAttribute or :db/cas",
            field="op",
        )
    if len(item) not in _ARITY[known]:
        raise TransactionError(
            f"Bad operation {show(item)}, expected {_SHAPES[known]}", field=str(known)
        )
    return (known, *item[1:])


def _prepare_map(db: Db, m: Mapping[Any, Any]) -> _Entity:
    eid: Any = _AutoTempid()
    attrs: dict[Keyword, list[Any]] = {}
    for k, v in m.items():
        a = _map_key(k, m)
        if a is DB_ID:
            eid = freeze(v) if isinstance(v, list) else v
            continue
        reverse = a.name.startswith("_")
        straight = _reverse(a) if reverse else a
        attr = db.schema.attr(straight)
        if reverse and not attr.ref:
            raise TransactionError(
                f"Bad attribute {a}: reverse attribute name requires "
                "{:db/valueType :db.type/ref} in schema",
                field=str(a),
            )
        values = _values_of(db, attr, v) if (reverse or attr.many) else [v]
        if attr.ref:
            values = [_prepare_map(db, x) if _is_map(x) else x for x in values]
        attrs[a] = values
    return _Entity(eid, attrs)


def _is_map(x: Any) -> bool:
    # isinstance against an ABC costs ~0.3 us even for an int: ref values are mostly ints.
    t = type(x)
    return t is dict or (t not in SCALARS and isinstance(x, Mapping))


def _map_key(k: Any, m: Mapping[Any, Any]) -> Keyword:
    if type(k) is Keyword:
        return k
    if isinstance(k, str) and k:
        return Keyword(k[1:] if k.startswith(":") else k)
    raise TransactionError(
        f"Bad entity attribute {show(k)} at {show(m)}, expected keyword or string", field=show(k)
    )


def _values_of(db: Db, attr: Attr, v: Any) -> list[Any]:
    """The values of a card-many or reverse attribute in a map: a collection or one value."""
    if isinstance(v, (set, frozenset)):
        return list(v)
    if not isinstance(v, (list, tuple)) or isinstance(v, Keyword):
        return [v]
    # [:attr value] in a ref position is one lookup ref, not two values.
    if attr.ref and len(v) == 2 and _names_unique_attr(db, v[0]):
        return [v]
    return list(v)


def _names_unique_attr(db: Db, a: Any) -> bool:
    if type(a) is Keyword:
        return db.schema.attr(a).unique is not None
    if not isinstance(a, str):
        return False
    # Text is compared by name rather than made a Keyword: most strings here
    # are tempids, and keywords are interned forever.
    name = a[1:] if a.startswith(":") else a
    return any(k.full == name and attr.unique for k, attr in db.schema.attrs.items())


# --- the run ------------------------------------------------------------------


class _Run:
    """One pass over the prepared items; may end in `_Retry`."""

    def __init__(self, db: Db, tx: int, tempids: dict[Any, int], upserted: dict[Any, int]) -> None:
        self.schema = db.schema
        self.attr_of = db.schema.attr
        self.tx = tx
        self.ed = IndexEditor(db)
        self.tempids = dict(tempids)
        self.upserted = upserted
        # Tempids pinned by an aborted run keep their ids; new ones go above them.
        self.max_eid = max([db.max_eid, *(e for e in tempids.values() if e < TX0)])
        self.reverse_tempids: dict[int, list[Any]] = {}
        self.value_tempids: dict[int, Any] = {}
        self.redundant: set[int] = set()
        self.tx_data: list[Datom] = []

    # -- ids --

    def lookup(self, a: Keyword, v: Any) -> int | None:
        return self.ed.unique_owner(a, v)

    def entid(self, eid: Any) -> int | None:
        if type(eid) is int and 0 < eid <= EMAX:
            return eid
        return resolve_eid(self.schema, eid, self.lookup, TransactionError)

    def entid_strict(self, eid: Any) -> int:
        if type(eid) is int and 0 < eid <= EMAX:
            return eid
        if is_tempid(eid) and type(eid) is not int:
            raise TransactionError(f"Tempid {show(eid)} can not be resolved here", field=":db/id")
        e = self.entid(eid)
        if e is None:
            raise TransactionError(f"Nothing found for entity id {show_eid(eid)}", field=":db/id")
        return e

    def allocate(self, token: Any, eid: int) -> None:
        """Record that tempid (or tx token) `token` names `eid`."""
        self.tempids[token] = eid
        self.reverse_tempids.setdefault(eid, []).append(token)
        if self.max_eid < eid < TX0:
            self.max_eid = eid

    def value(self, attr: Attr, v: Any, item: Any) -> Any:
        if v is None:
            raise TransactionError(f"Cannot store nil as a value at {show(item)}", field=str(attr.ident))
        if attr.ref:
            return self.entid_strict(v)
        if type(v) is float and v != v:
            # NaN equals nothing, itself included: it could never be found or retracted.
            raise TransactionError(f"Cannot store NaN as a value at {show(item)}", field=str(attr.ident))
        return v if type(v) in SCALARS else freeze(v)

    # -- datoms --

    def assert_datom(self, e: int, attr: Attr, v: Any) -> None:
        a = attr.ident
        if attr.many:
            if self.ed.find(e, a, v) is not None:
                self.redundant.add(e)
                return
        else:
            leaf = self.ed.attrs(e).get(a)
            if leaf is not None:
                if same_value(leaf.v, v):
                    self.redundant.add(e)
                    return
                self.retract_datom(leaf)
        if attr.unique is not None:
            owner = self.ed.unique_owner(a, v)
            if owner is not None:
                raise UniqueConflict(
                    f"Cannot add {show([e, a, v])} because of unique constraint: "
                    f"{show([owner, a, v])} already exists",
                    field=str(a),
                )
        d = Datom(e, a, v, self.tx, True)
        self.ed.add(d)
        self.tx_data.append(d)
        if self.max_eid < e < TX0:
            self.max_eid = e

    def retract_datom(self, d: Datom) -> None:
        self.ed.retract(d)
        self.tx_data.append(Datom(d.e, d.a, d.v, self.tx, False))

    def retract_all(self, datoms: list[Datom]) -> list[Any]:
        """Retract `datoms`; returns the retractEntity ops their components need."""
        cascade = []
        for d in datoms:
            if self.ed.find(d.e, d.a, d.v) is d:
                self.retract_datom(d)
                if self.attr_of(d.a).component:
                    cascade.append((RETRACT_ENTITY, d.v))
        return cascade

    # -- items --

    def run(self, items: list[Any]) -> None:
        stack = items[::-1]
        while stack:
            item = stack.pop()
            more = self.entity(item) if type(item) is _Entity else self.op(item)
            if more:
                stack.extend(reversed(more))
        self.check_value_tempids()

    def entity(self, ent: _Entity) -> list[Any]:
        old = ent.eid
        if _is_tx_token(old):
            self.allocate(old, self.tx)
            return [_Entity(self.tx, ent.attrs)]
        if isinstance(old, (list, tuple, Keyword)):
            return [_Entity(self.entid_strict(old), ent.attrs)]
        if not (type(old) is int or is_tempid(old)):
            raise TransactionError(
                f"Expected number, string or lookup ref for :db/id, got {show(old)}",
                field=":db/id",
            )
        attrs, upserted = self.resolve_upserts(ent)
        if upserted is not None:
            if is_tempid(old) and old in self.tempids and self.tempids[old] != upserted:
                raise _Retry(old, upserted)
            if is_tempid(old):
                self.allocate(old, upserted)
            self.redundant.add(upserted)
            return self.explode(upserted, attrs)
        if is_tempid(old) and any(v and not a.name.startswith("_") for a, v in attrs.items()):
            # Give the tempid its id now, as its first :db/add would: the ops
            # then take the numeric path, and an identity value met later
            # still causes the retry, through `reverse_tempids`.
            eid = self.tempids.get(old)
            if eid is None:
                eid = self.max_eid + 1
                self.allocate(old, eid)
            return self.explode(eid, attrs)
        return self.explode(old, attrs)

    def resolve_upserts(self, ent: _Entity) -> tuple[dict[Keyword, list[Any]], int | None]:
        """The map minus values that name existing entities, and that entity."""
        attrs: dict[Keyword, list[Any]] = {}
        found: dict[int, tuple[Keyword, Any]] = {}
        for a, values in ent.attrs.items():
            attr = self.attr_of(a)
            if attr.unique != "identity":
                attrs[a] = values
                continue
            kept = []
            for v in values:
                e = self.upsert_target(attr, v)
                if e is None:
                    kept.append(v)
                else:
                    found[e] = (a, v)
            if kept:
                attrs[a] = kept
        if not found:
            return attrs, None
        if len(found) > 1:
            (e1, (a1, v1)), (e2, (a2, v2)) = list(found.items())[:2]
            raise UniqueConflict(
                f"Conflicting upserts: {show([a1, v1])} resolves to {e1}, "
                f"but {show([a2, v2])} resolves to {e2}",
                field=str(a2),
            )
        ((e, (a, v)),) = found.items()
        if type(ent.eid) is int and ent.eid > 0 and ent.eid != e:
            raise UniqueConflict(
                f"Conflicting upsert: {show([a, v])} resolves to {e}, "
                f"but entity already has :db/id {ent.eid}",
                field=str(a),
            )
        return attrs, e

    def upsert_target(self, attr: Attr, v: Any) -> int | None:
        if v is None:
            raise TransactionError(f"Cannot store nil as a value of {attr.ident}", field=str(attr.ident))
        if not attr.ref:
            return self.lookup(attr.ident, v if type(v) in SCALARS else freeze(v))
        if is_tempid(v) or type(v) is _Entity or _is_tx_token(v):
            return None
        ref = self.entid(v)
        return None if ref is None else self.lookup(attr.ident, ref)

    def explode(self, eid: Any, attrs: dict[Keyword, list[Any]]) -> list[Any]:
        out: list[Any] = []
        for a, values in attrs.items():
            reverse = a.name.startswith("_")
            straight = _reverse(a) if reverse else a
            for v in values:
                if type(v) is _Entity:
                    # A nested map links back to its parent, whichever way the ref points.
                    link = straight if reverse else _reverse(a)
                    out.append(_Entity(v.eid, {**v.attrs, link: [eid]}))
                elif reverse:
                    out.append((ADD, v, straight, eid))
                else:
                    out.append((ADD, eid, a, v))
        return out

    def op(self, item: tuple[Any, ...]) -> list[Any]:
        op, e = item[0], item[1]
        if op is ADD:
            return self.add(item)
        if is_tempid(e):
            raise TransactionError(
                f"Can't use tempid in '{show(item)}'. Tempids are allowed in :db/add only",
                field=":db/id",
            )
        if op is CAS:
            return self.cas(item)
        if _is_tx_token(e):
            self.allocate(e, self.tx)
            return [(op, self.tx, *item[2:])]
        if op is RETRACT_ENTITY:
            e = self.entid(e)
            if e is None:
                return []
            return self.retract_all(self.ed.entity_datoms(e) + self.ed.refs_to(e))
        attr = self.attr_of(attribute(item[2], TransactionError))
        v = item[3] if len(item) > 3 else None
        if attr.ref and v is not None:
            pinned = self.pin_ref(item, attr, v)
            if pinned:
                return pinned
        e = self.entid(e)
        if e is None:
            return []
        if op is RETRACT and v is not None:
            d = self.ed.find(e, attr.ident, self.value(attr, v, item))
            return self.retract_all([d]) if d is not None else []
        return self.retract_all(self.ed.current(e, attr.ident))

    def pin_ref(self, item: tuple[Any, ...], attr: Attr, v: Any) -> list[Any]:
        """`item` again with a tx token or tempid in its ref value replaced by an id."""
        if _is_tx_token(v):
            self.allocate(v, self.tx)
            return [(item[0], item[1], attr.ident, self.tx)]
        if not is_tempid(v):
            return []
        resolved = self.tempids.get(v)
        if resolved is None:
            resolved = self.max_eid + 1
            self.allocate(v, resolved)
        self.value_tempids[resolved] = v
        return [(item[0], item[1], attr.ident, resolved)]

    def add(self, item: tuple[Any, ...]) -> list[Any]:
        _, e, a, v = item
        attr = self.attr_of(a if type(a) is Keyword else attribute(a, TransactionError))
        if attr.ref and (type(v) is not int or v < 0) and v is not None:
            pinned = self.pin_ref(item, attr, v)
            if pinned:
                return pinned
        if type(e) is not int or not 0 < e <= EMAX:
            if _is_tx_token(e):
                self.allocate(e, self.tx)
                return [(ADD, self.tx, attr.ident, v)]
            if is_tempid(e):
                return self.add_to_tempid(e, attr, v)
            e = self.entid_strict(e)
        v = self.value(attr, v, item)
        if attr.unique == "identity" and e in self.reverse_tempids:
            owner = self.ed.unique_owner(attr.ident, v)
            if owner is not None and owner != e:
                pending = [t for t in self.reverse_tempids[e] if t not in self.upserted]
                if pending:
                    raise _Retry(pending[0], owner)
                raise UniqueConflict(
                    f"Conflicting upsert: {e} resolves to {owner} via {show(item)}",
                    field=str(attr.ident),
                )
        self.assert_datom(e, attr, v)
        return []

    def add_to_tempid(self, tempid: Any, attr: Attr, v: Any) -> list[Any]:
        """Name the entity of `[:db/add tempid a v]`: upserted, allocated before, or new."""
        owner = None
        if attr.unique == "identity" and v is not None:
            owner = self.upsert_target(attr, v)
        allocated = self.tempids.get(tempid)
        if owner is not None and allocated is not None and owner != allocated:
            raise _Retry(tempid, owner)
        eid = owner or allocated or self.max_eid + 1
        self.allocate(tempid, eid)
        return [(ADD, eid, attr.ident, v)]

    def cas(self, item: tuple[Any, ...]) -> list[Any]:
        _, e, a, old, new = item
        e = self.entid_strict(e)
        attr = self.attr_of(attribute(a, TransactionError))
        if attr.ref and old is not None:
            old = self.entid_strict(old)
        elif old is not None and type(old) not in SCALARS:
            old = freeze(old)
        new = self.value(attr, new, item)
        current = [d.v for d in self.ed.current(e, attr.ident)]
        if attr.many:
            ok = any(same_value(v, old) for v in current) if old is not None else not current
            shown = "(" + " ".join(show(v) for v in sort_values(current)) + ")"
        else:
            ok = same_value(current[0], old) if current else old is None
            shown = show(current[0] if current else None)
        if not ok:
            raise CasFailed(
                f":db/cas failed on datom [{e} {attr.ident} {shown}], expected {show(old)}",
                field=str(attr.ident),
            )
        self.assert_datom(e, attr, new)
        return []

    def check_value_tempids(self) -> None:
        """A tempid used only as a ref value would name an entity with no datoms."""
        if not self.value_tempids:
            return
        used = {d.e for d in self.tx_data if d.added} | self.redundant
        unused = [t for e, t in self.value_tempids.items() if e not in used]
        if unused:
            raise TransactionError(
                "Tempids used only as value in transaction: "
                + "(" + " ".join(show(t) for t in sorted(unused, key=str)) + ")",
                field=":db/id",
            )


def transact(db: Db, tx_data: Any, *, instant: datetime | None = None) -> TxReport:
    """Resolve `tx_data` against `db`: the report holds the new value.  Pure."""
    items = _prepare(db, tx_data)
    tx = db.basis_t + 1
    tempids: dict[Any, int] = {}
    upserted: dict[Any, int] = {}
    while True:
        run = _Run(db, tx, tempids, upserted)
        try:
            run.run(items)
            break
        except _Retry as retry:
            if retry.tempid in upserted:
                raise UniqueConflict(
                    f"Conflicting upsert: {show(retry.tempid)} resolves both to "
                    f"{retry.eid} and {upserted[retry.tempid]}",
                    field=":db/id",
                ) from None
            upserted[retry.tempid] = retry.eid
            tempids = {**run.tempids, retry.tempid: retry.eid}
    db_after = run.ed.finish(basis_t=tx, max_eid=run.max_eid)
    reported = {k: v for k, v in run.tempids.items() if type(k) is not _AutoTempid}
    reported[CURRENT_TX] = tx
    return TxReport(
        db_before=db,
        db_after=db_after,
        tx_data=run.tx_data,
        tempids=reported,
        tx=tx,
        tx_instant=instant or datetime.now(timezone.utc),
    )
