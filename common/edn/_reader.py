"""The EDN reader: text -> Python values (mapping in docs/edn.md).

Why hand-written: edn_format rebuilds its PLY parser on every call, about
0.4 ms for a four-key map, and EDN is the format of every request and every
stored transaction (issue #2; `python -m bench.edn` measures both).

How it is fast: one compiled regex splits the whole text into tokens in a
single `findall` call, and a flat loop turns them into values.  An explicit
stack of open collections replaces recursion, so nesting is bounded by
`max_depth`, never by the interpreter.  Token positions are not kept on the
hot path: an error re-scans the text to find where its token is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from ._types import Char, FrozenMap, Keyword, List, Symbol, TaggedLiteral, Vector
from .errors import EDNDecodeError, line_column

DEFAULT_MAX_DEPTH = 512
DEFAULT_MAX_LENGTH = 64 * 1024 * 1024  # characters; pass None for trusted bulk data

# --- The grammar of names -----------------------------------------------------------
# Symbols (spec): begin with a non-numeric character; `+ - .` first only if
# the next character is not a digit; `: #` anywhere but first.  As in
# Clojure, a part never ends with `:` and never holds `::`.
_CHAR = r"[\w.*+!\-?$%&=<>#]"  # constituents other than ':' and '/'
_REST = rf"(?:{_CHAR}|:(?={_CHAR}))*"
_FIRST = r"(?:[^\W\d]|[*!?$%&=<>]|[+\-.](?![0-9]))"
_PART = _FIRST + _REST
SYMBOL = rf"(?:/|{_PART}(?:/{_PART})?)"
# Keywords follow the symbol rules after the ':' except that, as the
# conformance suite requires (`:#foo`, `:#/:a`), a part may start with '#'
# and the name part with ':'.
KEYWORD_BODY = rf"(?:{_FIRST}|\#){_REST}(?:/(?:{_FIRST}|\#|:(?={_CHAR})){_REST})?"
TAG = rf"[^\W\d_]{_REST}(?:/{_PART})?"  # after '#': a symbol starting with a letter

# Shared with the writer, which refuses to write a name that would not read
# back, and with the JSON view (common/wire/json.py), which imports KEYWORD_BODY.
KEYWORD_NAME = re.compile(KEYWORD_BODY + r"\Z")  # after the ':'
SYMBOL_NAME = re.compile(SYMBOL + r"\Z")
TAG_NAME = re.compile(TAG + r"\Z")  # after the '#'
_CHARACTER = re.compile(
    r"(?:newline|return|space|tab|formfeed|backspace|u[0-9A-Fa-f]{4}|.)\Z", re.S
)

# --- The tokenizer ------------------------------------------------------------------
# Group 1 holds every token but numbers: strings, punctuation and names
# (keywords, symbols, characters, tags), a name matched loosely as a run up to
# a delimiter and checked against the grammar above once per distinct name.
# Each alternative in it starts with a literal or a character set, which the
# regex engine rejects on one character; one group per kind of token measured
# about twice as slow.
_WS = r" \t\n\r\f\v,"
_DELIM = _WS + r"()\[\]{}\"\\;"
_END = rf"(?=[{_DELIM}]|\Z)"  # a number must be followed by a delimiter
_RUN = rf"[^{_DELIM}]*+"
_INT = r"[+-]?(?:0|[1-9][0-9]*+)"
_TOKEN = re.compile(
    rf"[{_WS}]*+(?:("  # possessive quantifiers throughout: no backtracking
    + r'"[^"\\]*+(?:\\[\s\S][^"\\]*+)*+"'  # string
    + r"|\#[{_]|[\[\](){}]"  # punctuation
    + rf"|\\[^ \t\n\r\f\v]{_RUN}"  # character
    + rf"|[^{_DELIM}0-9+\-]{_RUN}|[+\-](?![0-9]){_RUN}"  # keyword, symbol, tag
    + rf")|({_INT})N?{_END}"  # 2 integer
    + rf"|({_INT}(?:\.[0-9]++)?(?:[eE][+-]?[0-9]++)?M?){_END}"  # 3 float or decimal
    + r"|;[^\n\r]*+"  # comment: every group empty
    + rf"|([^{_DELIM}]++|[\s\S])"  # 4 anything else: an error
    + r"|\Z)"  # end of input: every group empty
)
_SKIP = re.compile(rf"[{_WS}]*+")

_NAMED_CHARS = {"newline": "\n", "return": "\r", "space": " ", "tab": "\t"}
_NAMED_CHARS.update({"formfeed": "\f", "backspace": "\b"})

# Keywords, symbols and characters already read: token text -> value.  Most
# names repeat, so most reads are one dict hit.  This is the reader's own
# table, not Keyword's, because a Keyword made in Python may have any name
# while only a valid one may be read.  Bounded, so that text full of distinct
# names cannot grow it without limit.
_ATOM_SEED: dict[str, Any] = {"nil": None, "true": True, "false": False}
_ATOM_SEED.update({"##Inf": float("inf"), "##-Inf": float("-inf"), "##NaN": float("nan")})
_ATOM_LIMIT = 65536
_atoms: dict[str, Any] = dict(_ATOM_SEED)
_tags_seen: set[str] = set()  # tag names known to be valid, bounded the same way


def _char(body: str) -> Char:
    if len(body) == 1:
        return Char(body)
    named = _NAMED_CHARS.get(body)
    return Char(named if named is not None else chr(int(body[1:], 16)))


def _new_atom(token: str) -> Any:
    """The value of a keyword, symbol or character token not read before, else None."""
    first = token[0]
    if first == ":":
        value: Any = Keyword(token[1:]) if KEYWORD_NAME.match(token, 1) else None
    elif first == "\\":
        value = _char(token[1:]) if _CHARACTER.match(token, 1) else None
    else:
        value = Symbol(token) if SYMBOL_NAME.match(token) else None
    if value is not None:
        if len(_atoms) >= _ATOM_LIMIT:
            _atoms.clear()
            _atoms.update(_ATOM_SEED)
        _atoms[token] = value
    return value


# --- Tags ---------------------------------------------------------------------------

TagReader = Callable[[Any], Any]

_YEAR_MONTH = re.compile(r"([0-9]{4})(?:-([0-9]{2}))?\Z")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}\Z")


def read_inst(value: Any) -> datetime:
    """`#inst`: RFC 3339 and the shorter ISO 8601 forms edn_format reads; no offset is UTC."""
    if type(value) is not str:
        raise ValueError(f"expected a string, got {type(value).__name__}")
    if len(value) <= 7:  # "1985", "1985-04": fromisoformat refuses these
        partial = _YEAR_MONTH.match(value)
        if partial is None:
            raise ValueError(f"not a timestamp: {value!r}")
        return datetime(int(partial[1]), int(partial[2] or 1), 1, tzinfo=UTC)
    if value[-1] in "Zz":  # fromisoformat in 3.11 wants "+00:00"
        value = value[:-1] + "+00:00"
    instant = datetime.fromisoformat(value)
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def read_uuid(value: Any) -> UUID:
    """`#uuid`: the canonical 8-4-4-4-12 hex form only."""
    if type(value) is not str or not _UUID.match(value):
        raise ValueError("expected a string of the form 8-4-4-4-12 hex digits")
    return UUID(value)


_BUILTIN_TAGS: dict[str, TagReader] = {"inst": read_inst, "uuid": read_uuid}
_registry: dict[str, TagReader] = dict(_BUILTIN_TAGS)


def register_tag(tag: str, reader: TagReader) -> None:
    """Read `#tag value` as `reader(value)` in every `loads` from now on.

    `tag` is the symbol without '#', e.g. "myapp/Person".  `inst` and `uuid`
    are built in; override them per call with `loads(..., tags=...)`.
    """
    if tag in _BUILTIN_TAGS:
        raise ValueError(f"#{tag} is built in; pass tags={{{tag!r}: ...}} to loads instead")
    if not TAG_NAME.match(tag):
        raise ValueError(f"{tag!r} is not a valid EDN tag (a symbol starting with a letter)")
    _registry[tag] = reader


def unregister_tag(tag: str) -> None:
    """Forget a reader added by `register_tag`; its tag then reads as a TaggedLiteral."""
    if tag in _BUILTIN_TAGS:
        raise ValueError(f"#{tag} is built in and cannot be removed")
    _registry.pop(tag, None)


# --- Errors -------------------------------------------------------------------------


def _token_span(text: str, index: int) -> tuple[int, int]:
    """Where token number `index` starts and ends: the slow path errors take."""
    for n, m in enumerate(_TOKEN.finditer(text)):
        if n == index:
            return _SKIP.match(text, m.start()).end(), m.end()  # type: ignore[union-attr]
    return len(text), len(text)


def _fail(text: str, index: int, problem: str, detail: str = "") -> EDNDecodeError:
    return EDNDecodeError.at(text, _token_span(text, index)[0], problem, detail)


def _shown(token: str) -> str:
    return repr(token if len(token) <= 40 else token[:37] + "...")


def _invalid(text: str, index: int) -> EDNDecodeError:
    """The error for a token that fits no rule of the grammar."""
    begin, end = _token_span(text, index)
    token = text[begin:end]
    first = token[0]
    if first == '"':
        problem = "unterminated string"
    elif first == "\\":
        problem = f"invalid character {_shown(token)}"
    elif first == "#":
        problem = f"invalid tag or dispatch {_shown(token)}"
    elif first == ":":
        problem = f"invalid keyword {_shown(token)}"
    elif first.isdigit() or (first in "+-." and token[1:2].isdigit()):
        problem = f"invalid number {_shown(token)}"
    elif first.isalnum() or first in "_*!?$%&=<>/+-.":
        problem = f"invalid symbol {_shown(token)}"
    else:  # nothing in EDN starts with it
        problem = f"unexpected character {first!r}"
    return EDNDecodeError.at(text, begin, problem)


def _unfinished(text: str, tokens: list[tuple[str, ...]], kind: int, opened: int) -> str:
    """What the innermost open frame still waits for, as an error's detail."""
    line, column = line_column(text, _token_span(text, opened)[0])
    if kind == _DISCARD:
        return f"the #_ at line {line}, column {column} has no form to discard"
    if kind == _TAG:
        return f"the {tokens[opened][0]} at line {line}, column {column} has no form to tag"
    return f"the {_OPENER_TEXT[kind]!r} at line {line}, column {column} is not closed"


