"""The reader's two tokenizers: EDN text -> a list of token strings.

Both give the same tokens for text both accept, with every string replaced
by the token '""' and its body kept, in order, in a second list (no other
token is '""').  The careful one is a regex that takes any text and is the
one errors are located with; the fast one is a few passes of C string
methods (replace, split) that take the usual text and give up, returning
None, on anything unusual.  tests/edn/test_fast_path.py checks that the fast
one never gives tokens the careful one would read differently.
"""

from __future__ import annotations

import re

_WS = r" \t\n\r\f\v,"
_DELIM = _WS + r"()\[\]{}\"\\;"
_RUN = rf"[^{_DELIM}]*+"
_STRING_BODY = r'"([^"\\]*+(?:\\[\s\S][^"\\]*+)*+)"'  # possessive: no backtracking
TOKEN = re.compile(
    rf"[{_WS}]*+(?:{_STRING_BODY}"  # 1: a string's body
    + r"|(\#[{_]|[\[\](){}]"  # 2: any other token: punctuation,
    + rf"|\\[^ \t\n\r\f\v]{_RUN}"  # a character,
    + r"|;[^\n\r]*+"  # a comment,
    + rf"|[^{_DELIM}]++"  # a name or number (checked when read),
    + r"|[\s\S]|\Z))"  # a character nothing starts with, or the end ("")
)
SKIP = re.compile(rf"[{_WS}]*+")
STRING_TOKEN = '""'


def careful_tokens(text: str) -> tuple[list[str], list[str]]:
    """The tokens of any text, and the bodies of its strings."""
    tokens: list[str] = []
    strings: list[str] = []
    for m in TOKEN.finditer(text):
        if m.lastindex == 1:
            strings.append(m[1])
            tokens.append(STRING_TOKEN)
        else:
            tokens.append(m[2])
    return tokens, strings


# The fast tokenizer's passes.  Strings go first, so nothing else looks
# inside them; a regex that starts with a literal '"' finds them about as
# fast as memchr.  What remains is split on whitespace once every
# punctuation mark has spaces around it.  Each pass is exact only in the
# usual case, and each unusual case is detected and refused:
# - a comment (';') after the first form, since a '"' in it would start a
#   string: refused; comments before the first form are skipped.
# - the character `\"`: a quote right after a backslash starts no string.
#   The character `\\` before a string (`\\"a"`) so leaves a quote behind,
#   and the count of quotes left refuses it.
# - characters that are punctuation (`\(`, `\,`, `\"`...) are rewritten as
#   the `\uXXXX` of the same character, so spacing cannot split them.
# - `#{` and `#_` are rewritten as one control character each, refused where
#   the text already has one; after a name character (`a#{`) they make a token
#   no rule reads, as they should.
# - non-ASCII text, where str.split's whitespace differs from EDN's, and the
#   ASCII separators split() takes that EDN does not: refused.
# A token no rule reads, or any other error, makes `loads` start again with
# the careful tokenizer, so errors are always located by it.
_LEADING_COMMENTS = re.compile(rf"(?:[{_WS}]*+;[^\n\r]*+)*+")
_STRING = re.compile('"(?<!\\\\")' + _STRING_BODY[1:])
SET_OPEN, DISCARD_OPEN = "\x01", "\x02"
_NOT_WHITESPACE = "\x1c\x1d\x1e\x1f" + SET_OPEN + DISCARD_OPEN
_PUNCTUATION_CHARS = [(rf"\{c}", rf"\u{ord(c):04x}") for c in '\\"#()[]{},;']  # '\\' first


def fast_tokens(text: str) -> tuple[list[str], list[str]] | None:
    """The tokens of the usual text, as careful_tokens gives them (less comments); else None."""
    if ";" in text:
        text = text[_LEADING_COMMENTS.match(text).end() :]  # type: ignore[union-attr]
    strings: list[str] = []
    if '"' in text:
        parts = _STRING.split(text)  # text, body, text, body, ..., text: one pass
        strings = parts[1::2]
        text = ' "" '.join(parts[::2])
    if not text.isascii():
        return None
    if not text.isprintable() and any(map(text.__contains__, _NOT_WHITESPACE)):
        return None  # (printable ASCII, as most short documents are, holds none)
    if "\\" in text:
        for old, new in _PUNCTUATION_CHARS:
            text = text.replace(old, new)
    if ";" in text or text.count('"') != 2 * len(strings):
        return None
    if "#" in text:
        text = text.replace("#{", SET_OPEN + " ").replace("#_", DISCARD_OPEN + " ")
    # One chain, not a loop over pairs: small documents are most of the traffic.
    text = text.replace("[", " [ ").replace("]", " ] ").replace("{", " { ").replace("}", " } ")
    tokens = text.replace("(", " ( ").replace(")", " ) ").replace(",", " ").split()
    tokens.append("")  # the end, as the careful tokenizer gives it
    return tokens, strings
