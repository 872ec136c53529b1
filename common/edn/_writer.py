"""The EDN writer: Python values -> text (mapping in docs/edn.md).

Scalars are written by one function per exact type, found in a dict.
Collections are written without recursion: a stack of (iterator, texts so
far) frames, each collection joined once its items are written, so any depth
that `loads` can produce writes back.  Joining per collection (rather than
streaming into one buffer) is what lets `sort_keys` sort a map's entries and
a set's members by their written text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import chain
from typing import Any
from uuid import UUID

from ._reader import KEYWORD_NAME, SYMBOL_NAME, TAG_NAME
from ._types import Char, FrozenMap, Keyword, List, Symbol, TaggedLiteral, Vector

TypeWriter = Callable[[Any], Any]

# --- Scalars --------------------------------------------------------------------

_STR_SPECIAL = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')
_STR_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_STR_ESCAPES.update({"\b": "\\b", "\f": "\\f"})


def _escape(m: re.Match[str]) -> str:
    ch = m[0]
    return _STR_ESCAPES.get(ch) or f"\\u{ord(ch):04x}"


def _write_str(s: str) -> str:
    # isprintable() is False for every character that needs escaping, and
    # with the two `in` tests it measured twice as fast as a regex search.
    if s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'
    return '"' + _STR_SPECIAL.sub(_escape, s) + '"'


# Names every EDN reader knows; other control characters go as \uXXXX, which
# edn_format and Clojure read too (edn_format has no \formfeed or \backspace).
_CHAR_NAMES = {"\n": "\\newline", "\r": "\\return", " ": "\\space", "\t": "\\tab"}


def _write_char(c: Char) -> str:
    if len(c) != 1:
        raise ValueError(f"a Char holds exactly one character, not {str.__repr__(c)}")
    code = ord(c)
    if 32 < code < 127:
        return "\\" + c
    named = _CHAR_NAMES.get(c)
    if named is not None:
        return named
    return f"\\u{code:04X}" if code <= 0xFFFF else "\\" + c


def _write_float(x: float) -> str:
    if x - x == 0.0:  # finite
        return repr(x)
    if x != x:
        return "##NaN"
    return "##Inf" if x > 0 else "##-Inf"


def _write_decimal(x: Decimal) -> str:
    if not x.is_finite():
        raise ValueError(f"EDN has no way to write Decimal {str(x)!r}")
    return str(x) + "M"


_LITERAL_NAMES = frozenset(("nil", "true", "false"))
_keyword_texts: dict[str, str] = {}  # full name -> text, once checked
_symbol_texts: dict[str, str] = {}


def _write_keyword(k: Keyword) -> str:
    text = _keyword_texts.get(k.full)
    if text is None:
        if not KEYWORD_NAME.match(k.full):
            raise ValueError(f"{k!r} is not a valid EDN keyword")
        text = _keyword_texts[k.full] = ":" + k.full
    return text


def _write_symbol(s: Symbol) -> str:
    text = _symbol_texts.get(s.full)
    if text is None:
        if not SYMBOL_NAME.match(s.full) or s.full in _LITERAL_NAMES:
            raise ValueError(f"{s!r} is not a valid EDN symbol")
        text = _symbol_texts[s.full] = s.full
    return text


def _write_datetime(instant: datetime) -> str:
    spec = "microseconds" if instant.microsecond % 1000 else "milliseconds"
    if instant.tzinfo is UTC:  # the common case: what the reader gives for "...Z"
        return '#inst "' + instant.isoformat("T", spec)[:-6] + 'Z"'
    offset = instant.utcoffset()
    if offset is None:  # naive: taken as UTC
        return '#inst "' + instant.isoformat("T", spec) + 'Z"'
    if offset.seconds % 60 or offset.microseconds:  # RFC 3339 offsets are whole minutes
        instant, offset = instant.astimezone(UTC), None
    text = instant.isoformat("T", spec)  # ends with "+hh:mm"
    return '#inst "' + (text if offset else text[:-6] + "Z") + '"'


def _write_date(day: date) -> str:
    return '#inst "' + day.isoformat() + 'T00:00:00.000Z"'


_SCALARS: dict[type, Callable[[Any], str]] = {
    type(None): lambda _: "nil",
    bool: lambda b: "true" if b else "false",
    int: int.__repr__,
    float: _write_float,
    Decimal: _write_decimal,
    str: _write_str,
    Char: _write_char,
    Keyword: _write_keyword,
    Symbol: _write_symbol,
    datetime: _write_datetime,
    date: _write_date,
    UUID: lambda u: '#uuid "' + str(u) + '"',
}

# --- Collections ------------------------------------------------------------------

_ROOT, _VECTOR, _LIST, _MAP, _SET = range(5)  # a tagged literal's kind is its "#tag"
_BRACKETS = {_VECTOR: ("[", "]"), _LIST: ("(", ")"), _MAP: ("{", "}"), _SET: ("#{", "}")}
_COLLECTIONS: dict[type, int] = {
    dict: _MAP,
    FrozenMap: _MAP,
    Vector: _VECTOR,
    List: _LIST,
    list: _VECTOR,
    tuple: _VECTOR,
    frozenset: _SET,
    set: _SET,
}

# --- Custom and derived types -----------------------------------------------------

_writers: dict[type, TypeWriter] = {}
# A type seen for the first time is resolved once (by its MRO) and cached here.
_resolved: dict[type, tuple[str, Any]] = {}

# Base classes a subclass falls back to, most specific first.
_FALLBACKS: tuple[tuple[type, Callable[[Any], str] | int], ...] = (
    (int, _SCALARS[int]),
    (float, _SCALARS[float]),
    (Decimal, _write_decimal),
    (Char, _write_char),
    (str, _write_str),
    (datetime, _write_datetime),
    (date, _write_date),
    (UUID, _SCALARS[UUID]),
    (Mapping, _MAP),
    (List, _LIST),
    (AbstractSet, _SET),
)


def register_writer(cls: type, writer: TypeWriter) -> None:
    """Write instances of `cls` (and its subclasses) as `writer(obj)`.

    `writer` returns any value `dumps` can write, usually a
    `TaggedLiteral(Symbol("myapp/Point"), Vector((x, y)))`.
    """
    if cls in _SCALARS or cls in _COLLECTIONS or cls is TaggedLiteral:
        raise ValueError(f"{cls.__name__} is built into the EDN writer")
    _writers[cls] = writer
    _resolved.clear()


def unregister_writer(cls: type) -> None:
    """Forget a writer added by `register_writer`."""
    _writers.pop(cls, None)
    _resolved.clear()


def _resolve(cls: type) -> tuple[str, Any]:
    """How to write an instance of `cls`, a type with no entry in the fast tables."""
    found = _resolved.get(cls)
    if found is not None:
        return found
    found = ("unsupported", None)
    for base in cls.__mro__:
        if base in _writers:
            found = ("custom", _writers[base])
            break
    else:
        for base, how in _FALLBACKS:
            if issubclass(cls, base):
                found = ("collection", how) if isinstance(how, int) else ("scalar", how)
                break
        else:
            if issubclass(cls, Sequence) and not issubclass(cls, (bytes, bytearray)):
                found = ("collection", _VECTOR)
    _resolved[cls] = found
    return found


def _children(obj: Any, kind: Any) -> Iterator[Any]:
    return chain.from_iterable(obj.items()) if kind == _MAP else iter(obj)


def _join(kind: Any, texts: list[str], sort_keys: bool) -> str:
    """The text of a collection (or tagged or replaced value) from its items' texts."""
    if kind == _ROOT:
        return texts[0]
    if type(kind) is str:  # a tagged literal: kind is "#tag"
        return kind + " " + texts[0]
    opener, closer = _BRACKETS[kind]
    if sort_keys:
        if kind == _MAP:
            pairs = sorted(zip(texts[0::2], texts[1::2]))
            texts = [part for pair in pairs for part in pair]
        elif kind == _SET:
            texts = sorted(texts)
    return opener + " ".join(texts) + closer


