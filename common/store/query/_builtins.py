"""Functions and predicates callable in :where (DataScript built_ins.cljc).

`BUILTINS` is the one table of names: each maps to the Python function
and its arity, which the parser checks so `[(inc ?a ?b) ?c]` fails before
any data is read.  Values follow Clojure: only nil and false are falsy,
comparisons use the total order of `_values.compare`, and `/` on two
integers stays an integer when it divides evenly (Clojure would give a
ratio; a float is the Python reading of 7/2).
"""

from __future__ import annotations

import math
import operator
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from itertools import pairwise
from typing import Any

from ...edn import FrozenMap, Keyword, List, Symbol, Vector
from .._schema import as_keyword
from ..errors import QueryError
from ._ast import show
from ._values import compare, equiv, is_number, truthy


@dataclass(frozen=True, slots=True)
class Builtin:
    fn: Callable[..., Any]
    min_args: int
    max_args: int | None  # None: any number


# -- comparison -----------------------------------------------------------------


_FAST_ORDER = (int, float, str)  # types whose own < agrees with compare (same type only)


def _chain(op: Callable[[Any, Any], bool], test: Callable[[int], bool]) -> Callable[..., bool]:
    """A comparison over any number of values in the total order of `compare`."""

    def compare_all(*xs: Any) -> bool:
        if len(xs) == 2:  # the usual case, on the hot path of filters
            a, b = xs
            t = type(a)
            if t is type(b) and t in _FAST_ORDER:
                return op(a, b)
            return test(compare(a, b))
        return all(test(compare(a, b)) for a, b in pairwise(xs))

    return compare_all


def _eq(*xs: Any) -> bool:
    return all(equiv(xs[0], x) for x in xs[1:])


def _num_eq(*xs: Any) -> bool:
    for x in xs:
        if not is_number(x):
            raise TypeError(f"== expects numbers, got {x!r}")
    return all(xs[0] == x for x in xs[1:])


def _extreme(sign: int) -> Callable[..., Any]:
    def pick(*xs: Any) -> Any:
        return reduce(lambda acc, x: x if compare(x, acc) * sign > 0 else acc, xs)

    return pick


# -- arithmetic -----------------------------------------------------------------


def _minus(x: Any, *ys: Any) -> Any:
    return -x if not ys else reduce(operator.sub, ys, x)


