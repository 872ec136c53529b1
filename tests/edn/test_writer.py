"""dumps: the text written for every type, sort_keys, and the writer registry."""

from __future__ import annotations

import enum
from collections import OrderedDict, namedtuple
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobstreamer.common.edn import (
    Char,
    FrozenMap,
    K,
    Keyword,
    List,
    Symbol,
    TaggedLiteral,
    Vector,
    dumps,
    loads,
    register_writer,
    unregister_writer,
)

from ._strategies import hashables

_UUID = "fb20d6ab-c4e8-4404-b0df-885f58e3f682"


class Colour(enum.IntEnum):
    RED = 1


Pair = namedtuple("Pair", "left right")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "nil"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-5, "-5"),
        (10**30, "1000000000000000000000000000000"),
        (Colour.RED, "1"),
        (1.5, "1.5"),
        (1e16, "1e+16"),
        (-0.0, "-0.0"),
        (float("inf"), "##Inf"),
        (float("-inf"), "##-Inf"),
        (float("nan"), "##NaN"),
        (Decimal("1.50"), "1.50M"),
        (Decimal("1E+3"), "1E+3M"),
        (Decimal("-0"), "-0M"),
        ("", '""'),
        ("plain é 😀", '"plain é 😀"'),
        ('q" b\\ n\n t\t r\r b\b f\f', r'"q\" b\\ n\n t\t r\r b\b f\f"'),
        ("\x00\x1f\x7f", '"\\u0000\\u001f\x7f"'),
        ("\ud800", r'"\ud800"'),
        (Char("a"), r"\a"),
        (Char("\\"), "\\\\"),
        (Char("\n"), r"\newline"),
        (Char("\r"), r"\return"),
        (Char(" "), r"\space"),
        (Char("\t"), r"\tab"),
        (Char("\f"), r"\u000C"),
        (Char("é"), r"\u00E9"),
        (Char("😀"), "\\😀"),
        (K("a"), ":a"),
        (K("db/id"), ":db/id"),
        (Symbol("?e"), "?e"),
        (Symbol("/"), "/"),
        (datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC), '#inst "2020-01-02T03:04:05.000Z"'),
        (datetime(2020, 1, 2, 3, 4, 5, 120000, UTC), '#inst "2020-01-02T03:04:05.120Z"'),
        (datetime(2020, 1, 2, 3, 4, 5, 123456, UTC), '#inst "2020-01-02T03:04:05.123456Z"'),
        (
            datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            '#inst "2020-01-02T03:04:05.000+05:30"',
        ),
        (
            datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone(-timedelta(hours=8))),
            '#inst "2020-01-02T03:04:05.000-08:00"',
        ),
        # RFC 3339 offsets are whole minutes: any other offset is written in UTC.
        (
            datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(seconds=30))),
            '#inst "2020-01-02T03:03:35.000Z"',
        ),
        (datetime(2020, 1, 2, 3, 4, 5), '#inst "2020-01-02T03:04:05.000Z"'),  # naive is UTC
        (date(2020, 1, 2), '#inst "2020-01-02T00:00:00.000Z"'),  # midnight UTC
        (UUID(_UUID), f'#uuid "{_UUID}"'),
        (List((1, 2)), "(1 2)"),
        (Vector((1, 2)), "[1 2]"),
        ([1, [2]], "[1 [2]]"),
        ((1, 2), "[1 2]"),
        (Pair(1, 2), "[1 2]"),
        ((), "[]"),
        (List(()), "()"),
        ({}, "{}"),
        ({K("a"): 1, "b": [2]}, '{:a 1 "b" [2]}'),
        (FrozenMap({1: 2}), "{1 2}"),
        (OrderedDict([(1, 2)]), "{1 2}"),
        (MappingProxyType({1: 2}), "{1 2}"),
        (frozenset(), "#{}"),
        ({1}, "#{1}"),
        (TaggedLiteral(Symbol("my/tag"), Vector((1, 2))), "#my/tag [1 2]"),
        (TaggedLiteral(Symbol("a"), TaggedLiteral(Symbol("b"), None)), "#a #b nil"),
        ([{K("a"): frozenset({List((None,))})}], "[{:a #{(nil)}}]"),
    ],
)
def test_writes(value: Any, text: str) -> None:
    assert dumps(value) == text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Decimal("NaN"), "EDN has no way to write Decimal 'NaN'"),
        (Decimal("-Infinity"), "EDN has no way to write Decimal '-Infinity'"),
        (Char("ab"), "a Char holds exactly one character, not 'ab'"),
        (Keyword("a b"), "Keyword('a b') is not a valid EDN keyword"),
        (Keyword("a/b/c"), "Keyword('a/b/c') is not a valid EDN keyword"),
        (Symbol("nil"), "Symbol('nil') is not a valid EDN symbol"),
        (Symbol("1a"), "Symbol('1a') is not a valid EDN symbol"),
        (TaggedLiteral(Symbol("1a"), 1), "Symbol('1a') is not a valid EDN tag"),
        (TaggedLiteral(Symbol("_"), 1), "Symbol('_') is not a valid EDN tag"),
    ],
)
def test_values_edn_cannot_hold(value: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        dumps([value])
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("value", "name"),
    [(object(), "builtins.object"), (b"x", "builtins.bytes"), (1j, "builtins.complex"),
     (time(1, 2), "datetime.time"), (print, "builtins.builtin_function_or_method")],
)
def test_unsupported_types_are_a_type_error(value: Any, name: str) -> None:
    with pytest.raises(TypeError, match=f"^cannot write a {name} as EDN$"):
        dumps({K("k"): [value]})


