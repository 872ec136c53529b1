"""The JSON view of EDN data (API.md, "Names, ports, formats").

EDN is canonical; JSON is a lossy view of it for clients that prefer JSON.

Outgoing, `to_json` maps EDN values to JSON values:

    Keyword, Symbol -> their full name without a colon: :job/name -> "job/name"
    Char -> a one-character string      #uuid -> its canonical string
    #inst -> RFC 3339, as the EDN writer gives it: "2024-05-01T12:00:00.000Z"
    Decimal (1.5M) -> a string ("1.5"): a JSON number would reach most clients
                      as a binary float and lose the exactness 1.5M promises
    NaN, Infinity -> "NaN", "Infinity", "-Infinity": JSON has no such numbers
    vectors, lists, sets -> arrays      maps -> objects
    map keys -> strings: keywords and symbols by full name, other scalars as
                their JSON text, composite keys as their EDN text
    #tag value (unknown tags) -> the EDN text of the literal

Distinct EDN keys can meet in one JSON key (:a and "a"); the later one wins.

Incoming, `from_json` maps parsed JSON to the values the EDN reader gives:
an object key that is a valid EDN keyword name ("job/name", "limit") becomes
a `Keyword`; any other key ("my key", "a/b/c") stays a string, so the result
can always be written as EDN.  Arrays become `Vector`s.  Values stay as they
are: strings stay strings, and domain code converts the fields it knows to
be enums, instants or UUIDs.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import uuid
from decimal import Decimal
from typing import Any

from .. import edn
from ..edn import Keyword, Symbol, TaggedLiteral, Vector
from ..edn._reader import KEYWORD_BODY

# The reader's own grammar, so a key taken for a keyword always writes back.
_KEYWORD_NAME = re.compile(KEYWORD_BODY)

_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def is_keyword_name(text: str) -> bool:
    """Whether `:text` reads back as one EDN keyword."""
    return _KEYWORD_NAME.fullmatch(text) is not None


def to_json(value: Any) -> Any:
    """The JSON value (dict, list, str, int, float, bool, None) for EDN `value`."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)  # a Char, like any str subclass, leaves as a plain string
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else _NON_FINITE[value]
    if isinstance(value, dict):
        return {_key(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (tuple, list, frozenset, set)):
        return [to_json(item) for item in value]
    if isinstance(value, (Keyword, Symbol)):
        return value.full
    if isinstance(value, _dt.date):  # datetimes too
        # The EDN writer's RFC 3339 text, so an instant reads alike in both formats.
        return edn.dumps(value)[len('#inst "') : -1]
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, TaggedLiteral):
        return edn.dumps(value)
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _key(key: Any) -> str:
    if isinstance(key, str):
        return str(key)
    if isinstance(key, (Keyword, Symbol)):
        return key.full
    if isinstance(key, (dict, tuple, list, frozenset, set, TaggedLiteral)):
        return edn.dumps(key)
    scalar = to_json(key)
    return scalar if isinstance(scalar, str) else json.dumps(scalar)


def from_json(value: Any) -> Any:
    """EDN data for a value parsed from JSON (see the module docstring)."""
    if isinstance(value, dict):
        return {
            (Keyword(k) if is_keyword_name(k) else k): from_json(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return Vector(from_json(item) for item in value)
    return value


def dumps(value: Any) -> str:
    """JSON text for EDN `value`."""
    return json.dumps(to_json(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: str) -> Any:
    """EDN data for JSON `text`.

    Raises `json.JSONDecodeError` (with line and column) on malformed text and
    `ValueError` on the non-standard constants NaN and Infinity.
    """
    return from_json(json.loads(text, parse_constant=_reject_constant))