def _exact_div(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and a % b == 0:
        return a // b
    return a / b


def _divide(x: Any, *ys: Any) -> Any:
    return _exact_div(1, x) if not ys else reduce(_exact_div, ys, x)


def _quot(a: Any, b: Any) -> Any:
    q = abs(a) // abs(b)
    q = q if (a < 0) == (b < 0) else -q
    return q if isinstance(a, int) and isinstance(b, int) else float(q)


def _rem(a: Any, b: Any) -> Any:
    return a - b * _quot(a, b)


def _integer(x: Any) -> int:
    if not isinstance(x, int) or isinstance(x, bool):
        raise TypeError(f"expected an integer, got {x!r}")
    return x


def _number(x: Any) -> Any:
    if not is_number(x):
        raise TypeError(f"expected a number, got {x!r}")
    return x


# -- logic ------------------------------------------------------------------------


def _and(*xs: Any) -> Any:
    result: Any = True
    for x in xs:
        if not truthy(x):
            return x
        result = x
    return result


def _or(*xs: Any) -> Any:
    result: Any = None
    for x in xs:
        if truthy(x):
            return x
        result = x
    return result


def _complement(f: Callable[..., Any]) -> Callable[..., bool]:
    return lambda *xs: not truthy(f(*xs))


def _differ(*xs: Any) -> bool:
    half = len(xs) // 2
    return xs[:half] != xs[half:]


# -- names, collections, strings ----------------------------------------------------


def _keyword(*parts: Any) -> Keyword | None:
    if len(parts) == 2:
        ns, name = parts
        return Keyword(f"{ns}/{name}" if ns is not None else name)
    x = parts[0]
    if x is None or isinstance(x, Keyword):
        return x
    return Keyword(x.full) if isinstance(x, Symbol) else as_keyword(x)


def _name(x: Any) -> str:
    return x if isinstance(x, str) else x.name


def _namespace(x: Any) -> str | None:
    return x.namespace


def _hash_map(*kvs: Any) -> FrozenMap:
    if len(kvs) % 2:
        raise ValueError("hash-map expects an even number of arguments")
    return FrozenMap(zip(kvs[::2], kvs[1::2]))


def _count(coll: Any) -> int:
    return 0 if coll is None else len(coll)


def _empty(coll: Any) -> bool:
    return coll is None or len(coll) == 0


def _not_empty(coll: Any) -> Any:
    return None if _empty(coll) else coll


def _contains(coll: Any, key: Any) -> bool:
    if coll is None:
        return False
    if isinstance(coll, (dict, set, frozenset)):
        return key in coll
    if isinstance(coll, (str, list, tuple)):
        return isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(coll)
    raise TypeError(f"contains? not supported on {type(coll).__name__}")


def _get(coll: Any, key: Any, default: Any = None) -> Any:
    if isinstance(coll, dict):
        return coll.get(key, default)
    if isinstance(coll, (set, frozenset)):
        return key if key in coll else default
    if isinstance(coll, (str, list, tuple)) and _contains(coll, key):
        return coll[key]
    return default


def _range(*args: Any) -> tuple[int, ...]:
    return tuple(range(*(_integer(a) for a in args)))


def _to_str(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, (str, int, float, Keyword, Symbol)):
        return str(x)
    return _pr(x)


def _pr(x: Any) -> str:
    from ...edn import dumps  # lazily, like every use of the codec here

    return str(dumps(x))


def _str(*xs: Any) -> str:
    return "".join(_to_str(x) for x in xs)


def _print_str(*xs: Any) -> str:
    return " ".join(_to_str(x) for x in xs)


def _pr_str(*xs: Any) -> str:
    return " ".join(_pr(x) for x in xs)


def _subs(s: str, start: int, end: int | None = None) -> str:
    if not 0 <= start <= (len(s) if end is None else end) <= len(s):
        raise IndexError(f"subs range {start}..{end} out of bounds for a string of {len(s)}")
    return s[start:end]


def _blank(s: Any) -> bool:
    return s is None or not s.strip()


# -- regular expressions ----------------------------------------------------------


def _re_pattern(p: Any) -> re.Pattern[str]:
    return p if isinstance(p, re.Pattern) else re.compile(p)


def _match_value(m: re.Match[str] | None) -> Any:
    if m is None:
        return None
    return Vector((m.group(0), *m.groups())) if m.re.groups else m.group(0)


def _re_find(p: Any, s: str) -> Any:
    return _match_value(_re_pattern(p).search(s))


def _re_matches(p: Any, s: str) -> Any:
    return _match_value(_re_pattern(p).fullmatch(s))


def _re_seq(p: Any, s: str) -> Any:
    found = [_match_value(m) for m in _re_pattern(p).finditer(s)]
    return List(found) if found else None


# -- database functions ---------------------------------------------------------


def _values(db: Any, e: Any, a: Any) -> list[Any]:
    if not hasattr(db, "datoms"):
        raise TypeError("expects a database as its first argument")
    eid = db.entid(e)
    return [] if eid is None else [d.v for d in db.datoms("eavt", eid, as_keyword(a))]


def _get_else(db: Any, e: Any, a: Any, default: Any) -> Any:
    if default is None:
        raise ValueError("get-else: nil default value is not supported")
    found = _values(db, e, a)
    return found[0] if found else default


def _get_some(db: Any, e: Any, *attrs: Any) -> Any:
    for a in attrs:
        found = _values(db, e, a)
        if found:
            return Vector((as_keyword(a), found[0]))
    return None


def _missing(db: Any, e: Any, a: Any) -> bool:
    attr = as_keyword(a)
    if not attr.name.startswith("_"):
        return not _values(db, e, attr)
    forward = Keyword(f"{attr.namespace}/{attr.name[1:]}" if attr.namespace else attr.name[1:])
    eid = db.entid(e)
    if eid is None or not db.attr(forward).ref:
        return True
    return next(iter(db.datoms("vaet", eid, forward)), None) is None


_ANY = None  # readability: no upper bound on the number of arguments

_TABLE: list[tuple[str, Callable[..., Any], int, int | None]] = [
    ("=", _eq, 1, _ANY),
    ("==", _num_eq, 1, _ANY),
    ("not=", lambda *xs: not _eq(*xs), 1, _ANY),
    ("!=", lambda *xs: not _eq(*xs), 1, _ANY),
    ("<", _chain(operator.lt, lambda c: c < 0), 1, _ANY),
    (">", _chain(operator.gt, lambda c: c > 0), 1, _ANY),
    ("<=", _chain(operator.le, lambda c: c <= 0), 1, _ANY),
    (">=", _chain(operator.ge, lambda c: c >= 0), 1, _ANY),
    ("+", lambda *xs: sum(xs, 0), 0, _ANY),
    ("-", _minus, 1, _ANY),
    ("*", lambda *xs: math.prod(xs), 0, _ANY),
    ("/", _divide, 1, _ANY),
    ("quot", _quot, 2, 2),
    ("rem", _rem, 2, 2),
    ("mod", operator.mod, 2, 2),
    ("inc", lambda x: _number(x) + 1, 1, 1),
    ("dec", lambda x: _number(x) - 1, 1, 1),
    ("max", _extreme(1), 1, _ANY),
    ("min", _extreme(-1), 1, _ANY),
    ("zero?", lambda x: _number(x) == 0, 1, 1),
    ("pos?", lambda x: _number(x) > 0, 1, 1),
    ("neg?", lambda x: _number(x) < 0, 1, 1),
    ("even?", lambda x: _integer(x) % 2 == 0, 1, 1),
    ("odd?", lambda x: _integer(x) % 2 == 1, 1, 1),
    ("compare", compare, 2, 2),
    ("rand", lambda n=1: random.random() * n, 0, 1),
    ("rand-int", lambda n: random.randrange(_integer(n)), 1, 1),
    ("true?", lambda x: x is True, 1, 1),
    ("false?", lambda x: x is False, 1, 1),
    ("nil?", lambda x: x is None, 1, 1),
    ("some?", lambda x: x is not None, 1, 1),
    ("not", lambda x: not truthy(x), 1, 1),
    ("and", _and, 0, _ANY),
    ("or", _or, 0, _ANY),
    ("complement", _complement, 1, 1),
    ("identical?", operator.is_, 2, 2),
    ("identity", lambda x: x, 1, 1),
    ("keyword", _keyword, 1, 2),
    ("meta", lambda x: None, 1, 1),
    ("name", _name, 1, 1),
    ("namespace", _namespace, 1, 1),
    ("type", type, 1, 1),
    ("vector", lambda *xs: Vector(xs), 0, _ANY),
    ("list", lambda *xs: List(xs), 0, _ANY),
    ("set", frozenset, 1, 1),
    ("hash-map", _hash_map, 0, _ANY),
    ("array-map", _hash_map, 0, _ANY),
    ("count", _count, 1, 1),
    ("range", _range, 1, 3),
    ("not-empty", _not_empty, 1, 1),
    ("empty?", _empty, 1, 1),
    ("contains?", _contains, 2, 2),
    ("str", _str, 0, _ANY),
    ("pr-str", _pr_str, 0, _ANY),
    ("print-str", _print_str, 0, _ANY),
    ("println-str", lambda *xs: _print_str(*xs) + "\n", 0, _ANY),
    ("prn-str", lambda *xs: _pr_str(*xs) + "\n", 0, _ANY),
    ("subs", _subs, 2, 3),
    ("get", _get, 2, 3),
    ("re-find", _re_find, 2, 2),
    ("re-matches", _re_matches, 2, 2),
    ("re-seq", _re_seq, 2, 2),
    ("re-pattern", _re_pattern, 1, 1),
    ("-differ?", _differ, 0, _ANY),
    ("get-else", _get_else, 4, 4),
    ("get-some", _get_some, 3, _ANY),
    ("missing?", _missing, 3, 3),
    ("ground", lambda x: x, 1, 1),
    ("tuple", lambda *xs: Vector(xs), 0, _ANY),
    ("untuple", lambda x: x, 1, 1),
    ("clojure.string/blank?", _blank, 1, 1),
    ("clojure.string/includes?", lambda s, sub: sub in s, 2, 2),
    ("clojure.string/starts-with?", lambda s, p: s.startswith(p), 2, 2),
    ("clojure.string/ends-with?", lambda s, p: s.endswith(p), 2, 2),
]

BUILTINS: dict[Symbol, Builtin] = {Symbol(n): Builtin(f, lo, hi) for n, f, lo, hi in _TABLE}

# Exceptions a built-in raises on arguments of the wrong kind; they become QueryError.
CALL_ERRORS = (
    TypeError,
    ValueError,
    ArithmeticError,
    AttributeError,
    IndexError,
    KeyError,
    re.error,
)


def call_builtin(name: Symbol, fn: Callable[..., Any], args: Any, form: Any) -> Any:
    """`fn(*args)`; a built-in's failure on bad arguments becomes a QueryError naming the clause."""
    try:
        return fn(*args)
    except QueryError:
        raise
    except CALL_ERRORS as e:
        raise QueryError(f"{name} failed on {show(list(args))}: {e}, in {show(form)}") from e


def arity_ok(builtin: Builtin, n: int) -> bool:
    return n >= builtin.min_args and (builtin.max_args is None or n <= builtin.max_args)
