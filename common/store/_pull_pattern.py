"""Pull patterns: parsed once, checked against the schema, then cached.

Grammar (DataScript pull_parser.cljc):

    pattern        = [(attr-spec | map-spec | *)+]
    attr-spec      = attr-name | [attr-name option+] | (limit attr-spec n) | (default attr-spec v)
    option         = :as any | :limit (positive-int | nil) | :default any | :xform fn
    map-spec       = {attr-spec (pattern | recursion-limit)}
    recursion-limit = positive-int | ...

`...` may be written as the symbol, the string "..." or Python's `Ellipsis`;
`*` as the symbol, the string "*" or the keyword `:*`.  Attribute names are
keywords or strings ("user/name", ":user/name"); `:ns/_attr` is a reverse ref.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Hashable, Mapping

from ..edn import EDNDecodeError, Keyword, Symbol, dumps, loads
from ._cache import LRU, cached
from ._schema import Schema, as_keyword
from .errors import QueryError, SchemaError

DB_ID = Keyword("db/id")
# Default for card-many attributes, as DataScript and Datomic.
DEFAULT_LIMIT = 1000

_WILDCARD = (Symbol("*"), "*", Keyword("*"))
_RECURSE = (Symbol("..."), "...", Ellipsis)
_LIMIT = (Symbol("limit"), "limit")
_DEFAULT = (Symbol("default"), "default")


@dataclass(frozen=True, slots=True)
class PullAttr:
    """One attribute of a pattern: what to read and how to shape it."""

    name: Keyword  # the attribute read (the forward name for a reverse ref)
    key: Any  # the key in the result (`:as`; by default the attribute as written)
    reverse: bool = False
    many: bool = False
    ref: bool = False
    component: bool = False
    limit: int | None = None  # only for card-many; None = unlimited
    default: Any = None  # None = no default, as in DataScript
    xform: Callable[[Any], Any] | None = None
    pattern: PullPattern | None = None  # what to pull from a referenced entity
    recursive: bool = False  # `{:attr ...}` / `{:attr n}`: re-apply the enclosing pattern
    recursion_limit: int | None = None

    @property
    def expands(self) -> bool:
        """Whether following this ref must guard against cycles (recursion, components)."""
        return self.recursive or (
            self.component and self.pattern is not None and self.pattern.wildcard
        )


@dataclass(frozen=True, slots=True)
class PullPattern:
    attrs: tuple[PullAttr, ...]  # forward attributes, including :db/id
    reverse_attrs: tuple[PullAttr, ...]
    wildcard: bool = False
    # Attributes named explicitly: `*` leaves them to their own spec.
    explicit: frozenset[Keyword] = field(default=frozenset())


_ID_ATTR = PullAttr(DB_ID, DB_ID)
REF_PATTERN = PullPattern((_ID_ATTR,), ())
COMPONENT_PATTERN = PullPattern((_ID_ATTR,), (), wildcard=True)


def reverse_name(a: Keyword) -> Keyword | None:
    """`:ns/attr` for the reverse ref `:ns/_attr`; None for a forward attribute."""
    if not a.name.startswith("_") or len(a.name) == 1:
        return None
    return Keyword(f"{a.namespace}/{a.name[1:]}" if a.namespace else a.name[1:])


def _show(x: Any) -> str:
    try:
        return dumps(x)
    except TypeError:  # a Python value EDN cannot hold (a function, say)
        return repr(x)


def _check(ok: bool, expected: str, fragment: Any) -> None:
    if not ok:
        raise QueryError(f"Expected {expected}, got: {_show(fragment)}", field="pattern")


def _is_one_of(x: Any, options: tuple[Any, ...]) -> bool:
    # By type as well as value: the string "limit" and the symbol `limit` both
    # count, but a list never equals one of them.
    return any(x is o or (type(x) is type(o) and x == o) for o in options)


def _is_seq(x: Any) -> bool:
    return isinstance(x, (list, tuple))


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


class _Parser:
    """Parses against one schema: ref, card-many and component come from it."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def attr_name(self, spec: Any) -> PullAttr:
        try:
            key = as_keyword(spec)
        except SchemaError:
            raise QueryError(f"Expected attribute name, got: {_show(spec)}", field="pattern") from None
        if key is DB_ID:
            return _ID_ATTR
        forward = reverse_name(key)
        if forward is None:
            return self.default_attr(key, key)
        return self.default_attr(forward, key, reverse=True)

    def default_attr(self, name: Keyword, key: Any, reverse: bool = False) -> PullAttr:
        info = self.schema.attr(name)
        if reverse:
            _check(info.ref, "reverse attribute having :db.type/ref", key)
        if not info.ref:
            pattern = None
        elif info.component and not reverse:
            pattern = COMPONENT_PATTERN
        else:
            pattern = REF_PATTERN
        return PullAttr(
            name,
            key,
            reverse=reverse,
            many=info.many,
            ref=info.ref,
            component=info.component,
            limit=DEFAULT_LIMIT if info.many else None,
            pattern=pattern,
        )

    def _with_limit(self, attr: PullAttr, limit: Any) -> PullAttr:
        _check(limit is None or (_is_int(limit) and limit > 0), "(positive-number | nil)", limit)
        _check(self.schema.attr(attr.name).many, "limit attribute having :db.cardinality/many", attr.name)
        return replace(attr, limit=limit)

    def attr_expr(self, spec: tuple[Any, ...]) -> PullAttr | None:
        attr = self.attr_spec(spec[0]) if spec else None
        if attr is None:
            return None
        options = spec[1:]
        _check(len(options) % 2 == 0, "even number of opts", spec)
        for option, value in zip(options[::2], options[1::2]):
            if option == Keyword("as"):
                _check(isinstance(value, Hashable), "a hashable :as name", value)
                attr = replace(attr, key=value)
            elif option == Keyword("limit"):
                attr = self._with_limit(attr, value)
            elif option == Keyword("default"):
                attr = replace(attr, default=value)
            elif option == Keyword("xform"):
                attr = replace(attr, xform=_resolve_xform(value))
            else:
                _check(False, "one of :as, :limit, :default, :xform", spec)
        return attr

    def legacy_expr(self, spec: tuple[Any, ...]) -> PullAttr | None:
        head = spec[0] if spec else None
        if _is_one_of(head, _LIMIT):
            _check(len(spec) == 3, "['limit attr-name (positive-number | nil)]", spec)
            return self._with_limit(self._attr_spec_required(spec[1]), spec[2])
        if _is_one_of(head, _DEFAULT):
            _check(len(spec) == 3, "['default attr-name any-value]", spec)
            return replace(self._attr_spec_required(spec[1]), default=spec[2])
        return None

    def attr_spec(self, spec: Any) -> PullAttr | None:
        if isinstance(spec, Keyword) or (
            isinstance(spec, str) and spec not in ("limit", "default")
        ):
            return self.attr_name(spec)
        if _is_seq(spec):
            attr = self.attr_expr(spec) or self.legacy_expr(spec)
            _check(
                attr is not None,
                "[attr-name attr-option+] | ['limit attr-name (positive-num | nil)]"
                " | ['default attr-name any-val]",
                spec,
            )
            return attr
        return None

    def _attr_spec_required(self, spec: Any) -> PullAttr:
        attr = self.attr_spec(spec)
        _check(attr is not None, "attr-name | attr-expr", spec)
        assert attr is not None
        return attr

    def map_spec(self, spec: Any, sub: Any) -> PullAttr:
        attr = self._attr_spec_required(spec)
        _check(attr.ref, "attribute having :db.type/ref", spec)
        if _is_one_of(sub, _RECURSE):
            return replace(attr, pattern=None, recursive=True, recursion_limit=None)
        if isinstance(sub, (int, float)) and not isinstance(sub, bool):
            _check(_is_int(sub) and sub > 0, "(positive-num | ...)", {spec: sub})
            return replace(attr, pattern=None, recursive=True, recursion_limit=int(sub))
        return replace(attr, pattern=self.pattern(sub))

    def pattern(self, pattern: Any) -> PullPattern:
        _check(_is_seq(pattern), "pattern to be sequential?", pattern)
        wildcard = False
        # Keyed by result key: a later spec for the same key replaces an earlier
        # one, as DataScript's conj-attr does.
        forward: dict[Any, PullAttr] = {}
        reverse: dict[Any, PullAttr] = {}
        for spec in pattern:
            if _is_one_of(spec, _WILDCARD):
                wildcard = True
                continue
            if isinstance(spec, Mapping):
                attrs = [self.map_spec(k, v) for k, v in spec.items()]
            else:
                attr = self.attr_spec(spec)
                _check(attr is not None, "attr-name | attr-expr | map-spec | *", spec)
                assert attr is not None
                attrs = [attr]
            for attr in attrs:
                (reverse if attr.reverse else forward)[attr.key] = attr
        if wildcard and not any(a.name is DB_ID for a in forward.values()):
            forward = {DB_ID: _ID_ATTR, **forward}
        return PullPattern(
            tuple(forward.values()),
            tuple(reverse.values()),
            wildcard,
            frozenset(a.name for a in forward.values()),
        )


