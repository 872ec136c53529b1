"""The EDN reader: text -> Python values (mapping in docs/edn.md).

Why hand-written: edn_format rebuilds its PLY parser on every call, about
0.4 ms for a four-key map, and EDN is the format of every request and every
stored transaction (issue #2; `python -m bench.edn` measures both).

How it is fast (docs/edn.md, "How the reader works"): the text becomes a
list of token strings in a few C-level passes (strings cut out by one regex
split, punctuation spaced by str.replace, then str.split), numbers are read
all at once by JSON's C scanner, and a flat loop turns tokens into values,
most of them a single dict hit.  An explicit stack of open collections
replaces recursion, so nesting is bounded by `max_depth`, never by the
interpreter.  Those passes are exact only on the usual text; on anything
else, or on any error, the text is read again from a careful regex
tokenizer, which is also how an error finds its position: token positions
are never kept on the hot path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, SafeUUID

from ._types import Char, FrozenMap, Keyword, List, Symbol, TaggedLiteral, Vector
from ._numbers import BAD_NUMBER, INTEGER, NUMBER_FIRST, number, number_reader
from ._tokens import (
    DISCARD_OPEN,
    SET_OPEN,
    SKIP,
    STRING_TOKEN,
    TOKEN,
    careful_tokens,
    fast_tokens,
)
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
    # What UUID(value) makes, a third of its cost: its __init__ parses every
    # form UUID takes and checks arguments the regex above made certain.
    uuid = _new_object(UUID)
    _set_slot(uuid, "int", int(value.replace("-", ""), 16))
    _set_slot(uuid, "is_safe", SafeUUID.unknown)
    return uuid


_new_object = object.__new__
_set_slot = object.__setattr__  # UUID's own __setattr__ refuses: it is immutable


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


class _Retry(Exception):
    """The fast tokenizer's tokens hold an error: read again with the careful one."""


def _token_span(text: str | None, index: int) -> tuple[int, int]:
    """Where token number `index` starts and ends: the slow path errors take.

    Every error is located through here; `text` is None while reading the
    fast tokenizer's tokens, whose numbers give no position.
    """
    if text is None:
        raise _Retry
    for n, m in enumerate(TOKEN.finditer(text)):
        if n == index:
            return SKIP.match(text, m.start()).end(), m.end()  # type: ignore[union-attr]
    return len(text), len(text)


def _fail(text: str | None, index: int, problem: str, detail: str = "") -> EDNDecodeError:
    return EDNDecodeError.at(text, _token_span(text, index)[0], problem, detail)


def _shown(token: str) -> str:
    return repr(token if len(token) <= 40 else token[:37] + "...")


def _invalid(text: str | None, index: int) -> EDNDecodeError:
    """The error for a token that fits no rule of the grammar."""
    begin, end = _token_span(text, index)
    assert text is not None  # _token_span raised otherwise
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


def _unfinished(text: str | None, tokens: list[str], kind: int, opened: int) -> str:
    """What the innermost open frame still waits for, as an error's detail."""
    begin = _token_span(text, opened)[0]
    assert text is not None  # _token_span raised otherwise
    line, column = line_column(text, begin)
    if kind == _DISCARD:
        return f"the #_ at line {line}, column {column} has no form to discard"
    if kind == _TAG:
        return f"the {tokens[opened]} at line {line}, column {column} has no form to tag"
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


def _unescape(text: str | None, index: int, body: str) -> str:
    """The string whose EDN text, between its quotes, is `body` (token `index`)."""
    if _VALID_ESCAPES.match(body) is None:
        bad = next(m for m in _ESCAPES.finditer(body) if m[1])
        position = _token_span(text, index)[0] + 1 + bad.start()
        assert text is not None  # _token_span raised otherwise
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
_OPENERS.update({SET_OPEN: _SET, DISCARD_OPEN: _DISCARD})  # the fast tokenizer's
_CLOSERS = {"]": _VECTOR, ")": _LIST, "}": _MAP}  # and "}" closes a _SET
_SEQUENCE = {_VECTOR: Vector, _LIST: List}
_OPENER_TEXT = {_VECTOR: "[", _LIST: "(", _MAP: "{", _SET: "#{"}
_MISSING = object()


def _read(
    text: str, tags: Mapping[str, TagReader] | None, max_depth: int, root_kind: int
) -> list[Any]:
    """The values of `text`; with root_kind _ONE, at most one."""
    fast = fast_tokens(text)
    if fast is not None:
        try:
            return _build(None, *fast, tags, max_depth, root_kind)
        except _Retry:  # an error: only the careful tokens can locate it
            pass
    return _build(text, *careful_tokens(text), tags, max_depth, root_kind)


def _number_error(text: str | None, index: int, token: str) -> EDNDecodeError:
    if INTEGER.match(token):
        try:
            int(token[:-1] if token[-1] == "N" else token)
        except ValueError as e:
            return _fail(text, index, "integer literal too long", str(e))
    return _invalid(text, index)


