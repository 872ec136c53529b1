"""Typed messages <-> EDN maps: the machinery each protocol module shares.

A message is a frozen dataclass with a `kind` Literal field and one
`edn_field` per payload field.  A `Codec` knows a protocol's message classes
and the keyword that names a message's kind (`:command` on the /join link).
Decoding checks every field, so a bad message is a 400-class error naming
the field, never a crash deeper in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Generic, Self, TypeVar

from .. import edn
from ..edn import Keyword, Vector
from ..errors import BadRequest

_SPEC = "jobstreamer.edn"
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class _Spec:
    keyword: Keyword
    decode: Callable[[Any], Any]
    encode: Callable[[Any], Any]


def edn_field(name: str, decode: Callable[[Any], Any], encode: Callable[[Any], Any] = lambda v: v) -> Any:
    """A dataclass field carried under the keyword `name` (no colon)."""
    return dataclasses.field(metadata={_SPEC: _Spec(Keyword(name), decode, encode)})


def kind_field(kind: str) -> Any:
    """The `kind` field: fixed per class, so it is no constructor argument."""
    return dataclasses.field(default=kind, init=False)


# Decoders: return the checked value or raise TypeError/ValueError saying why.


def integer(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return str(value)


def integers(value: Any) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"expected a vector of integers, got {type(value).__name__}")
    return tuple(integer(item) for item in value)


def optional(decode: Callable[[Any], T]) -> Callable[[Any], T | None]:
    """The decoder `decode`, with nil (or a missing key) read as None."""
    return lambda value: None if value is None else decode(value)


def mapping(value: Any) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a map, got {type(value).__name__}")
    return value


def vector(value: tuple[Any, ...]) -> Vector:
    return Vector(value)


class Message:
    """Mixin for message dataclasses: `to_edn` and `from_edn`."""

    kind: str

    def to_edn(self) -> dict[Keyword, Any]:
        """The payload fields as an EDN map (the codec adds the kind)."""
        return {
            spec.keyword: spec.encode(getattr(self, f.name))
            for f, spec in _specs(type(self))
        }

    @classmethod
    def from_edn(cls, data: Mapping[Any, Any]) -> Self:
        """The message for an EDN map; keys it does not know are ignored.

        A missing key reads as nil, so a field whose decoder accepts nil is
        optional.
        """
        values = {}
        for f, spec in _specs(cls):
            value = data.get(spec.keyword)
            try:
                values[f.name] = spec.decode(value)
            except (TypeError, ValueError) as exc:
                if spec.keyword not in data:
                    raise BadRequest(f"{_kind(cls)} message lacks {spec.keyword}", field=spec.keyword) from None
                raise BadRequest(f"{spec.keyword} in {_kind(cls)} message: {exc}", field=spec.keyword) from None
        return cls(**values)


def _specs(cls: type) -> list[tuple[dataclasses.Field[Any], _Spec]]:
    return [(f, f.metadata[_SPEC]) for f in dataclasses.fields(cls) if _SPEC in f.metadata]


def _kind(cls: type) -> str:
    return cls.__dataclass_fields__["kind"].default  # type: ignore[attr-defined, no-any-return]


M = TypeVar("M", bound=Message)


class Codec(Generic[M]):
    """EDN text <-> the messages of one protocol, told apart by `tag` (`:command`)."""

    def __init__(self, tag: str, *classes: type[M]) -> None:
        self.tag = Keyword(tag)
        self._classes = {Keyword(_kind(cls)): cls for cls in classes}

    def encode(self, message: M) -> str:
        return edn.dumps({self.tag: Keyword(message.kind), **message.to_edn()})

    def decode(self, text: str) -> M:
        try:
            data = edn.loads(text)
        except edn.EDNDecodeError as exc:
            raise BadRequest(f"malformed message: {exc}") from exc
        if not isinstance(data, Mapping):
            raise BadRequest(f"a message is an EDN map, not {type(data).__name__}")
        kind = data.get(self.tag)
        if kind is None:
            raise BadRequest(f"message lacks {self.tag}", field=self.tag)
        cls = self._classes.get(kind) if isinstance(kind, Keyword) else None
        if cls is None:
            raise BadRequest(f"unknown {self.tag} {str(kind):.80}", field=self.tag)
        return cls.from_edn(data)