def _duplicate(items: list[Any], step: int) -> str:
    """How a duplicate among `items[::step]` is written, for an error message."""
    from ._writer import dumps  # the writer imports this module's grammar

    seen: set[Any] = set()
    for item in items[::step]:
        if item in seen:
            try:
                return _shown(dumps(item))
            except (TypeError, ValueError):  # a custom tag's value
                return _shown(repr(item))
        seen.add(item)
    raise AssertionError("no duplicate")  # pragma: no cover


# --- Strings ------------------------------------------------------------------------

_VALID_ESCAPES = re.compile(r'(?:[^\\]++|\\(?:[tnr"\\bf]|u[0-9A-Fa-f]{4}))*+\Z')
_ESCAPES = re.compile(r'\\(?:[tnr"\\bf]|u[0-9A-Fa-f]{4})|(\\u|\\[\s\S])')  # 1: a bad one
_SURROGATE = re.compile("[\ud800-\udfff]")


def _unescape(text: str, index: int, body: str) -> str:
    """The string whose EDN text, between its quotes, is `body` (token `index`)."""
    if _VALID_ESCAPES.match(body) is None:
        bad = next(m for m in _ESCAPES.finditer(body) if m[1])
        position = _token_span(text, index)[0] + 1 + bad.start()
        raise EDNDecodeError.at(text, position, f"invalid escape {bad[1]!r} in a string")
    # unicode_escape decodes the escapes checked above and takes other bytes
    # as Latin-1; backslashreplace turns every character beyond Latin-1 into
    # an escape it decodes back.  All in C: faster than a regex callback.
    out = body.encode("latin-1", "backslashreplace").decode("unicode_escape")
    if _SURROGATE.search(out):  # "\ud83d\ude00" is one character in two UTF-16 units
        out = out.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return out