def _unusual(x: Any, cls: type) -> tuple[Any, Any]:
    """A value of a type outside the fast tables, as (text, None) or (children, kind)."""
    if cls is TaggedLiteral:
        return (x.value,), "#" + _tag_name(x.tag)
    how, what = _resolve(cls)
    if how == "scalar":
        return what(x), None
    if how == "collection":
        return x, what
    if how == "custom":
        replacement = what(x)
        if type(replacement) is cls:
            raise TypeError(f"the EDN writer for {cls.__name__} returned one")
        return (replacement,), _ROOT
    raise TypeError(f"cannot write a {cls.__module__}.{cls.__qualname__} as EDN")


def dumps(obj: Any, *, sort_keys: bool = False) -> str:
    """`obj` as EDN text.

    `sort_keys=True` sorts map entries and set members by their text, giving
    one canonical text per value (for content hashing).  Raises TypeError for
    a type EDN cannot hold and ValueError for a value it cannot (a Keyword
    whose name is not EDN, a NaN Decimal).
    """
    scalars = _SCALARS
    write = scalars.get(type(obj))
    if write is not None:
        return write(obj)

    collections = _COLLECTIONS
    stack: list[tuple[Iterator[Any], list[str], Any]] = []
    texts: list[str] = []
    kind: Any = _ROOT
    items: Iterator[Any] = iter((obj,))
    while True:
        for x in items:
            cls = type(x)
            write = scalars.get(cls)
            if write is not None:
                texts.append(write(x))
                continue
            child_kind = collections.get(cls)
            if child_kind is None:
                x, child_kind = _unusual(x, cls)
                if child_kind is None:  # x is now its text
                    texts.append(x)
                    continue
            # Most collections hold only scalars (a datom, an entity map):
            # write those in one comprehension, the rest item by item.
            try:
                if child_kind == _MAP:
                    leaf = [scalars[type(y)](y) for pair in x.items() for y in pair]
                else:
                    leaf = [scalars[type(y)](y) for y in x]
            except KeyError:
                stack.append((items, texts, kind))
                items, texts, kind = _children(x, child_kind), [], child_kind
                break
            texts.append(_join(child_kind, leaf, sort_keys))
        else:  # the current collection is complete
            text = _join(kind, texts, sort_keys)
            if not stack:
                return text
            items, texts, kind = stack.pop()
            texts.append(text)


def _tag_name(tag: Any) -> str:
    if not isinstance(tag, Symbol) or not TAG_NAME.match(tag.full):
        raise ValueError(f"{tag!r} is not a valid EDN tag")
    return tag.full


__all__ = ["TypeWriter", "dumps", "register_writer", "unregister_writer"]
