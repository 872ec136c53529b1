"""The cross-implementation suite shaunxcode/edn-tests, file by file (issue #2).

Every valid file must read to edn_format's value; every invalid file must be
refused with EDNDecodeError, including the 23 that edn_format wrongly accepts.
"""

from __future__ import annotations

from pathlib import Path

import edn_format
import pytest

from jobstreamer.common.edn import EDNDecodeError, Keyword, Symbol, TaggedLiteral, loads

from ._oracle import EDN_TESTS, normal

VALID = sorted((EDN_TESTS / "valid-edn").glob("*.edn"))
INVALID = sorted((EDN_TESTS / "invalid-edn").glob("*.edn"))

# edn_format raises NotImplementedError on a tag it does not know; the spec
# (and this suite) say a reader must still read it.
NOT_IN_EDN_FORMAT = {
    "tag-unhandled.edn": TaggedLiteral(
        Symbol("myapp/Person"), {Keyword("first"): "Fred", Keyword("last"): "Mertz"}
    ),
}


def test_the_suite_is_there() -> None:
    assert len(VALID) == 52
    assert len(INVALID) == 43


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_file_reads_as_edn_format_does(path: Path) -> None:
    text = path.read_text()
    expected = NOT_IN_EDN_FORMAT.get(path.name)
    if expected is None:
        expected = edn_format.loads(text)
    assert normal(loads(text)) == normal(expected)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_file_is_refused(path: Path) -> None:
    text = path.read_text()
    with pytest.raises(EDNDecodeError) as caught:
        loads(text)
    error = caught.value
    assert 0 <= error.position <= len(text)
    assert f"line {error.line}, column {error.column}" in str(error)


def test_edn_format_accepts_23_of_the_invalid_files() -> None:
    """Why edn_format is only the oracle for valid input."""
    accepted = []
    for path in INVALID:
        try:
            edn_format.loads(path.read_text())
        except Exception:  # edn_format raises several types
            continue
        accepted.append(path.name)
    assert len(accepted) == 23