# --- The reader ---------------------------------------------------------------------

# Frame kinds.  Kinds below _ONE_SHOT collect any number of values; the
# others take exactly one value and act on it.
_ALL, _VECTOR, _LIST, _MAP, _SET, _ONE_SHOT, _TAG, _DISCARD, _ONE = range(9)
_OPENERS = {"[": _VECTOR, "(": _LIST, "{": _MAP, "#{": _SET, "#_": _DISCARD}
_OPENER_TEXT = {_VECTOR: "[", _LIST: "(", _MAP: "{", _SET: "#{"}
_MISSING = object()


def _parse(
    text: str,
    tags: Mapping[str, TagReader] | None,
    max_depth: int,
    root_kind: int,
) -> list[Any]:
    """The values of `text`; with root_kind _ONE, at most one."""
    tokens = _TOKEN.findall(text)
    atom = _atoms.get
    openers = _OPENERS.get
    missing = _MISSING

    stack: list[tuple[list[Any], int, int, bool]] = []
    items: list[Any] = []
    append = items.append
    kind = root_kind
    opened = -1  # index of the token that opened the current frame
    frozen = False  # this frame's values must be hashable (a map key or set member)
    closed_at = -1  # index of the last closing token
    start = -1  # index of the token where the value being delivered starts
    found: list[Any] = []  # the value of a _ONE root

    numbered = enumerate(tokens)
    for i, (o, n, f, bad) in numbered:
        if o:
            v = atom(o, missing)
            if v is missing:
                first = o[0]
                if first == '"':
                    v = o[1:-1]
                    if "\\" in v:
                        v = _unescape(text, i, v)
                elif o == "]" and kind == _VECTOR:
                    v = Vector(items)
                elif o == "}" and kind == _MAP:
                    v = _map(text, items, opened, frozen)
                elif o == ")" and kind == _LIST:
                    v = List(items)
                elif o == "}" and kind == _SET:
                    v = _set(text, items, opened)
                elif first == "#" and o not in _OPENERS:
                    name = o[1:]
                    if name not in _tags_seen:
                        _check_tag(text, i, name)
                    string = tokens[i + 1][0]  # the last token is always the end
                    if string[:1] == '"' and "\\" not in string:
                        # The usual case, #inst or #uuid on a plain string:
                        # no frame to push and pop.
                        next(numbered)
                        v = _apply_tag(text, name, i, string[1:-1], tags, frozen)
                    else:
                        new = _TAG
                else:
                    new = openers(o)
                    if new is None:
                        if o in (")", "]", "}"):
                            raise _mismatch(text, tokens, i, kind, opened)
                        v = _new_atom(o)
                        if v is None:
                            raise _invalid(text, i)
                if v is missing:  # an opening token: push a frame
                    if len(stack) >= max_depth:
                        raise _fail(text, i, f"nesting deeper than max_depth ({max_depth})")
                    child_frozen = frozen or kind == _SET or (kind == _MAP and not len(items) & 1)
                    stack.append((items, kind, opened, frozen))
                    items = []
                    append = items.append
                    kind = new
                    opened = i
                    frozen = child_frozen
                    continue
                if first in "]})":  # a closing token: pop the frame
                    closed_at = i
                    start = opened
                    items, kind, opened, frozen = stack.pop()
                    append = items.append
        elif n:
            try:
                v = int(n)
            except ValueError as e:  # more digits than sys.get_int_max_str_digits()
                raise _fail(text, i, "integer literal too long", str(e)) from None
        elif f:
            v = Decimal(f[:-1]) if f[-1] == "M" else float(f)
        elif bad:
            raise _invalid(text, i)
        else:  # a comment, or the end of input
            continue

        if kind < _ONE_SHOT:
            append(v)
            continue
        # A one-shot frame takes the value; a tag's result may feed another.
        if closed_at != i:
            start = i
        while kind > _ONE_SHOT:
            if kind == _DISCARD:
                items, kind, opened, frozen = stack.pop()
                append = items.append
                break
            if kind == _TAG:
                v = _apply_tag(text, tokens[opened][0][1:], opened, v, tags, frozen)
                start = opened
                items, kind, opened, frozen = stack.pop()
                append = items.append
                if kind < _ONE_SHOT:
                    append(v)
                continue
            if found:  # kind == _ONE
                begin, end = _token_span(text, start)
                problem = f"unexpected {_shown(text[begin:end])}"
                raise EDNDecodeError.at(text, begin, problem, "expected a single form")
            found.append(v)
            break

    if stack:
        detail = _unfinished(text, tokens, kind, opened)
        raise EDNDecodeError.at(text, len(text), "unexpected end of input", detail)
    return found if root_kind == _ONE else items