def _resolve_xform(value: Any) -> Callable[[Any], Any]:
    """A Python callable, or the symbol of a one-argument query built-in (`inc`, `vector`)."""
    if isinstance(value, Symbol):
        from .query._builtins import BUILTINS  # query imports pull: resolve late

        found = BUILTINS.get(value)
        if found is not None and found.min_args <= 1 and (found.max_args or 1) >= 1:
            return found.fn
        raise QueryError(f"Can't resolve symbol {value}", field="pattern")
    _check(callable(value) and not isinstance(value, Keyword), "a function or a built-in's symbol for :xform", value)
    return value


# Keyed by (id(schema), form) and holding the schema, so the id is not reused
# while its entry lives.
_patterns: LRU[tuple[Schema, PullPattern]] = LRU(512)
# `*` meets the same few attributes on entity after entity.
_wildcard_attrs: LRU[tuple[Schema, PullAttr]] = LRU(4096)


def parse(schema: Schema, pattern: Any) -> PullPattern:
    """The parsed form of `pattern` (EDN text, Python data or already parsed)."""
    if isinstance(pattern, PullPattern):
        return pattern
    make = _parse_text if isinstance(pattern, str) else _parse_data
    return cached(_patterns, pattern, lambda p: (schema, make(schema, p)), scope=schema)[1]


def _parse_data(schema: Schema, data: Any) -> PullPattern:
    return _Parser(schema).pattern(data)


def _parse_text(schema: Schema, text: str) -> PullPattern:
    try:
        data = loads(text)
    except EDNDecodeError as e:
        raise QueryError(f"pull pattern is not valid EDN: {e}", field="pattern") from e
    return _parse_data(schema, data)


def wildcard_attr(schema: Schema, name: Keyword) -> PullAttr:
    """How `*` pulls an attribute it finds on an entity."""
    key = (id(schema), name)
    return _wildcard_attrs.get(key, lambda: (schema, _Parser(schema).default_attr(name, name)))[1]
