"""Matching one data pattern against a source, choosing the index to read.

For a database the pattern's known positions pick the index (DbView.datoms):

    e known             EAVT (e [a [v]])
    a and v known       AVET (a v) if a is indexed, VAET (v a) if a is a ref,
                        else AEVT (a) filtered on v
    a known             AEVT (a)
    otherwise           a full EAVT scan, filtered

A variable already bound in the context counts as known: each distinct
value (combination) is looked up on its own - DataScript's constant
substitution, generalised from one bound tuple to many.  When there are
many distinct values, looking each up can cost more than one scan plus a
hash join, so past `_FEW` values the scan is probed: if it ends within
`_SCAN_RATIO` datoms per value it is used, otherwise the lookups are.

Entity positions (e, tx, and v of a ref attribute) accept lookup refs and
idents: in the query text they must resolve (as DataScript's
entid-strict), while bound values that name nothing just match nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from ...edn import Keyword, Symbol
from .._datom import Datom
from .._schema import as_keyword
from ._ast import Const, Pattern, Var, fail
from ._relation import Rel, Rels, Row, tuple_fn

E, A, V, TX, ADDED = range(5)
_FEW = 32  # up to this many distinct bound values, always look them up one by one
_SCAN_RATIO = 4  # else scan when the scan reads fewer than this many datoms per value


class Shape:
    """A pattern's positions, classified once at plan time against the bound variables."""

    __slots__ = (
        "pattern",
        "consts",
        "bound",
        "bound_vars",
        "positions",
        "free",
        "free_vars",
        "same",
        "out",
        "blank_eav",
    )

    def __init__(self, p: Pattern, bound: frozenset[Symbol]) -> None:
        self.pattern = p
        self.consts: dict[int, Any] = {}
        self.bound: list[tuple[int, Symbol]] = []
        self.free: list[tuple[int, Symbol]] = []  # the first occurrence of each new variable
        self.same: list[tuple[int, int]] = []  # a new variable repeated: (pos, first pos)
        first: dict[Symbol, int] = {}
        for pos, term in enumerate(p.terms):
            if isinstance(term, Const):
                self.consts[pos] = term.value
            elif isinstance(term, Var):
                if term.sym in bound:
                    self.bound.append((pos, term.sym))
                elif term.sym in first:
                    self.same.append((pos, first[term.sym]))
                else:
                    first[term.sym] = pos
                    self.free.append((pos, term.sym))
        self.bound_vars = tuple(sym for _, sym in self.bound)
        self.positions = [pos for pos, _ in self.bound]
        self.free_vars = tuple(sym for _, sym in self.free)
        self.out = tuple_fn([pos for pos, _ in self.free]) if self.free else _nothing
        # Distinct datoms can give equal rows when e, a or v is left open.
        terms = p.terms
        self.blank_eav = len(terms) < 3 or any(not isinstance(t, (Var, Const)) for t in terms[:3])


def _nothing(row: Any) -> Row:
    return ()


def match(rels: Rels, shape: Shape, source: Any) -> None:
    """Join the pattern's matches into `rels`."""
    if hasattr(source, "datoms"):
        _match_db(rels, shape, source)
    else:
        _match_collection(rels, shape, source)


def _join_groups(
    rels: Rels,
    shape: Shape,
    rel: Rel,
    groups: dict[Any, list[Row]],
    outs_for: Any,
) -> None:
    """Extend each row of `rel` (grouped by key) with the matches `outs_for(key)` yields."""
    rows = [
        row + out for key, members in groups.items() for out in outs_for(key) for row in members
    ]
    rels.put(Rel(rel.vars + shape.free_vars, rows))


# -- databases ----------------------------------------------------------------------


