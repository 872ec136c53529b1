"""How query values behave: Clojure truthiness, ordering and hashability.

Relations are sets of tuples, so every value bound to a variable must be
hashable: `freeze` turns the mutable Python containers a caller or a
function may hand us into their EDN counterparts (list -> Vector, dict ->
FrozenMap, set -> frozenset).

`compare` is DataScript's `value-compare` (db.cljc): a total order over
values of any types, so `[(< ?a ?b)]` never fails on mixed types.  Numbers
compare numerically, sequences by length then element-wise, values of one
type by their natural order, and values of different types by their
Java class name, as DataScript does on the JVM (so every number sorts
before every string).
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from fractions import Fraction
from typing import Any
from uuid import UUID

from ...edn import Char, FrozenMap, Keyword, List, Symbol, Vector

_MUTABLE = (list, dict, set, bytearray)


def freeze(value: Any) -> Any:
    """`value`, made hashable where it is a mutable container (deeply)."""
    if not isinstance(value, _MUTABLE + (tuple, frozenset)):
        return value
    if isinstance(value, dict):
        return FrozenMap({freeze(k): freeze(v) for k, v in value.items()})
    if isinstance(value, (set, frozenset)):
        return frozenset(freeze(v) for v in value)
    if isinstance(value, bytearray):
        return bytes(value)
    items = [freeze(v) for v in value]
    if type(value) is tuple or type(value) is list:
        return Vector(items)
    return type(value)(items)  # List, Vector and other tuple subclasses keep their type


def truthy(value: Any) -> bool:
    """Clojure truth: only nil and false are false (0 and "" are true)."""
    return value is not None and value is not False


def equiv(a: Any, b: Any) -> bool:
    """Clojure `=` on values: like ==, but booleans never equal numbers."""
    return a == b and (type(a) is bool) == (type(b) is bool)


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float, Decimal, Fraction)) and type(x) is not bool


def is_sequence(x: Any) -> bool:
    return isinstance(x, (list, tuple))


# Java class names of the types DataScript would see, for ordering across types.
_CLASS_NAMES: dict[type, str] = {
    type(None): "",  # nil sorts before everything
    bool: "java.lang.Boolean",
    int: "java.lang.Long",
    float: "java.lang.Double",
    Decimal: "java.math.BigDecimal",
    Fraction: "clojure.lang.Ratio",
    str: "java.lang.String",
    Char: "java.lang.Character",
    Keyword: "clojure.lang.Keyword",
    Symbol: "clojure.lang.Symbol",
    datetime: "java.util.Date",
    date: "java.time.LocalDate",
    time: "java.time.LocalTime",
    UUID: "java.util.UUID",
    bytes: "[B",
    Vector: "clojure.lang.PersistentVector",
    tuple: "clojure.lang.PersistentVector",
    list: "clojure.lang.PersistentVector",
    List: "clojure.lang.PersistentList",
    frozenset: "clojure.lang.PersistentHashSet",
    set: "clojure.lang.PersistentHashSet",
    dict: "clojure.lang.PersistentArrayMap",
    FrozenMap: "clojure.lang.PersistentArrayMap",
}
# Types whose own < is a total order Clojure would agree with.
_ORDERED = (str, bool, datetime, date, time, UUID, bytes)


def _class_name(x: Any) -> str:
    t = type(x)
    name = _CLASS_NAMES.get(t)
    return name if name is not None else f"{t.__module__}.{t.__qualname__}"


def _sign(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


def compare(x: Any, y: Any) -> int:
    """-1, 0 or 1: DataScript's value-compare, total over all values."""
    if x is y:
        return 0
    tx = type(x)
    if tx is type(y) and (tx is int or tx is str):
        return _sign(x, y)
    if is_number(x) and is_number(y):
        return _sign(x, y)
    if is_sequence(x) and is_sequence(y):
        return _compare_seqs(x, y)
    if tx is type(y):
        return _compare_same_type(x, y)
    cx, cy = _class_name(x), _class_name(y)
    if cx != cy:
        return -1 if cx < cy else 1
    return _compare_same_type(x, y)


def _compare_same_type(x: Any, y: Any) -> int:
    if isinstance(x, (Keyword, Symbol)):
        # Clojure orders names by namespace (absent first), then name.
        return _sign(
            (x.namespace is not None, x.namespace or "", x.name),
            (y.namespace is not None, y.namespace or "", y.name),
        )
    if isinstance(x, _ORDERED):
        try:
            return _sign(x, y)
        except TypeError:  # naive vs aware datetimes: fall back to the hash, as DataScript
            pass
    if equiv(x, y):
        return 0
    return _sign(_hash(x), _hash(y))


def _hash(x: Any) -> int:
    try:
        return hash(freeze(x))
    except TypeError:  # an unhashable object of a foreign type: any stable order will do
        return id(x)


def _compare_seqs(xs: Any, ys: Any) -> int:
    if len(xs) != len(ys):
        return -1 if len(xs) < len(ys) else 1
    for x, y in zip(xs, ys):
        c = compare(x, y)
        if c:
            return c
    return 0
