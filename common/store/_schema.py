"""Attribute schema, DataScript style, kept as data so it can be stored.

    {:user/email {:db/unique :db.unique/identity}
     :user/roles {:db/cardinality :db.cardinality/many}
     :job/steps  {:db/valueType :db.type/ref :db/isComponent true
                  :db/cardinality :db.cardinality/many}}

An attribute not named in the schema behaves as cardinality one, with no
uniqueness and no index (issue #2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..edn import Keyword
from .errors import SchemaError

_DB = {
    name: Keyword(name)
    for name in (
        "db/unique",
        "db.unique/identity",
        "db.unique/value",
        "db/cardinality",
        "db.cardinality/one",
        "db.cardinality/many",
        "db/valueType",
        "db.type/ref",
        "db/isComponent",
        "db/index",
        "db/doc",
        "db/ident",
        "db/noHistory",
    )
}
# Properties whose values are keywords, which may also be written as ":ns/name" text.
_ENUMS = {_DB["db/unique"], _DB["db/cardinality"], _DB["db/valueType"]}
_UNIQUE = {_DB["db.unique/identity"]: "identity", _DB["db.unique/value"]: "value"}
_CARDINALITY = {_DB["db.cardinality/one"]: False, _DB["db.cardinality/many"]: True}
_KNOWN_PROPS = {
    _DB["db/unique"],
    _DB["db/cardinality"],
    _DB["db/valueType"],
    _DB["db/isComponent"],
    _DB["db/index"],
    _DB["db/doc"],
    _DB["db/noHistory"],
}


@dataclass(frozen=True, slots=True)
class Attr:
    """What the schema says about one attribute."""

    ident: Keyword
    many: bool = False
    ref: bool = False
    unique: str | None = None  # "identity", "value" or None
    component: bool = False
    index: bool = False

    @property
    def indexed(self) -> bool:
        """Whether AVET holds this attribute: `:db/index` or any `:db/unique`."""
        return self.index or self.unique is not None


def as_keyword(name: Any, *, field: Any = None) -> Keyword:
    """Accept `Keyword("a/b")`, `"a/b"` or `":a/b"` where an attribute is expected."""
    if isinstance(name, Keyword):
        return name
    if isinstance(name, str) and name:
        return Keyword(name[1:] if name.startswith(":") else name)
    raise SchemaError(f"expected an attribute keyword, got {name!r}", field=field)


def _normalize(ident: Keyword, props: Any) -> dict[Keyword, Any]:
    """`props` with keywords for keys and enum values, whichever way they were written.

    `{":db/unique": ":db.unique/identity"}` reads as the EDN `{:db/unique :db.unique/identity}`.
    """
    if not isinstance(props, Mapping):
        raise SchemaError(f"schema for {ident} must be a map, got {props!r}", field=str(ident))
    out = {}
    for k, v in props.items():
        k = as_keyword(k, field=str(ident))
        if k in _ENUMS and isinstance(v, str) and v.startswith(":"):
            v = Keyword(v[1:])
        out[k] = v
    return out


def _parse_attr(ident: Keyword, props: dict[Keyword, Any]) -> Attr:
    unknown = set(props) - _KNOWN_PROPS
    if unknown:
        raise SchemaError(
            f"unknown schema property {sorted(unknown)[0]} on {ident}", field=str(ident)
        )
    unique = props.get(_DB["db/unique"])
    if unique is not None and unique not in _UNIQUE:
        raise SchemaError(f"bad :db/unique {unique} on {ident}", field=str(ident))
    cardinality = props.get(_DB["db/cardinality"], _DB["db.cardinality/one"])
    if cardinality not in _CARDINALITY:
        raise SchemaError(f"bad :db/cardinality {cardinality} on {ident}", field=str(ident))
    value_type = props.get(_DB["db/valueType"])
    if value_type is not None and not (
        isinstance(value_type, Keyword) and value_type.namespace == "db.type"
    ):
        raise SchemaError(f"bad :db/valueType {value_type} on {ident}", field=str(ident))
    ref = value_type is _DB["db.type/ref"]
    component = bool(props.get(_DB["db/isComponent"], False))
    if component and not ref:
        raise SchemaError(
            f"{ident} is :db/isComponent but not :db.type/ref", field=str(ident)
        )
    return Attr(
        ident=ident,
        many=_CARDINALITY[cardinality],
        ref=ref,
        unique=_UNIQUE.get(unique) if unique is not None else None,
        component=component,
        index=bool(props.get(_DB["db/index"], False)),
    )


class Schema:
    """Parsed schema: `schema.attr(a)` never fails; unknown attributes get defaults."""

    __slots__ = ("attrs", "_data", "_default")

    def __init__(self, data: Mapping[Any, Any] | None = None) -> None:
        raw: dict[Keyword, dict[Keyword, Any]] = {
            _DB["db/ident"]: {_DB["db/unique"]: _DB["db.unique/identity"]}
        }
        for ident, props in (data or {}).items():
            a = as_keyword(ident, field="schema")
            raw[a] = _normalize(a, props)
        self._data = raw
        self.attrs: dict[Keyword, Attr] = {a: _parse_attr(a, p) for a, p in raw.items()}
        self._default: dict[Keyword, Attr] = {}

    def attr(self, a: Keyword) -> Attr:
        """The attribute's properties; cardinality one and nothing else if undeclared."""
        found = self.attrs.get(a)
        if found is None:
            found = self._default.get(a)
            if found is None:
                found = self._default.setdefault(a, Attr(a))
        return found

    def data(self) -> dict[Keyword, Any]:
        """The schema as plain EDN-able data, as it is stored."""
        return {a: dict(p) for a, p in self._data.items() if a is not _DB["db/ident"]}

    def __eq__(self, other: object) -> bool:
        """Equal when the stored data would be: `:db/doc` counts, spelling does not."""
        return isinstance(other, Schema) and self._data == other._data

    def __repr__(self) -> str:
        return f"Schema({len(self.attrs)} attributes)"
