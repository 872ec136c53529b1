"""One query call: bind the inputs, plan (cached), run, shape the result."""

from __future__ import annotations

from typing import Any

from ...edn import Symbol
from .._schema import Schema
from ._ast import BindScalar, Query, RulesVar, Src, Var, element_var, fail, vars_of
from ._bindings import bind
from .._cache import LRU, cached
from ._engine import Context, run
from ._find import shape_result
from ._plan import Env, Plan, plan, unbound_error
from ._query import parse_query
from ._relation import Rel, Rels
from ._rules import NO_RULES, Rules, Solver, make_rules
from ._values import freeze

_DEFAULT = Symbol("$")
_QUERIES: LRU[Prepared] = LRU(512)


class Prepared:
    """A parsed, validated query and its plans (one per combination of schemas and rules)."""

    __slots__ = ("query", "input_vars", "result_vars", "uses_rules", "_plans")

    def __init__(self, query: Query) -> None:
        self.query = query
        self.input_vars = frozenset(vars_of(query.inputs))
        self.result_vars = tuple(element_var(e) for e in query.find.elements) + query.with_
        self.uses_rules = any(
            isinstance(b.target, RulesVar) for b in query.inputs if isinstance(b, BindScalar)
        )
        self._plans: dict[Any, tuple[Any, Plan]] = {}

    def plan_for(self, sources: dict[Symbol, Any], rules: Rules, env_key: Any) -> Plan:
        found = self._plans.get(env_key)
        if found is None:
            env = Env(_DEFAULT, schemas_of(sources), rules.branches)
            steps, bound = plan(self.query.where, self.input_vars, env)
            missing = [v for v in self.result_vars if v not in bound]
            if missing:
                raise unbound_error(missing)
            if len(self._plans) > 16:  # schemas are few; this only bounds pathological churn
                self._plans.clear()
            # The schemas and rules ride along so that their ids in env_key stay theirs.
            found = self._plans[env_key] = ((env.schemas, rules), steps)
        return found[1]


def schemas_of(sources: dict[Symbol, Any]) -> dict[Symbol, Schema]:
    """The schema of every source that is a database (collections have none)."""
    return {sym: src.schema for sym, src in sources.items() if hasattr(src, "datoms")}


def prepare(query: Any) -> Prepared:
    return cached(_QUERIES, query, lambda form: Prepared(parse_query(form)))


def execute(prepared: Prepared, inputs: tuple[Any, ...]) -> Any:
    query = prepared.query
    if len(inputs) != len(query.inputs):
        few = len(inputs) < len(query.inputs)
        raise fail(
            f"{'Too few' if few else 'Extra'} inputs passed, expected: {{}}, got: {len(inputs)}",
            [b.form for b in query.inputs],
        )
    sources: dict[Symbol, Any] = {}
    rules = NO_RULES
    rels = Rels()
    for binding, value in zip(query.inputs, inputs):
        target = binding.target if isinstance(binding, BindScalar) else None
        if isinstance(target, Var):
            rels.put(Rel((target.sym,), [(freeze(value),)]))  # :in vars are distinct
        elif isinstance(target, Src):
            sources[target.sym] = value
        elif isinstance(target, RulesVar):
            rules = make_rules(value)
        else:
            rels.add(bind(binding, value))
    env_key = (tuple(id(getattr(src, "schema", None)) for src in sources.values()), id(rules))
    steps = prepared.plan_for(sources, rules, env_key)
    solver = Solver(sources, rules, schemas_of(sources), env_key) if prepared.uses_rules else None
    ctx = Context(sources, _DEFAULT, rels, solver)  # type: ignore[arg-type]
    run(steps, ctx)
    return shape_result(query, ctx, prepared.result_vars)