def _mismatch(
    text: str, tokens: list[tuple[str, ...]], index: int, kind: int, opened: int
) -> EDNDecodeError:
    """The error for a closing token that closes nothing open."""
    problem = f"unexpected {tokens[index][0]!r}"
    if kind in (_ALL, _ONE):
        return _fail(text, index, problem)
    return _fail(text, index, problem, _unfinished(text, tokens, kind, opened))


def _map(text: str, items: list[Any], opened: int, frozen: bool) -> dict[Any, Any]:
    if len(items) & 1:
        raise _fail(text, opened, f"map has an odd number of forms ({len(items)})")
    pairs = iter(items)
    try:
        result = (FrozenMap if frozen else dict)(zip(pairs, pairs))
    except TypeError as e:
        raise _fail(text, opened, f"a map key cannot be hashed ({e})") from None
    if len(result) * 2 != len(items):
        raise _fail(text, opened, f"map has duplicate key {_duplicate(items, 2)}")
    return result


def _set(text: str, items: list[Any], opened: int) -> frozenset[Any]:
    try:
        result = frozenset(items)
    except TypeError as e:
        raise _fail(text, opened, f"a set member cannot be hashed ({e})") from None
    if len(result) != len(items):
        raise _fail(text, opened, f"set has duplicate member {_duplicate(items, 1)}")
    return result


