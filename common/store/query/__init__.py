"""Datalog queries over a DbView, following DataScript query*.cljc.

    q('[:find ?e . :in $ ?email :where [?e :user/email ?email]]', db, "a@b.c")

`q(query, *inputs)`: `query` is EDN text or the same as Python data (lists
or tuples for vectors and lists, `Symbol` for symbols, `Keyword` for
keywords), in vector or map form (`{:find [...] :where [...]}`); `inputs`
match `:in` (default `[$]`).  Queries are parsed, validated and planned once
(cached).  Every error is a `QueryError` naming the offending form.

Results: `:find ?a ?b` gives a set of tuples (a list when `:with` keeps
duplicates or a pull puts dicts in rows), `[?a ...]` a list, `?a .` a value
or None, `[?a ?b]` a tuple or None; `:keys`/`:syms`/`:strs` give dicts.
Values bound to variables are made hashable (list -> Vector, dict ->
FrozenMap, set -> frozenset).

Where this differs from DataScript, on purpose:
- Clauses are ordered by a planner (_plan.py), not as written; a `not`
  waits for the variables other clauses bind, so writing it first is fine.
- Symbols never name Python code: pass functions as inputs (`:in ?f`,
  `[(?f ?x)]`, `(aggregate ?f ?x)`) instead of namespaced symbols.
- `/` on integers gives an int when exact, else a float (no ratios).
- Built-ins failing on their arguments raise QueryError; functions passed
  as inputs raise what they raise.
"""

from __future__ import annotations

from typing import Any

from ._run import execute, prepare


def q(query: Any, *inputs: Any) -> Any:
    """Run a Datalog query; see the module docstring."""
    return execute(prepare(query), inputs)


__all__ = ["q"]
