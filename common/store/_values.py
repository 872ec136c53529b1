"""Datom values as index keys: made hashable on the way in, totally ordered on the way out.

Indexes key on values (AVET, card-many leaves), so a value read from EDN as a
Python list, dict or set is stored in its hashable EDN twin: `Vector`,
`FrozenMap`, `frozenset`.  Index order is computed on demand and must never
raise on mixed types, so values sort by a (type rank, value) key, the way
DataScript orders values of different types by class first.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, Callable, Iterable
from uuid import UUID

from ..edn import Char, FrozenMap, Keyword, Symbol, Vector

# Types whose values are hashable and need no conversion: the fast path.
SCALARS: frozenset[type] = frozenset(
    {int, str, float, bool, Keyword, Symbol, Char, datetime, UUID, Decimal, Fraction, bytes}
)

# Types that sort among themselves with `<` (no NaN) and alone allow a plain sort.
_SELF_SORTING = frozenset({int, str})

_RANK: dict[type, int] = {
    type(None): 0,
    bool: 1,
    int: 2,
    float: 2,
    Decimal: 2,
    Fraction: 2,
    str: 3,
    Char: 3,
    Keyword: 4,
    Symbol: 5,
    datetime: 6,
    UUID: 7,
    bytes: 8,
}
_SEQUENCE_RANK = 9
_SET_RANK = 10
_MAP_RANK = 11
_OTHER_RANK = 12


def freeze(v: Any) -> Any:
    """`v` in a hashable form that compares equal to it (lists become Vectors)."""
    if type(v) in SCALARS:
        return v
    if isinstance(v, tuple):
        items = tuple(freeze(x) for x in v)
        return v if all(a is b for a, b in zip(items, v)) else type(v)(items)
    if isinstance(v, list):
        return Vector(freeze(x) for x in v)
    if isinstance(v, dict):
        return FrozenMap({freeze(k): freeze(x) for k, x in v.items()})
    if isinstance(v, (set, frozenset)):
        return frozenset(freeze(x) for x in v)
    return v


def value_key(v: Any) -> tuple[Any, ...]:
    """A sort key that orders any two values without raising."""
    t = type(v)
    rank = _RANK.get(t)
    if rank is not None:
        if t is datetime:
            # Naive and aware datetimes do not compare; keep them apart.
            return (rank, v.tzinfo is not None, v)
        if t is Keyword or t is Symbol:
            return (rank, v.full)
        return (rank, v)
    if isinstance(v, tuple):
        return (_SEQUENCE_RANK, tuple(value_key(x) for x in v))
    if isinstance(v, (set, frozenset)):
        return (_SET_RANK, tuple(sorted(value_key(x) for x in v)))
    if isinstance(v, dict):
        return (_MAP_RANK, tuple(sorted((value_key(k), value_key(x)) for k, x in v.items())))
    if isinstance(v, str):  # str subclasses other than Char
        return (_RANK[str], str(v))
    return (_OTHER_RANK, t.__name__, repr(v))


def sort_values(items: Iterable[Any], of: Callable[[Any], Any] | None = None) -> list[Any]:
    """`items` in index order of their values (`of(item)`, default the item itself).

    One plain sort when the values share a simple type, the ranked key otherwise.
    """
    items = list(items)
    values = items if of is None else list(map(of, items))
    types = set(map(type, values))
    if len(types) == 1 and types <= _SELF_SORTING:
        return sorted(items, key=of)
    if of is None:
        return sorted(items, key=value_key)
    return sorted(items, key=lambda item: value_key(of(item)))


def same_value(a: Any, b: Any) -> bool:
    """Datom value equality; True and 1 are different values, unlike in Python."""
    return a == b and (type(a) is bool) == (type(b) is bool)


def show(v: Any) -> str:
    """`v` as EDN-like text for error messages: `[:user/name "Ivan"]`."""
    if isinstance(v, (Keyword, Symbol)):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(show(x) for x in v) + "]"
    if isinstance(v, (set, frozenset)):
        return "#{" + " ".join(show(x) for x in v) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{show(k)} {show(x)}" for k, x in v.items()) + "}"
    return repr(v)
