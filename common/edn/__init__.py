"""EDN: the canonical wire and storage format (API.md, "Names, ports, formats").

`loads` and `dumps` are the codec; `Keyword`, `Symbol` and friends are the
values it reads into.  See docs/edn.md for the Python mapping.
"""

from ._types import Char, FrozenMap, K, Keyword, List, Symbol, TaggedLiteral, Vector

__all__ = [
    "Char",
    "FrozenMap",
    "K",
    "Keyword",
    "List",
    "Symbol",
    "TaggedLiteral",
    "Vector",
]
