from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobstreamer.common import edn
from jobstreamer.common.edn import Char, K, Keyword, List, Symbol, TaggedLiteral, Vector
from jobstreamer.common.wire.json import dumps, from_json, is_keyword_name, loads, to_json

INSTANT = dt.datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=dt.UTC)
ID = uuid.UUID("0f0e1d2c-3b4a-5968-7766-554433221100")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (K("completed"), "completed"),
        (K("job/name"), "job/name"),
        (Symbol("etl.tasks/load"), "etl.tasks/load"),
        (Char("c"), "c"),
        (INSTANT, "2024-05-01T12:00:00.123Z"),
        (dt.datetime(2024, 5, 1, 14, tzinfo=dt.timezone(dt.timedelta(hours=2))), "2024-05-01T14:00:00.000+02:00"),
        (dt.datetime(2024, 5, 1), "2024-05-01T00:00:00.000Z"),
        (ID, "0f0e1d2c-3b4a-5968-7766-554433221100"),
        (Decimal("1.50"), "1.50"),
        (math.nan, "NaN"),
        (-math.inf, "-Infinity"),
        (2**70, 2**70),
        (True, True),
        (None, None),
        (Vector((1, List((2,)))), [1, [2]]),
        (frozenset({3}), [3]),
        (TaggedLiteral(Symbol("my/point"), Vector((1, 2))), "#my/point [1 2]"),
    ],
)
def test_values(value: Any, expected: Any) -> None:
    assert to_json(value) == expected
    assert type(to_json(value)) is type(expected)


def test_keys() -> None:
    data = {K("job/name"): 1, "plain": 2, 3: 4, ID: 5, Vector((1, 2)): 6, None: 7, Symbol("s"): 8}
    assert to_json(data) == {
        "job/name": 1,
        "plain": 2,
        "3": 4,
        str(ID): 5,
        "[1 2]": 6,
        "null": 7,
        "s": 8,
    }


def test_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError, match="no JSON form for bytes"):
        to_json(b"x")


def test_dumps_keeps_text_readable() -> None:
    assert dumps({K("job/name"): "naïve ☃", K("n"): math.inf}) == '{"job/name":"naïve ☃","n":"Infinity"}'


def test_incoming_keys_become_keywords_where_edn_allows() -> None:
    data = loads('{"job/name": "x", "limit": 1, "my key": 2, "a/b/c": 3, ":x": 4, "1st": 5, "": 6}')
    assert data == {K("job/name"): "x", K("limit"): 1, "my key": 2, "a/b/c": 3, ":x": 4, "1st": 5, "": 6}
    assert edn.loads(edn.dumps(data)) == data


def test_incoming_arrays_become_vectors_and_values_stay() -> None:
    data = loads('{"steps": [{"status": "completed", "n": 1.5}, null, true]}')
    assert data == {K("steps"): Vector(({K("status"): "completed", K("n"): 1.5}, None, True))}
    assert type(data[K("steps")]) is Vector


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}'])
def test_non_standard_constants_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not JSON"):
        loads(text)


def test_malformed_json_has_a_position() -> None:
    with pytest.raises(json.JSONDecodeError) as caught:
        loads('{"a": 1,\n "b" 2}')
    assert (caught.value.lineno, caught.value.colno) == (2, 6)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_json_survives_the_trip_through_edn(value: Any) -> None:
    data = from_json(value)
    assert to_json(data) == value
    assert to_json(edn.loads(edn.dumps(data))) == value  # and it is always writable as EDN


KEYWORDS = st.from_regex(r"[a-z][a-z0-9\-]{0,6}(/[a-z][a-z0-9.\-?]{0,6})?", fullmatch=True).map(Keyword)
EDN_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4).map(Vector) | st.dictionaries(KEYWORDS, inner, max_size=4),
    max_leaves=20,
)


@given(EDN_VALUES)
def test_keyword_keyed_edn_survives_the_trip_through_json(value: Any) -> None:
    assert loads(dumps(value)) == value


@given(st.text(alphabet="ab1_-+.:#/*?<>é ", max_size=8))
def test_every_key_taken_for_a_keyword_writes_back(name: str) -> None:
    if is_keyword_name(name):
        assert edn.loads(":" + name) is Keyword(name)
