"""Rules: demand-driven, semi-naive, bottom-up evaluation.

A rule call is answered from a table keyed by (source, rule, adornment),
the adornment saying which arguments are inputs (constants or bound
variables).  The table holds the inputs asked for and the answers found.
Evaluating a branch body starts from those inputs, so `(ancestor ?x ?y)`
with ?x bound only explores what is reachable from ?x (the "magic sets"
idea), and calls inside bodies register their own inputs in turn.

The solver iterates to a fixpoint.  Each round evaluates every branch
  - on the inputs registered since the last round, against all answers, and
  - for each recursive call whose table gained answers last round, on all
    inputs but only those new answers, with the body re-planned to start
    from them (semi-naive: the classic delta rules).
Calls nested inside `or` in a body fall back to re-running the body on all
inputs (naive, still correct).  Calls inside `not` are solved completely
in a separate solver; a rule that depends on itself through `not` has no
well-defined answer and is rejected.  Right-linear rules called with inputs
(the usual ancestor shape) skip all this for a reachability walk that is
linear instead of quadratic in what is reachable (_linear.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...edn import Symbol
from .._schema import Schema
from ._ast import And, Blank, Clause, Const, Not, Or, RuleBranch, RuleCall, Var, fail
from .._cache import LRU, cached
from ._engine import Context, run
from ._linear import LinearPlan, LinearTable, linear_plan
from ._parser import parse_rules
from ._plan import Env, Plan, Seed, Step, plan
from ._relation import Rel, Rels, Row, tuple_fn

TableKey = tuple[Symbol, Symbol, tuple[bool, ...]]  # (source, rule name, adornment)


@dataclass(frozen=True, slots=True)
class _BranchPlan:
    params: tuple[Symbol, ...]
    seed_vars: tuple[Symbol, ...]  # the params that are inputs under this adornment
    base: Plan
    variants: Mapping[int, tuple[TableKey, Plan]]  # per top-level rule call: its table, delta plan
    nested: frozenset[TableKey]  # tables read by calls nested in `or`/`not`


class Rules:
    """Parsed rules (the `%` input) with their body plans, cached per schema."""

    __slots__ = ("branches", "reach", "_plans", "_linear")

    def __init__(self, branches: Mapping[Symbol, tuple[RuleBranch, ...]]) -> None:
        self.branches = dict(branches)
        self.reach = _check_stratified(self.branches)
        # Values keep the schemas alive so the ids in the keys stay theirs.
        self._plans: dict[Any, tuple[Any, tuple[_BranchPlan, ...]]] = {}
        self._linear: dict[Any, tuple[Any, LinearPlan | None]] = {}

    def linear(
        self, key: TableKey, schemas: Mapping[Symbol, Schema], env_key: Any
    ) -> LinearPlan | None:
        """The right-linear plan of a rule under an adornment, if it has that shape (_linear.py)."""
        cache_key = (key, env_key)
        found = self._linear.get(cache_key)
        if found is None:
            if len(self._linear) > 256:
                self._linear.clear()
            env = Env(key[0], schemas, self.branches)
            lp = linear_plan(self.branches[key[1]], key[2], env, self.reach)
            found = self._linear[cache_key] = (schemas, lp)
        return found[1]

    def plans(
        self, key: TableKey, schemas: Mapping[Symbol, Schema], env_key: Any
    ) -> tuple[_BranchPlan, ...]:
        cache_key = (key, env_key)
        found = self._plans.get(cache_key)
        if found is None:
            env = Env(key[0], schemas, self.branches)
            plans = tuple(_plan_branch(b, key[2], env) for b in self.branches[key[1]])
            if len(self._plans) > 256:
                self._plans.clear()
            found = self._plans[cache_key] = (schemas, plans)
        return found[1]


_RULES_CACHE: LRU[Rules] = LRU(128)


def make_rules(form: Any) -> Rules:
    """The `%` input (EDN text or data) -> Rules, parsed once per distinct form."""

    def make(f: Any) -> Rules:
        if isinstance(f, str):
            from ...edn import loads  # lazily, as everywhere in the query engine

            f = loads(f)
        return Rules(parse_rules(f))

    return form if isinstance(form, Rules) else cached(_RULES_CACHE, form, make)


def _plan_branch(branch: RuleBranch, adornment: tuple[bool, ...], env: Env) -> _BranchPlan:
    seed_vars = tuple(p for p, on in zip(branch.params, adornment) if on)
    base, after = plan(branch.clauses, frozenset(seed_vars), env)
    unbound = [p for p in branch.params if p not in after]
    if unbound:
        raise fail("Insufficient bindings: rule {} does not bind {}", branch.form[0], unbound)
    fixed = {s.index: s.adornment for s in base if isinstance(s.clause, RuleCall)}
    variants = {}
    for step in base:
        if isinstance(step.clause, RuleCall):
            variant, _ = plan(
                branch.clauses,
                frozenset(),
                env,
                delta=step.index,
                fixed=fixed,
                seed=Seed(seed_vars),
            )
            variants[step.index] = (_table_key(step, env.source), variant)
    nested = frozenset(k for s in base for k in _nested_calls(s.sub, env.source, s.clause))
    return _BranchPlan(branch.params, seed_vars, base, variants, nested)


def _table_key(step: Step, source: Symbol) -> TableKey:
    clause: RuleCall = step.clause  # type: ignore[assignment]
    return (clause.source.sym if clause.source else source, clause.name, step.adornment)


def _nested_calls(plans: Iterable[Plan], source: Symbol, owner: Any) -> Iterable[TableKey]:
    inner = owner.source.sym if getattr(owner, "source", None) is not None else source
    for p in plans:
        for step in p:
            if isinstance(step.clause, RuleCall):
                yield _table_key(step, inner)
            yield from _nested_calls(step.sub, inner, step.clause)


class _Table:
    __slots__ = ("positions", "inputs", "fresh", "answers", "by_input", "delta")

    def __init__(self, adornment: tuple[bool, ...]) -> None:
        self.positions = [i for i, on in enumerate(adornment) if on]
        self.inputs: set[Row] = set()
        self.fresh: set[Row] = set()  # inputs not evaluated yet
        self.answers: set[Row] = set()
        self.by_input: dict[Row, list[Row]] = {}
        self.delta: list[Row] = []  # answers found this round

    def ask(self, inputs: Iterable[Row]) -> None:
        for row in inputs:
            if row not in self.inputs:
                self.inputs.add(row)
                self.fresh.add(row)

    def add(self, answers: Iterable[Row]) -> None:
        key = tuple_fn(self.positions)
        for answer in answers:
            if answer not in self.answers:
                self.answers.add(answer)
                self.by_input.setdefault(key(answer), []).append(answer)
                self.delta.append(answer)


class Solver:
    """The tables of one query evaluation (or of one negated call)."""

    def __init__(
        self,
        sources: dict[Symbol, Any],
        rules: Rules,
        schemas: Mapping[Symbol, Schema],
        env_key: Any,
    ):
        self.sources = sources
        self.rules = rules
        self.schemas = schemas
        self.env_key = env_key
        self.tables: dict[TableKey, _Table | LinearTable] = {}
        self.last_delta: dict[TableKey, list[Row]] = {}

    def fresh(self) -> Solver:
        return Solver(self.sources, self.rules, self.schemas, self.env_key)

    def call(self, step: Step, ctx: Context) -> None:
        """Join the answers of a rule call into the context."""
        clause: RuleCall = step.clause  # type: ignore[assignment]
        key = _table_key(step, ctx.source)
        rel = ctx.rels.take(
            a.sym for a in clause.args if isinstance(a, Var) and ctx.rels.bound(a.sym)
        )
        if step.delta:
            delta = self.last_delta.get(key, [])
            _join_answers(ctx, clause, rel, (), lambda row: delta)
            return
        table = self.tables.get(key) or self.tables.setdefault(key, self._new_table(key))
        positions = [i for i, on in enumerate(step.adornment) if on]
        input_of = _input_fn(clause, rel, positions)
        table.ask(input_of(row) for row in rel.rows)
        if not ctx.in_rule:
            self.solve()
        empty: list[Row] = []
        _join_answers(
            ctx, clause, rel, positions, lambda row: table.by_input.get(input_of(row), empty)
        )

    def _new_table(self, key: TableKey) -> _Table | LinearTable:
        linear = self.rules.linear(key, self.schemas, self.env_key)
        if linear is not None:
            # Its bodies only call rules below it: a separate solver completes those.
            return LinearTable(linear, self.fresh(), key[0])
        return _Table(key[2])

    def solve(self) -> None:
        """Evaluate until no table gains inputs or answers."""
        while True:
            fresh = {k: t.fresh for k, t in self.tables.items() if t.fresh}
            delta = {k: t.delta for k, t in self.tables.items() if t.delta}
            if not fresh and not delta:
                return
            for t in self.tables.values():
                t.fresh, t.delta = set(), []
            self.last_delta = delta
            for key, inputs in fresh.items():
                for bp in self._plans(key):
                    self._evaluate(key, bp, inputs, None)
            if delta:
                self._apply_delta(delta)

    def _apply_delta(self, delta: dict[TableKey, list[Row]]) -> None:
        for key, table in list(self.tables.items()):
            if not table.inputs or isinstance(table, LinearTable):
                continue
            for bp in self._plans(key):
                if bp.nested & delta.keys():
                    self._evaluate(key, bp, table.inputs, None)
                    continue
                for index, (callee, _) in bp.variants.items():
                    if callee in delta:
                        self._evaluate(key, bp, table.inputs, index)

    def _plans(self, key: TableKey) -> tuple[_BranchPlan, ...]:
        return self.rules.plans(key, self.schemas, self.env_key)

    def _evaluate(
        self, key: TableKey, bp: _BranchPlan, inputs: set[Row], variant: int | None
    ) -> None:
        if variant is None:
            rels = Rels([Rel(bp.seed_vars, list(inputs))] if bp.seed_vars else [])
            body = bp.base
        else:
            rels, body = Rels(), bp.variants[variant][1]
        ctx = Context(self.sources, key[0], rels, self, in_rule=True, seed=(bp.seed_vars, inputs))
        run(body, ctx)
        table = self.tables[key]
        assert isinstance(table, _Table)  # linear tables never reach the fixpoint
        table.add(ctx.rels.collect(bp.params))


def _input_fn(clause: RuleCall, rel: Rel, positions: list[int]) -> Callable[[Row], Row]:
    """Context row -> the call's input tuple (its adorned arguments' values)."""
    parts: list[tuple[bool, Any]] = []
    for i in positions:
        arg = clause.args[i]
        parts.append((True, arg.value) if isinstance(arg, Const) else (False, rel.index[arg.sym]))  # type: ignore[union-attr]
    if all(not const for const, _ in parts):
        return tuple_fn([j for _, j in parts])
    return lambda row: tuple(v if const else row[v] for const, v in parts)


def _join_answers(
    ctx: Context,
    clause: RuleCall,
    rel: Rel,
    inputs: Iterable[int],
    answers_for: Callable[[Row], Iterable[Row]],
) -> None:
    """Extend each context row with the answers for it, checking positions that are not inputs."""
    skip = set(inputs)
    checks: list[tuple[int, Any, bool]] = []  # (answer pos, const value or row index, is const)
    new: dict[Symbol, int] = {}
    same: list[tuple[int, int]] = []
    for i, arg in enumerate(clause.args):
        if i in skip or isinstance(arg, Blank):
            continue
        if isinstance(arg, Const):
            checks.append((i, arg.value, True))
        elif arg.sym in rel.index:
            checks.append((i, rel.index[arg.sym], False))
        elif arg.sym in new:
            same.append((i, new[arg.sym]))
        else:
            new[arg.sym] = i
    take = tuple_fn(list(new.values())) if new else (lambda answer: ())
    rows = [
        row + take(answer)
        for row in rel.rows
        for answer in answers_for(row)
        if all(answer[i] == (v if const else row[v]) for i, v, const in checks)
        and all(answer[i] == answer[j] for i, j in same)
    ]
    ctx.rels.add(Rel(rel.vars + tuple(new), rows))


def _calls(clauses: Iterable[Clause], negated: bool) -> Iterable[tuple[Symbol, bool]]:
    for clause in clauses:
        if isinstance(clause, RuleCall):
            yield clause.name, negated
        elif isinstance(clause, Not):
            yield from _calls(clause.clauses, True)
        elif isinstance(clause, Or):
            yield from _calls(clause.branches, negated)
        elif isinstance(clause, And):
            yield from _calls(clause.clauses, negated)


def _check_stratified(
    branches: Mapping[Symbol, tuple[RuleBranch, ...]],
) -> dict[Symbol, set[Symbol]]:
    """Reject recursion through `not`; return each rule's reach (itself and all it may call)."""
    edges = {
        name: set(_calls((c for b in bs for c in b.clauses), False))
        for name, bs in branches.items()
    }

    def reachable(start: Symbol) -> set[Symbol]:
        seen, todo = {start}, [start]
        while todo:
            for callee, _ in edges.get(todo.pop(), ()):
                if callee not in seen:
                    seen.add(callee)
                    todo.append(callee)
        return seen

    reach = {name: reachable(name) for name in edges}
    for name, calls in edges.items():
        for callee, negated in calls:
            if negated and name in reach.get(callee, ()):
                raise fail(
                    "Rule '{} depends on itself through 'not'; such rules have no answer", name
                )
    return reach


NO_RULES = Rules({})
