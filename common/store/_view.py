"""The read interface that query, pull and entity code use.

Every database value - the current one, `as_of(t)`, `since(t)`, `history()` -
implements `DbView`.  Query (`query/`), pull (`_pull.py`) and entities
(`_entity.py`) depend only on this protocol, never on how indexes are built,
so a new kind of view (a filter, a PostgreSQL-backed follower) needs no change
to them.
"""

from __future__ import annotations

from typing import Any, Iterator, Literal, Protocol

from ..edn import Keyword
from ._datom import Datom
from ._schema import Schema

IndexName = Literal["eavt", "aevt", "avet", "vaet"]


class DbView(Protocol):
    """An immutable database value."""

    schema: Schema
    # The tx id of the last transaction this value includes (TX0 when empty).
    basis_t: int
    # True for `history()` views: datoms() then yields retractions too
    # (added=False), and query patterns may bind the 5th position.
    is_history: bool

    def datoms(self, index: IndexName, *components: Any) -> Iterator[Datom]:
        """Datoms of one index whose leading components equal `components`.

        - `eavt`: (e), (e, a), (e, a, v), (e, a, v, tx)
        - `aevt`: (a), (a, e), (a, e, v)
        - `avet`: (a), (a, v), (a, v, e); only for indexed attributes
          (`:db/index` or `:db/unique`), QueryError otherwise, as DataScript
        - `vaet`: (v), (v, a), (v, a, e); ref attributes only
        - no components: every datom, in that index's order

        Entity components may be lookup refs or idents; they are resolved
        with `entid`.  A component that resolves to nothing yields nothing.
        Iteration order within a call follows the index's sort order.
        """
        ...

    def entid(self, eid: Any) -> int | None:
        """An entity id from an int, a lookup ref `[attr value]` or an ident keyword.

        Returns None when a lookup ref or ident names no entity; raises
        QueryError when `eid` is not one of those shapes or a lookup ref uses
        an attribute that is not unique.
        """
        ...

    def attr(self, a: Keyword) -> Any:
        """Shorthand for `schema.attr(a)`."""
        ...