def _is_lookup_ref(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and len(x) == 2 and isinstance(x[0], (Keyword, str))


def _entity(db: Any, x: Any, strict: bool) -> Any:
    """An entity id for an id, lookup ref or ident; None if it names nothing (and not strict)."""
    if type(x) is int:
        return x
    if isinstance(x, Keyword) or _is_lookup_ref(x):
        eid = db.entid(x)
        if eid is None and strict:
            raise fail("Nothing found for entity id {}", x)
        return eid
    if strict:
        raise fail("Expected number or lookup ref for entity id, got {}", x)
    return x  # matches nothing, as DataScript


def _ref_value_pos(db: Any, consts: dict[int, Any]) -> bool:
    """Whether v holds an entity: the attribute is a constant ref attribute."""
    a = consts.get(A)
    return isinstance(a, Keyword) and db.attr(a).ref


def _resolve_consts(db: Any, consts: dict[int, Any]) -> dict[int, Any] | None:
    """Constants as the index wants them (attribute keywords, lookup refs resolved).

    None when nothing can match (an attribute position holding a non-attribute).
    """
    a = consts.get(A)
    if a is not None and not isinstance(a, Keyword):
        if not isinstance(a, str) or not a:
            return None
        consts = {**consts, A: as_keyword(a)}
    e, tx, v = consts.get(E), consts.get(TX), consts.get(V)
    if (
        (e is None or type(e) is int)
        and not _is_lookup_ref(tx)
        and not ((isinstance(v, Keyword) or _is_lookup_ref(v)) and _ref_value_pos(db, consts))
    ):
        return consts  # the common case: nothing to resolve, no copy
    consts = dict(consts)
    if E in consts:
        consts[E] = _entity(db, e, strict=True)
    if _is_lookup_ref(tx):
        consts[TX] = _entity(db, tx, strict=True)
    if (isinstance(v, Keyword) or _is_lookup_ref(v)) and _ref_value_pos(db, consts):
        consts[V] = _entity(db, v, strict=True)
    return consts


def _access(db: Any, known: dict[int, Any]) -> tuple[str, tuple[Any, ...]]:
    """The index and leading components that serve the known positions best."""
    if E in known:
        if A not in known:
            return "eavt", (known[E],)
        if V not in known:
            return "eavt", (known[E], known[A])
        return "eavt", (known[E], known[A], known[V])
    if A in known:
        a = known[A]
        if V in known:
            attr = db.attr(a)
            if attr.indexed:
                return "avet", (a, known[V])
            if attr.ref and type(known[V]) is int:
                return "vaet", (known[V], a)
        return "aevt", (a,)
    return "eavt", ()


_COVERED = {
    "eavt": (E, A, V),
    "aevt": (A,),
    "avet": (A, V),
    "vaet": (V, A),
}


def _datoms(db: Any, known: dict[int, Any], same: list[tuple[int, int]]) -> Iterator[Datom]:
    """Datoms matching every known position and the repeated-variable constraints."""
    index, components = _access(db, known)
    covered = _COVERED[index][: len(components)]
    checks = _checks(known, covered)
    found = db.datoms(index, *components)
    if not checks and not same:
        return found
    if len(checks) == 1 and not same and not _bool_like(checks[0][1]):
        pos, value, _ = checks[0]  # the common filtered scan, kept tight: no call per datom
        return (d for d in found if d[pos] == value)
    return (d for d in found if _matches(d, checks, same))


def _bool_like(value: Any) -> bool:
    """Whether == could confuse this value with a boolean (True == 1 in Python)."""
    return type(value) is bool or (isinstance(value, (int, float)) and value in (0, 1))


def _checks(known: dict[int, Any], skip: Iterable[int] = ()) -> list[tuple[int, Any, bool]]:
    """(position, value, whether the value is a boolean) for the positions to compare."""
    return [(pos, value, type(value) is bool) for pos, value in known.items() if pos not in skip]


def _matches(t: Any, checks: list[tuple[int, Any, bool]], same: list[tuple[int, int]]) -> bool:
    """Whether a datom or tuple has the known values (true is not 1) and repeats agree."""
    for pos, value, boolean in checks:
        x = t[pos]
        if x != value or (type(x) is bool) is not boolean:
            return False
    return all(t[i] == t[j] for i, j in same)


def _match_db(rels: Rels, shape: Shape, db: Any) -> None:
    p = shape.pattern
    if len(p.terms) > 5:
        raise fail("Pattern {} has more than 5 elements [e a v tx added]", p.form)
    consts = _resolve_consts(db, shape.consts)
    if consts is None:
        rels.put(Rel(shape.free_vars, []))
        return
    out, same = shape.out, shape.same
    distinct = shape.blank_eav or db.is_history
    if not shape.bound:
        rows: Iterable[Row] = map(out, _datoms(db, consts, same))
        rels.put(Rel(shape.free_vars, list(dict.fromkeys(rows) if distinct else rows)))
        return
    rel = rels.take(shape.bound_vars)
    positions = shape.positions

    def outs_for(key: Any) -> Iterable[Row]:
        known = dict(consts)
        known.update(zip(positions, key))
        found = map(out, _datoms(db, known, same))
        return dict.fromkeys(found) if distinct else list(found)

    groups = _groups(db, shape, consts, rel)
    if len(groups) <= 1:  # one lookup is never worse than one scan
        _join_groups(rels, shape, rel, groups, outs_for)
        return
    scanned = _scan_instead(db, consts, same, groups, positions)
    if scanned is None:
        _join_groups(rels, shape, rel, groups, outs_for)
        return
    key_of = tuple_fn(positions)
    table: dict[Any, dict[Row, None]] = {}
    for d in scanned:
        table.setdefault(key_of(d), {})[out(d)] = None
    _join_groups(rels, shape, rel, groups, lambda key: table.get(key, ()))


def _groups(db: Any, shape: Shape, consts: dict[int, Any], rel: Rel) -> dict[Any, list[Row]]:
    """The context rows grouped by the (resolved) values of the pattern's bound positions."""
    idxs = rel.idxs(shape.bound_vars)
    ref_v = _ref_value_pos(db, consts)
    entity_slots = [
        k for k, (pos, _) in enumerate(shape.bound) if pos in (E, TX) or (pos == V and ref_v)
    ]
    attr_slots = [k for k, (pos, _) in enumerate(shape.bound) if pos == A]
    groups: dict[Any, list[Row]] = {}
    for row in rel.rows:
        key = [row[i] for i in idxs]
        if (entity_slots or attr_slots) and not _resolve_slots(db, key, entity_slots, attr_slots):
            continue  # a value that names no entity (or no attribute) matches nothing
        groups.setdefault(tuple(key), []).append(row)
    return groups


def _resolve_slots(db: Any, key: list[Any], entity_slots: Any, attr_slots: Any) -> bool:
    for k in entity_slots:
        if type(key[k]) is not int:
            key[k] = _entity(db, key[k], strict=False)
            if type(key[k]) is not int:
                return False
    for k in attr_slots:
        if not isinstance(key[k], Keyword):
            if not isinstance(key[k], str) or not key[k]:
                return False
            key[k] = as_keyword(key[k])
    return True


def _scan_instead(
    db: Any, consts: dict[int, Any], same: Any, groups: dict[Any, list[Row]], positions: list[int]
) -> list[Datom] | None:
    """The datoms of one scan when that beats a lookup per bound value, else None."""
    sample = dict(consts)
    sample.update(zip(positions, next(iter(groups))))
    if len(_access(db, sample)[1]) <= len(_access(db, consts)[1]):
        return list(_datoms(db, consts, same))  # bound values do not narrow the index
    if len(groups) <= _FEW:
        return None
    limit = len(groups) * _SCAN_RATIO
    probe = list(islice(_datoms(db, consts, same), limit + 1))
    return probe if len(probe) <= limit else None


# -- collections ----------------------------------------------------------------------


def _match_collection(rels: Rels, shape: Shape, coll: Any) -> None:
    """A source that is a collection of tuples: scan it, join on bound positions."""
    if isinstance(coll, (str, bytes)) or not isinstance(coll, Iterable):
        raise fail(
            "Cannot match pattern {} against a source that is not a collection of tuples",
            shape.pattern.form,
        )
    width = len(shape.pattern.terms)
    checks = _checks(shape.consts)
    out = shape.out
    hits: list[Any] = [
        t
        for t in coll
        if isinstance(t, (list, tuple)) and len(t) >= width and _matches(t, checks, shape.same)
    ]
    if not shape.bound:
        rels.put(Rel(shape.free_vars, list(dict.fromkeys(map(out, hits)))))
        return
    rel = rels.take(shape.bound_vars)
    key_of = tuple_fn(shape.positions)
    table: dict[Any, dict[Row, None]] = {}
    for t in hits:
        table.setdefault(key_of(t), {})[out(t)] = None
    row_key = tuple_fn(rel.idxs(shape.bound_vars))
    groups: dict[Any, list[Row]] = {}
    for row in rel.rows:
        groups.setdefault(row_key(row), []).append(row)
    _join_groups(rels, shape, rel, groups, lambda key: table.get(key, ()))
