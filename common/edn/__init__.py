"""EDN: the canonical wire and storage format (API.md, "Names, ports, formats").

`loads` and `dumps` are the codec; `Keyword`, `Symbol` and friends are the
values it reads into.  See docs/edn.md for the Python mapping.
"""

from ._reader import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_LENGTH,
    TagReader,
    loads,
    loads_all,
    register_tag,
    unregister_tag,
)
from ._types import Char, FrozenMap, K, Keyword, List, Symbol, TaggedLiteral, Vector
from ._writer import TypeWriter, dumps, register_writer, unregister_writer
from .errors import EDNDecodeError

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_LENGTH",
    "Char",
    "EDNDecodeError",
    "FrozenMap",
    "K",
    "Keyword",
    "List",
    "Symbol",
    "TagReader",
    "TaggedLiteral",
    "TypeWriter",
    "Vector",
    "dumps",
    "loads",
    "loads_all",
    "register_tag",
    "register_writer",
    "unregister_tag",
    "unregister_writer",
]
