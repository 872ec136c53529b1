"""The Python values EDN reads into that Python has no type for.

Mapping (documented in docs/edn.md):

    nil -> None        true/false -> bool     42, 42N -> int   1.5 -> float
    1.5M -> Decimal    "s" -> str             \\c -> Char      :a/b -> Keyword
    a/b -> Symbol      (1 2) -> List          [1 2] -> Vector  #{1} -> frozenset
    {:a 1} -> dict (FrozenMap where it must be hashable: a map key or set member)
    #inst -> datetime  #uuid -> UUID          #other x -> TaggedLiteral

`List` and `Vector` are both tuples, so they are hashable and compare equal
to each other when their items do, as `(= '(1 2) [1 2])` does in Clojure.

Keywords and symbols are interned: there is one object per name (`__new__`
returns the existing one, and `__reduce__` makes unpickling and copying go
through it), so equality is identity and the hash is `object`'s, both in C.
Attribute keywords are the store's hottest dict keys: a Python-level
`__hash__`/`__eq__` pair cost ~0.1 us per lookup, 5-10 % of transacting
(measured on 1,000-entity batches).  The hash is per process, like `str`'s,
so nothing may persist it.
"""

from __future__ import annotations

from typing import Any, ClassVar


class _Named:
    """Shared behaviour of Keyword and Symbol: an interned, namespaced name."""

    __slots__ = ("full", "namespace", "name", "__weakref__")
    _table: ClassVar[dict[str, Any]]
    _prefix: ClassVar[str]  # what `str()` puts before the name in EDN text

    full: str
    namespace: str | None
    name: str

    def __new__(cls, full: str) -> Any:
        try:
            return cls._table[full]
        except KeyError:
            pass
        if type(full) is not str:
            raise TypeError(f"{cls.__name__} name must be a str, not {type(full).__name__}")
        self = object.__new__(cls)
        ns, sep, local = full.partition("/")
        if sep and local:
            self.namespace, self.name = ns, local
        else:  # "foo" or the bare symbol "/"
            self.namespace, self.name = None, full
        self.full = full
        return cls._table.setdefault(full, self)

    def __lt__(self, other: object) -> bool:
        # A total order among names of one kind, so sorted() works on attributes.
        if type(other) is type(self):
            return self.full < other.full  # type: ignore[attr-defined]
        return NotImplemented

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.full!r})"

    def __str__(self) -> str:
        return self._prefix + self.full

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (type(self), (self.full,))

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: Any) -> Any:
        return self


class Keyword(_Named):
    """`:ns/name`.  `Keyword("user/name")`; `str()` gives the EDN text."""

    __slots__ = ()
    _table: ClassVar[dict[str, "Keyword"]] = {}
    _prefix = ":"


class Symbol(_Named):
    """`ns/name` or `?var`; `str()` gives the EDN text."""

    __slots__ = ()
    _table: ClassVar[dict[str, "Symbol"]] = {}
    _prefix = ""


class Char(str):
    """An EDN character (`\\a`, `\\newline`): a one-character str that remembers it was one."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Char({str.__repr__(self)})"


class List(tuple):
    """An EDN list `( ... )`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "List(" + tuple.__repr__(self) + ")"


class Vector(tuple):
    """An EDN vector `[ ... ]`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Vector(" + tuple.__repr__(self) + ")"


class FrozenMap(dict):
    """A map that can be hashed: read where EDN puts a map in a set or a map key.

    It must not be mutated once hashed; nothing in jobstreamer does.
    """

    __slots__ = ()

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __repr__(self) -> str:
        return "FrozenMap(" + dict.__repr__(self) + ")"


class TaggedLiteral:
    """`#tag value` for a tag with no reader registered; written back unchanged."""

    __slots__ = ("tag", "value")

    def __init__(self, tag: Symbol, value: Any) -> None:
        self.tag = tag
        self.value = value

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TaggedLiteral)
            and self.tag is other.tag
            and self.value == other.value
        )

    def __hash__(self) -> int:
        return hash((self.tag, self.value))

    def __repr__(self) -> str:
        return f"TaggedLiteral({self.tag!r}, {self.value!r})"


def K(full: str) -> Keyword:
    """Shorthand for `Keyword`, accepting a leading colon: `K(":db/id")`."""
    return Keyword(full[1:] if full.startswith(":") else full)