def _check_tag(text: str, index: int, name: str) -> None:
    if not TAG_NAME.match(name):
        raise _invalid(text, index)
    if len(_tags_seen) >= _ATOM_LIMIT:
        _tags_seen.clear()
    _tags_seen.add(name)


def _apply_tag(
    text: str,
    name: str,
    index: int,
    value: Any,
    tags: Mapping[str, TagReader] | None,
    frozen: bool,
) -> Any:
    reader = tags.get(name) if tags is not None else None
    if reader is None:
        reader = _registry.get(name)
    if reader is None:
        return TaggedLiteral(Symbol(name), value)
    try:
        result = reader(value)
    except Exception as e:  # a tag reader's failure is the input's fault
        raise _fail(text, index, f"cannot read #{name}", str(e)) from e
    if frozen:
        try:
            hash(result)
        except TypeError:
            problem = f"#{name} gave an unhashable {type(result).__name__} where a key is needed"
            raise _fail(text, index, problem) from None
    return result


def _text(data: str | bytes, max_length: int | None) -> str:
    if not isinstance(data, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"EDN text must be str or bytes, not {type(data).__name__}")
    if max_length is not None and len(data) > max_length:
        prefix = data[:max_length] if isinstance(data, str) else ""
        problem = f"input longer than max_length ({max_length} characters)"
        raise EDNDecodeError.at(prefix, len(prefix), problem)
    if isinstance(data, str):
        return data
    raw = bytes(data)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        prefix = raw[: e.start].decode("utf-8")
        raise EDNDecodeError.at(prefix, len(prefix), "input is not UTF-8") from None


def _depth(max_depth: int) -> int:
    if type(max_depth) is not int or max_depth < 1:
        raise ValueError(f"max_depth must be a positive int, not {max_depth!r}")
    return max_depth


def loads(
    text: str | bytes,
    *,
    tags: Mapping[str, TagReader] | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_length: int | None = DEFAULT_MAX_LENGTH,
) -> Any:
    """The one value `text` holds; None if it holds none (only whitespace, comments, `#_`).

    `tags` maps tag names ("myapp/Person", no '#') to readers, ahead of the
    ones given to `register_tag`.  Raises EDNDecodeError for anything but
    one EDN form, or one deeper than `max_depth` or longer than `max_length`
    characters (None: no limit).
    """
    found = _parse(_text(text, max_length), tags, _depth(max_depth), _ONE)
    return found[0] if found else None


def loads_all(
    text: str | bytes,
    *,
    tags: Mapping[str, TagReader] | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_length: int | None = DEFAULT_MAX_LENGTH,
) -> list[Any]:
    """Every value in a stream of EDN forms, in order; arguments as for `loads`."""
    return _parse(_text(text, max_length), tags, _depth(max_depth), _ALL)
