"""edn_format as the oracle: read with it and compare values through `normal`.

edn_format reads into its own types (ImmutableDict, ImmutableList, tuple for
lists, its Keyword/Symbol/Char, date for a date-only #inst), ours into
jobstreamer's.  `normal` maps both onto plain tagged tuples, so two values
are equal exactly when they are the same EDN value of the same kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import edn_format

from jobstreamer.common.edn import Char, Keyword, List, Symbol, TaggedLiteral, Vector

EDN_TESTS = Path(__file__).resolve().parents[2].parent / "shared" / "edn-tests"


def _name_kind(value: Any) -> str | None:
    if isinstance(value, (Keyword, edn_format.Keyword)):
        return "keyword"
    if isinstance(value, (Symbol, edn_format.Symbol)):
        return "symbol"
    return None


def normal(value: Any) -> Any:
    """`value`, from either reader, as nested plain tuples tagged by EDN kind."""
    kind = _name_kind(value)
    if kind is not None:
        return (kind, value.full if hasattr(value, "full") else value.name)
    if value is None or isinstance(value, bool):
        return ("atom", value)
    if isinstance(value, (Char, edn_format.Char)):
        return ("char", str(value))
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", repr(value))  # repr: so NaN equals NaN and -0.0 differs from 0.0
    if isinstance(value, Decimal):
        return ("decimal", value)
    if isinstance(value, datetime):
        return ("inst", value.astimezone(UTC), value.utcoffset())
    if isinstance(value, date):  # edn_format reads "1985-04-12" as a date
        return normal(datetime.combine(value, time(), tzinfo=UTC))
    if isinstance(value, UUID):
        return ("uuid", value)
    if isinstance(value, TaggedLiteral):
        return ("tagged", value.tag.full, normal(value.value))
    if isinstance(value, Mapping):
        return ("map", frozenset((normal(k), normal(v)) for k, v in value.items()))
    if isinstance(value, (frozenset, set)):
        return ("set", frozenset(normal(v) for v in value))
    if isinstance(value, (Vector, edn_format.ImmutableList, list)):
        return ("vector", tuple(normal(v) for v in value))
    if isinstance(value, (List, tuple)):  # edn_format reads a list as a plain tuple
        return ("list", tuple(normal(v) for v in value))
    raise TypeError(f"no normal form for {type(value).__name__}")
