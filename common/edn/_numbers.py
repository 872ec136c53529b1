"""The reader's numbers: every number token of a document read at once.

EDN's number grammar is JSON's (no leading zeros, digits on both sides of
'.', an optional exponent) but for a leading '+' and the suffixes N (an
integer) and M (a decimal).  So the number tokens of a large document,
joined by commas, go through one pass of JSON's C scanner, which checks
and converts them, after the '+', N and M are stripped where that is safe.
The reader's loop then looks each token up in the table that makes.  Where
the scanner fails (a symbol such as `-x` among them, an invalid number)
each token is read on its own, as it is in small documents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from itertools import compress
from operator import itemgetter
from typing import Any

INTEGER = re.compile(r"[+-]?(?:0|[1-9][0-9]*+)N?\Z")
_FLOAT = re.compile(r"[+-]?(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?(?:[eE][+-]?[0-9]++)?M?\Z")
NUMBER_FIRST = frozenset("0123456789+-")
_first = itemgetter(slice(0, 1))  # "" for the end token; no new string
BAD_NUMBER = object()  # a token that starts like a number but is not one


def number(token: str) -> Any:
    """The value of one token starting with a digit, '+' or '-', or BAD_NUMBER."""
    try:
        if token.isdigit() and token.isascii() and (token[0] != "0" or len(token) == 1):
            return int(token)  # the usual case, without a regex
        if INTEGER.match(token):
            return int(token[:-1] if token[-1] == "N" else token)
        if _FLOAT.match(token):
            return Decimal(token[:-1]) if token[-1] == "M" else float(token)
    except ValueError:  # more digits than sys.get_int_max_str_digits()
        pass
    return BAD_NUMBER


def number_reader(tokens: list[str]) -> Callable[[str], Any]:
    """A function from each token starting with a digit, '+' or '-' to its value.

    The lookup in a table of all of them, read by JSON's scanner, else `number`.
    """
    found = list(compress(tokens, map(NUMBER_FIRST.__contains__, map(_first, tokens))))
    joined = ",".join(found)
    if "+" in joined:
        if "+-" in joined:  # the symbol +-5 is no number: JSON would read -5
            return number
        joined = ("," + joined).replace(",+", ",")[1:]  # "+5" is 5
    decimal = False
    if "M" in joined:  # all decimals (1.5M), or each on its own
        ends = joined.count("M,") + joined.endswith("M")
        if ends != len(found) or joined.count("M") != ends:
            return number
        joined, decimal = joined.replace("M", ""), True
    elif "N" in joined:  # whole integers only (42N), or each on its own
        if "." in joined or "e" in joined or "E" in joined:
            return number
        if joined.count("N,") + joined.endswith("N") != joined.count("N"):
            return number
        joined = joined.replace("N", "")
    if joined.encode().translate(None, b"0123456789.,eE+-"):
        # Other letters: JSON would read -Infinity, and +true as true.
        return number
    array = f"[{joined}]"
    try:
        values, end = (_scan_decimals if decimal else _scan_numbers)(array, 0)
    except (ValueError, StopIteration):  # one is not a number, or has too many digits
        return number
    if end != len(array) or len(values) != len(found):  # "[1] x"; a lone "+"
        return number
    return dict(zip(found, values)).__getitem__


# JSON's C scanner itself: json.loads builds a decoder per call when given hooks.
_scan_numbers = json.JSONDecoder().scan_once
_scan_decimals = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal).scan_once
