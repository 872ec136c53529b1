"""The datom: the one fact shape everything in the store is made of."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..edn import Keyword

# Entity ids below TX0 name entities; ids from TX0 up name transactions, as in
# DataScript (db.cljc `tx0`), so the two can never collide.
E0 = 0
TX0 = 0x20000000


class Datom(NamedTuple):
    """`[e a v tx added]`: entity, attribute, value, transaction, assertion flag."""

    e: int
    a: Keyword
    v: Any
    tx: int
    added: bool = True