@dataclass(frozen=True)
class Point:
    x: int
    y: int


class Point3(Point):
    pass


class TestRegistry:
    def test_a_custom_type(self) -> None:
        register_writer(Point, lambda p: TaggedLiteral(Symbol("geo/point"), Vector((p.x, p.y))))
        try:
            assert dumps([Point(1, 2), Point3(3, 4)]) == "[#geo/point [1 2] #geo/point [3 4]]"
            assert dumps({Point(1, 2): "p"}, sort_keys=True) == '{#geo/point [1 2] "p"}'
        finally:
            unregister_writer(Point)
        with pytest.raises(TypeError, match="Point"):
            dumps(Point(1, 2))

    def test_the_most_specific_writer_wins(self) -> None:
        register_writer(Point, lambda p: "point")
        register_writer(Point3, lambda p: "point3")
        try:
            assert dumps([Point(1, 2), Point3(3, 4)]) == '["point" "point3"]'
        finally:
            unregister_writer(Point)
            unregister_writer(Point3)

    def test_a_writer_must_change_the_type(self) -> None:
        register_writer(Point, lambda p: p)
        try:
            with pytest.raises(TypeError, match="the EDN writer for Point returned one"):
                dumps(Point(1, 2))
        finally:
            unregister_writer(Point)

    @pytest.mark.parametrize("cls", [int, str, dict, list, frozenset, Keyword, TaggedLiteral])
    def test_built_in_types_cannot_be_overridden(self, cls: type) -> None:
        with pytest.raises(ValueError, match="built into the EDN writer"):
            register_writer(cls, repr)


class TestSortKeys:
    def test_maps_and_sets_are_sorted_by_their_text(self) -> None:
        value = {K("b"): frozenset({3, 1, 2}), K("a"): {"z": 1, "y": 2}, 1: None}
        assert dumps(value, sort_keys=True) == '{1 nil :a {"y" 2 "z" 1} :b #{1 2 3}}'

    def test_sequences_keep_their_order(self) -> None:
        assert dumps(Vector((3, 1, 2)), sort_keys=True) == "[3 1 2]"

    @given(st.lists(st.tuples(hashables(), hashables()), max_size=4).map(dict), st.randoms())
    def test_one_text_whatever_the_insertion_order(self, value: dict[Any, Any], rnd: Any) -> None:
        items = list(value.items())
        rnd.shuffle(items)
        assert dumps(dict(items), sort_keys=True) == dumps(value, sort_keys=True)
        assert dumps(frozenset(value), sort_keys=True) == dumps(
            frozenset(reversed(list(value))), sort_keys=True
        )


def test_deep_nesting_is_written_without_recursion() -> None:
    value: Any = None
    for _ in range(20_000):
        value = Vector((value,))
    text = dumps(value)
    assert text == "[" * 20_000 + "nil" + "]" * 20_000
    assert dumps(loads(text, max_depth=20_000)) == text  # == on such tuples would recurse
