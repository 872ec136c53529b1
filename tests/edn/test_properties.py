"""Properties over generated values and text: oracle agreement, round trips, fuzz."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import edn_format
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from jobstreamer.common.edn import EDNDecodeError, Symbol, TaggedLiteral, dumps, loads, loads_all

from ._oracle import normal
from ._strategies import ORACLE_TAGS, hashables, values


@pytest.fixture(scope="module", autouse=True)
def _oracle_knows_our_tags() -> Iterator[None]:
    """edn_format fails on tags it does not know; teach it the generated ones."""
    for name in ORACLE_TAGS:
        edn_format.add_tag(name, lambda value, name=name: TaggedLiteral(Symbol(name), value))
    yield
    for name in ORACLE_TAGS:
        edn_format.remove_tag(name)


@given(values(oracle=True))
def test_edn_format_reads_our_text_as_we_do(value: Any) -> None:
    text = dumps(value)
    assert normal(loads(text)) == normal(value)
    assert normal(edn_format.loads(text)) == normal(value)


@given(values())
def test_loads_inverts_dumps(value: Any) -> None:
    text = dumps(value)
    again = loads(text)
    assert normal(again) == normal(value)
    assert again == value
    assert dumps(again, sort_keys=True) == dumps(value, sort_keys=True)


@given(st.lists(hashables(), max_size=4), st.sampled_from([" ", "\n", ",", " ;c\n", " #_ x "]))
def test_loads_all_reads_a_stream(forms: list[Any], separator: str) -> None:
    text = separator.join(dumps(form) for form in forms)
    assert [normal(v) for v in loads_all(text)] == [normal(v) for v in forms]


# --- Fuzz: bad input may only ever raise EDNDecodeError ---------------------------------

_EDN_ALPHABET = "()[]{}#_:;,/\\\"' \n\t.+-0123456789eEMNabnilutrfsx@^~`é😀"


def _reads_or_refuses(text: str) -> None:
    try:
        loads(text)
        loads_all(text, max_depth=8)
    except EDNDecodeError as e:
        assert 0 <= e.position <= len(text) and e.line >= 1 and e.column >= 1


@given(st.text())
@example("\\")
@example('"\\')
@example("#")
@example("[" * 600)
@example("#a " * 600 + "1")
@example("{#a [] 1}")
@example('#uuid #inst "x"')
@example("1" * 5000)
def test_arbitrary_text(text: str) -> None:
    _reads_or_refuses(text)


@given(st.text(_EDN_ALPHABET, max_size=60))
def test_text_made_of_edn_characters(text: str) -> None:
    _reads_or_refuses(text)


@given(values(), st.data())
def test_mangled_edn(value: Any, data: st.DataObject) -> None:
    text = dumps(value)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        edit = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        char = data.draw(st.sampled_from(_EDN_ALPHABET))
        if edit == "insert":
            text = text[:at] + char + text[at:]
        else:
            text = text[:at] + (char if edit == "replace" else "") + text[at + 1 :]
    _reads_or_refuses(text)