def _build(
    text: str | None,
    tokens: list[str],
    strings: list[str],
    tags: Mapping[str, TagReader] | None,
    max_depth: int,
    root_kind: int,
) -> list[Any]:
    """The values the tokens hold; `text` locates errors, None: raise _Retry instead."""
    atom = _atoms.get
    openers = _OPENERS.get
    closers = _CLOSERS.get
    next_string = iter(strings).__next__
    missing = _MISSING
    number_first = NUMBER_FIRST
    small = len(tokens) < 64  # reading all numbers at once costs more than it saves
    read_number: Callable[[str], Any] | None = number if small else None
    bad_number = BAD_NUMBER

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
    for i, o in numbered:
        v = atom(o, missing)
        if v is missing:
            first = o[:1]
            if o == STRING_TOKEN:
                v = next_string()
                if "\\" in v:
                    v = _unescape(text, i, v)
            elif first in number_first:
                if small and o.isdigit() and o.isascii() and (first != "0" or len(o) == 1):
                    try:  # a small document's plain integer: no call
                        v = int(o)
                    except ValueError:  # more digits than int() converts
                        v = bad_number
                else:
                    if read_number is None:  # the first number: read them all
                        read_number = number_reader(tokens)
                    v = read_number(o)
                if v is bad_number:  # else a symbol (-x, +, ->), or invalid
                    v = _new_atom(o)
                    if v is None:
                        raise _number_error(text, i, o)
            elif (closing := closers(o)) is not None:
                if kind == _MAP and closing == _MAP:
                    v = _map(text, items, opened, frozen)
                elif kind == closing:
                    v = _SEQUENCE[kind](items)
                elif kind == _SET and closing == _MAP:
                    v = _set(text, items, opened)
                else:
                    raise _mismatch(text, tokens, i, kind, opened)
                closed_at = i
                start = opened
                items, kind, opened, frozen = stack.pop()
                append = items.append
            elif (new := openers(o)) is not None:
                pass  # pushed below, with a tag's frame
            elif first == "#":
                name = o[1:]
                if name not in _tags_seen:
                    _check_tag(text, i, name)
                if tokens[i + 1] == STRING_TOKEN:  # the last token is always the end
                    # The usual case, #inst or #uuid on a string: no frame
                    # to push and pop.
                    next(numbered)
                    v = next_string()
                    if "\\" in v:
                        v = _unescape(text, i + 1, v)
                    v = _apply_tag(text, name, i, v, tags, frozen)
                else:
                    new = _TAG
            elif not o or first == ";":  # the end, or a comment
                continue
            else:
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
                v = _apply_tag(text, tokens[opened][1:], opened, v, tags, frozen)
                start = opened
                items, kind, opened, frozen = stack.pop()
                append = items.append
                if kind < _ONE_SHOT:
                    append(v)
                continue
            if found:  # kind == _ONE
                begin, end = _token_span(text, start)
                assert text is not None  # _token_span raised otherwise
                problem = f"unexpected {_shown(text[begin:end])}"
                raise EDNDecodeError.at(text, begin, problem, "expected a single form")
            found.append(v)
            break

    if stack:
        detail = _unfinished(text, tokens, kind, opened)
        assert text is not None  # _unfinished raised otherwise
        raise EDNDecodeError.at(text, len(text), "unexpected end of input", detail)
    return found if root_kind == _ONE else items


def _mismatch(
    text: str | None, tokens: list[str], index: int, kind: int, opened: int
) -> EDNDecodeError:
    """The error for a closing token that closes nothing open."""
    problem = f"unexpected {tokens[index]!r}"
    if kind in (_ALL, _ONE):
        return _fail(text, index, problem)
    return _fail(text, index, problem, _unfinished(text, tokens, kind, opened))


def _map(text: str | None, items: list[Any], opened: int, frozen: bool) -> dict[Any, Any]:
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


def _set(text: str | None, items: list[Any], opened: int) -> frozenset[Any]:
    try:
        result = frozenset(items)
    except TypeError as e:
        raise _fail(text, opened, f"a set member cannot be hashed ({e})") from None
    if len(result) != len(items):
        raise _fail(text, opened, f"set has duplicate member {_duplicate(items, 1)}")
    return result


def _check_tag(text: str | None, index: int, name: str) -> None:
    if not TAG_NAME.match(name):
        raise _invalid(text, index)
    if len(_tags_seen) >= _ATOM_LIMIT:
        _tags_seen.clear()
    _tags_seen.add(name)


def _apply_tag(
    text: str | None,
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
    found = _read(_text(text, max_length), tags, _depth(max_depth), _ONE)
    return found[0] if found else None


def loads_all(
    text: str | bytes,
    *,
    tags: Mapping[str, TagReader] | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_length: int | None = DEFAULT_MAX_LENGTH,
) -> list[Any]:
    """Every value in a stream of EDN forms, in order; arguments as for `loads`."""
    return _read(_text(text, max_length), tags, _depth(max_depth), _ALL)
