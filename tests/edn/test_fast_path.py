"""The reader's two tokenizers: the fast one never reads what the careful one would not.

`loads` first tokenizes with C string passes (`_fast_tokens`) and starts again
with the careful regex tokenizer on anything unusual or on any error.  The
property that keeps that safe: whenever the fast tokens give a value, the
careful tokens give the same value; whenever the careful ones give an error,
the fast ones give up.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bench.edn import PERFORMANCE, TRANSACTION
from jobstreamer.common.edn import EDNDecodeError, dumps, loads
from jobstreamer.common.edn import _reader as reader
from jobstreamer.common.edn import _tokens

from ._oracle import normal
from ._strategies import values

_MISSING = object()


def _fast(text: str, root: int) -> Any:
    """What the fast tokens give: a value, None if refused, _MISSING on an error."""
    tokens = _tokens.fast_tokens(text)
    if tokens is None:
        return None
    try:
        return reader._build(None, *tokens, None, 512, root)
    except reader._Retry:
        return _MISSING


def _careful(text: str, root: int) -> Any:
    """What the careful tokens give: a value, or the EDNDecodeError."""
    try:
        return reader._build(text, *_tokens.careful_tokens(text), None, 512, root)
    except EDNDecodeError as e:
        return e


def _agree(text: str) -> None:
    for root in (reader._ONE, reader._ALL):
        fast, careful = _fast(text, root), _careful(text, root)
        if isinstance(careful, EDNDecodeError):
            assert fast is None or fast is _MISSING, (text, fast, careful)
        elif fast is not None and fast is not _MISSING:
            assert normal(fast) == normal(careful), text


# Each is a case one of the fast tokenizer's passes gets wrong and must refuse.
_TRICKY = [
    r'[\" "a"]',  # the character \" is no string's start
    r'[\\"a"]',  # the character \\ and then a string
    r'[\"a"]',
    r"[\( \) \[ \] \{ \} \, \; \# \\]",  # characters that are punctuation
    r"\#{}",
    "a#{} #{a#{}}",  # '#{' inside a name
    ":a#_b #__ #_#_ 1 2 3",
    "##{}",
    "[1 ; comment \"\n 2]",  # a comment after the first form
    ';; header "\n[1 2]',
    '"a" ; "b',
    "[:é 1]",  # non-ASCII outside strings
    "[a\x1cb]",  # str.split's separators that EDN does not have
    "[a\xa0b]",
    "[\x01 1]",
    "[\x02 1]",
    "[+-1 +1 -1 + - -> -a +a --1]",  # names that start like numbers
    "[+]",
    "[1N 2N -3N +4N]",
    "[1.5M 2M -0.000M]",
    "[1N 1.5M 2.5]",
    "[1.5N]",
    "[1e5N]",
    "[1NM]",
    "[1MM 2M]",
    "[-Infinity +Infinity +NaN +NaNM +true +null 1]",  # what JSON's scanner reads
    "[+e5 +.5 -e 1e+5]",
    "[01 1_0 1. .5 0x10 1e 1e+]",
    "[1" + "0" * 5000 + "]",
    '#inst "1985-04-12T23:20:50.52Z"',
    '#uuid "fb20d6ab-c4e8-4404-b0df-885f58e3f682"',
    '#inst ;c\n "1985"',
    '#uuid "not-a-uuid"',
    '"\\q"',
    '"\\u00e9\\ud83d\\ude00"',
    "[1 2",
    "[1 2}",
    "{:a 1 :a 2}",
    '"unterminated',
]


@pytest.mark.parametrize("text", _TRICKY)
def test_tricky_text_reads_as_the_careful_tokenizer_reads_it(text: str) -> None:
    _agree(text)
    try:
        value = loads(text)
    except EDNDecodeError as e:
        careful = _careful(text, reader._ONE)
        assert isinstance(careful, EDNDecodeError) and str(e) == str(careful)
    else:
        found = _careful(text, reader._ONE)
        assert normal(value) == normal(found[0] if found else None)


_EDN_ALPHABET = "()[]{}#_:;,/\\\"' \n\t.+-0123456789eEMNabnilutrfsx@^~`é\x01\x1c"


@given(values(), st.data())
@example(None, None)
def test_written_and_mangled_edn(value: Any, data: st.DataObject | None) -> None:
    text = dumps(value)
    _agree(text)
    if data is None:
        return
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        char = data.draw(st.sampled_from(_EDN_ALPHABET))
        text = text[:at] + char + text[at + data.draw(st.integers(0, 1)) :]
    _agree(text)


@given(st.text(_EDN_ALPHABET, max_size=60))
def test_text_made_of_edn_characters(text: str) -> None:
    _agree(text)


def test_the_usual_documents_take_the_fast_path() -> None:
    # Else the speed measured by bench/edn.py silently falls back to the careful path.
    texts = [TRANSACTION] + [path.read_text() for path in sorted(PERFORMANCE.glob("*.edn"))]
    assert all(_tokens.fast_tokens(text) is not None for text in texts)
