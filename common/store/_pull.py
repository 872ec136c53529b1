"""The pull API: an entity's attributes as nested dicts, per DataScript pull_api.cljc.

    pull(db, "[:user/name {:user/friends [:user/name]}]", [":user/email", "a@x"])
    -> {Keyword("user/name"): "Ann", Keyword("user/friends"): [{...}, ...]}

Results are keyed by attribute keyword (or the `:as` value), `:db/id` is an
int, card-many values and non-component reverse refs are lists, and a ref not
pulled further is `{:db/id n}`.  An entity the pattern finds nothing on pulls
as None.

Evaluation is a trampoline: each entity is a generator that yields the
sub-pulls it needs, so a chain of thousands of refs (`{:friend ...}`) never
touches Python's recursion limit.
"""

from __future__ import annotations

from itertools import groupby, islice
from typing import Any, Generator, Iterable

from pyrsistent import PSet, pset

from ..edn import Keyword
from ._datom import Datom
from ._pull_pattern import DB_ID, PullAttr, PullPattern, parse, wildcard_attr
from ._view import DbView
from .errors import QueryError

__all__ = ["parse", "parse_for", "pull", "pull_many"]

# A sub-pull an entity's generator asks the driver for.
_Request = tuple[PullPattern, int, PSet, dict[int, int]]
_Pull = Generator[_Request, Any, Any]


def pull(db: DbView, pattern: Any, eid: Any) -> dict[Any, Any] | None:
    """Pull `pattern` (EDN text, data, or `parse`d) from one entity (id, lookup ref or ident)."""
    return _pull_one(db, parse_for(db, pattern), eid)


def pull_many(db: DbView, pattern: Any, eids: Iterable[Any]) -> list[dict[Any, Any] | None]:
    """`pull` for each of `eids`, parsing the pattern once."""
    parsed = parse_for(db, pattern)
    return [_pull_one(db, parsed, eid) for eid in eids]


def parse_for(db: DbView, pattern: Any) -> PullPattern:
    """`pattern` parsed against db's schema, once for many pulls; QueryError on a history view."""
    if db.is_history:
        # As in Datomic: a history value holds retracted facts next to current
        # ones, so there is no single entity to pull.
        raise QueryError("pull needs a current or as_of database, not history()")
    return parse(db.schema, pattern)


def _pull_one(db: DbView, pattern: PullPattern, eid: Any) -> dict[Any, Any] | None:
    e = db.entid(eid)
    if e is None:
        return None
    return _drive(db, _entity(db, pattern, e, pset(), {}))


def _drive(db: DbView, root: _Pull) -> Any:
    stack = [root]
    value = None
    while True:
        try:
            request = stack[-1].send(value)
        except StopIteration as done:
            stack.pop()
            if not stack:
                return done.value
            value = done.value
        else:
            stack.append(_entity(db, *request))
            value = None


def _entity(
    db: DbView, pattern: PullPattern, e: int, seen: PSet, limits: dict[int, int]
) -> _Pull:
    result: dict[Any, Any] = {}
    for attr in pattern.attrs:  # first, so that printed results lead with the id
        if attr.name is DB_ID:
            result[attr.key] = attr.xform(e) if attr.xform else e
    by_attr: dict[Keyword, list[Datom]] = {}
    if pattern.wildcard:
        by_attr = {a: list(ds) for a, ds in groupby(db.datoms("eavt", e), key=_attr_of)}
        for a, datoms in by_attr.items():
            if a not in pattern.explicit:
                attr = wildcard_attr(db.schema, a)
                yield from _put(result, pattern, attr, _limited(attr, datoms), seen, limits)
    for attr in pattern.attrs:
        if attr.name is DB_ID:
            continue
        found = by_attr.get(attr.name, []) if pattern.wildcard else db.datoms("eavt", e, attr.name)
        yield from _put(result, pattern, attr, _limited(attr, found), seen, limits)
    for attr in pattern.reverse_attrs:
        referrers = _limited(attr, db.datoms("vaet", e, attr.name))
        yield from _put(result, pattern, attr, referrers, seen, limits)
    return result or None


def _attr_of(d: Datom) -> Keyword:
    return d.a


def _limited(attr: PullAttr, datoms: Iterable[Datom]) -> list[Datom]:
    """The datoms `attr` uses: one for card-one and component owners, else up to its limit."""
    if attr.reverse:
        # Many entities may point at this one even through a card-one attribute.
        limit = 1 if attr.component else attr.limit
    else:
        limit = attr.limit if attr.many else 1
    return list(datoms if limit is None else islice(datoms, limit))


def _put(
    result: dict[Any, Any],
    pattern: PullPattern,
    attr: PullAttr,
    datoms: list[Datom],
    seen: PSet,
    limits: dict[int, int],
) -> Generator[_Request, Any, None]:
    """Store `attr`'s value, from its (already limited) datoms, into `result`."""
    if not datoms:
        # A default wins over xform, which otherwise sees the missing value as None.
        value = attr.default if attr.default is not None else _xform(attr, None)
        if value is not None:
            result[attr.key] = value
        return
    if attr.ref:
        targets = [d.e for d in datoms] if attr.reverse else [d.v for d in datoms]
        values = []
        for target in targets:
            pulled = yield from _ref(pattern, attr, target, seen, limits)
            if pulled is not None:
                values.append(pulled)
        # A component reverse ref names the one owner: a map, not a list.
        single = attr.component if attr.reverse else not attr.many
        value = (values[0] if values else None) if single else (values or None)
    else:
        value = [d.v for d in datoms] if attr.many else datoms[0].v
    value = _xform(attr, value)
    if value is not None:
        result[attr.key] = value


def _xform(attr: PullAttr, value: Any) -> Any:
    return attr.xform(value) if attr.xform is not None else value


def _ref(
    pattern: PullPattern, attr: PullAttr, target: int, seen: PSet, limits: dict[int, int]
) -> Generator[_Request, Any, Any]:
    """Pull a referenced entity, guarding recursion and component expansion.

    `seen` holds the entities on the current path of expanding refs: meeting
    one again yields just `{:db/id n}`, as DataScript does.  It starts empty,
    so the root entity is expanded once more when a cycle returns to it.
    """
    if not attr.expands:
        assert attr.pattern is not None
        return (yield (attr.pattern, target, seen, limits))
    if target in seen:
        return {DB_ID: target}
    left = limits.get(id(attr))
    if left is not None and left <= 0:
        return None
    if left is not None:
        limits = {**limits, id(attr): left - 1}
    elif attr.recursion_limit is not None:
        limits = {**limits, id(attr): attr.recursion_limit - 1}
    sub = pattern if attr.recursive else attr.pattern
    assert sub is not None
    return (yield (sub, target, seen.add(target), limits))
