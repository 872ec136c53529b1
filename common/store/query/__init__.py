"""Datalog queries over a DbView, following DataScript query*.cljc.

    q('[:find ?e . :in $ ?email :where [?e :user/email ?email]]', db, "a@b.c")

`q(query, *inputs)`: `query` is EDN text or the same as Python data
(lists/tuples for vectors and lists, `Symbol` for symbols, `Keyword` for
keywords, or the map form `{:find [...] :where [...]}`); `inputs` match
`:in` (default `[$]`).  Queries are parsed and validated once (cached);
errors are `QueryError`.  docs/query.md describes the dialect.
"""

from __future__ import annotations

from typing import Any

from ._run import execute, prepare


def q(query: Any, *inputs: Any) -> Any:
    """Run a Datalog query; see the module docstring and docs/query.md."""
    return execute(prepare(query), inputs)


__all__ = ["q"]
