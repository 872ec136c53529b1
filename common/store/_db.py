"""What a user calls on a database value, shared by every kind of `DbView`.

The current value (`_index.Db`) and the time views (`_time.py`) inherit
these, so `db.as_of(t).q(...)` works like `db.q(...)`.  Each method is a thin
door into the module that does the work, imported late so that the index
code does not depend on the query, pull or time code.
"""

from __future__ import annotations

from typing import Any, Iterable


class DbMethods:
    """Mixin for DbView implementations: query, pull, entities and time travel."""

    __slots__ = ()

    def q(self, query: Any, *inputs: Any) -> Any:
        """Run a Datalog query with this value as `$`; `inputs` bind the rest of `:in`."""
        from .query import q

        return q(query, self, *inputs)

    def pull(self, pattern: Any, eid: Any) -> Any:
        from ._pull import pull

        return pull(self, pattern, eid)

    def pull_many(self, pattern: Any, eids: Iterable[Any]) -> Any:
        from ._pull import pull_many

        return pull_many(self, pattern, eids)

    def entity(self, eid: Any) -> Any:
        from ._entity import entity

        return entity(self, eid)

    def as_of(self, t: Any) -> Any:
        """The database as it was once transaction `t` was committed (inclusive)."""
        from . import _time

        return _time.as_of(self, t)

    def since(self, t: Any) -> Any:
        """Only what was asserted after transaction `t` (exclusive)."""
        from . import _time

        return _time.since(self, t)

    def history(self) -> Any:
        """Every assertion and retraction ever made, with its `added` flag."""
        from . import _time

        return _time.history(self)
