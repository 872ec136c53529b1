"""Hypothesis strategies for EDN values, as jobstreamer reads them.

Maps and sets are built from lists, not st.dictionaries/st.frozensets: their
uniqueness filter retries draws and then renders the (huge) repr of these
recursive strategies, which is slow and warns.

`values(oracle=True)` keeps to what edn_format can also read back from our
text: Basic Multilingual Plane characters only, decimals within its 28-digit
context, and tags from `ORACLE_TAGS` (edn_format fails on unknown tags).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from jobstreamer.common.edn import Char, FrozenMap, Keyword, List, Symbol, TaggedLiteral, Vector

ORACLE_TAGS = ("myapp/Person", "point", "x.y/z-1")

_LETTERS = "abcxyzABCXYZéßλж"
_FIRST = _LETTERS + "*!_?$%&=<>"
_REST = _FIRST + "0123456789.+-#"


@st.composite
def _part(draw: st.DrawFn) -> str:
    """One part of a name: a valid first character, then constituents with lone inner ':'."""
    first = draw(st.sampled_from(_FIRST) | st.sampled_from("+-.").map(lambda c: c + "a"))
    rest = draw(st.lists(st.sampled_from(_REST), max_size=8))
    text = first + "".join(rest)
    if draw(st.booleans()) and len(text) > 1:  # ':' inside, never doubled, never last
        at = draw(st.integers(1, len(text) - 1))
        if text[at - 1] != ":" and text[at] != ":":
            text = text[:at] + ":" + text[at:]
    return text


def _named(draw: st.DrawFn) -> str:
    name = draw(_part())
    return draw(_part()) + "/" + name if draw(st.booleans()) else name


@st.composite
def _symbol_name(draw: st.DrawFn) -> str:
    name = _named(draw)
    return name + "?" if name in ("nil", "true", "false") else name  # those read as literals


keywords = st.composite(lambda draw: Keyword(_named(draw)))()
symbols = _symbol_name().map(Symbol) | st.just(Symbol("/"))


def characters(oracle: bool) -> st.SearchStrategy[Char]:
    if oracle:
        chars = st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",))
    else:
        chars = st.characters()
    return chars.map(Char)


def decimals(oracle: bool) -> st.SearchStrategy[Decimal]:
    digits = 27 if oracle else 60
    def build(sign: int, coefficient: int, exponent: int) -> Decimal:
        return Decimal((sign, tuple(map(int, str(coefficient))), exponent))

    return st.builds(build, st.integers(0, 1), st.integers(0, 10**digits), st.integers(-40, 40))


_offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
instants = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    _offsets,
)


def scalars(oracle: bool) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(-(10**40), 10**40),
        st.floats(allow_nan=False),  # NaN != NaN: tested on its own
        decimals(oracle),
        st.text() if oracle else st.text(st.characters(codec="utf-8")),
        characters(oracle),
        keywords,
        symbols,
        instants,
        st.uuids(),
    )


@st.composite
def _tag_name(draw: st.DrawFn) -> str:
    """A symbol starting with a letter, never a built-in tag."""
    rest = draw(st.lists(st.sampled_from(_REST), max_size=6))
    name = draw(st.sampled_from(_LETTERS)) + "".join(rest)
    if draw(st.booleans()):
        name += "/" + draw(_part())
    return "my-" + name if name in ("inst", "uuid") else name


def _tagged(oracle: bool, inner: st.SearchStrategy[Any]) -> st.SearchStrategy[TaggedLiteral]:
    names = st.sampled_from(ORACLE_TAGS) if oracle else _tag_name()
    return st.builds(lambda n, v: TaggedLiteral(Symbol(n), v), names, inner)


def hashables(oracle: bool = False) -> st.SearchStrategy[Any]:
    """Values that may be map keys and set members."""
    return st.recursive(
        scalars(oracle),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4).map(Vector),
            st.lists(inner, max_size=4).map(List),
            st.lists(inner, max_size=4).map(frozenset),
            st.lists(st.tuples(inner, inner), max_size=4).map(FrozenMap),
            _tagged(oracle, inner),
        ),
        max_leaves=8,
    )


def values(oracle: bool = False) -> st.SearchStrategy[Any]:
    """Any value `loads` can produce."""
    keys = hashables(oracle)
    return st.recursive(
        scalars(oracle),
        lambda inner: st.one_of(
            st.lists(inner, max_size=5).map(Vector),
            st.lists(inner, max_size=5).map(List),
            st.lists(keys, max_size=4).map(frozenset),
            st.lists(st.tuples(keys, inner), max_size=5).map(dict),
            _tagged(oracle, inner),
        ),
        max_leaves=20,
    )
