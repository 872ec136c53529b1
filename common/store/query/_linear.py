"""Right-linear recursion with bound inputs, answered in time linear in what is reachable.

    [(anc ?x ?y) [?x :parent ?y]]
    [(anc ?x ?y) [?x :parent ?z] (anc ?z ?y)]

Called as `(anc 1 ?y)`, the general solver tables anc(z, ?y) for every z
reachable from 1: quadratic in the chain's length.  But when every
recursive branch ends its work in one call to the rule itself that passes
the free arguments through untouched (`?y` above, used nowhere else in the
branch), the answers for an input x are the exit branches' answers for
every z reachable from x, with x put back in place of z.  This module
recognises that shape and computes exactly that: a reachability walk over
the step relation (the recursive branches minus their call), plus one
evaluation of the exit branches per reached node, both memoised per query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...edn import Symbol
from ._ast import Const, Not, Or, RuleBranch, RuleCall, Var, vars_of
from ._engine import Context, run
from ._plan import Env, Plan, plan
from ._relation import Rel, Rels, Row

if TYPE_CHECKING:
    from ._rules import Solver


@dataclass(frozen=True, slots=True)
class LinearPlan:
    positions: tuple[int, ...]  # the bound (input) argument positions
    seed_vars: tuple[Symbol, ...]  # the head params at those positions
    params: tuple[Symbol, ...]
    exits: tuple[Plan, ...]  # the branches that do not recurse
    steps: tuple[
        tuple[Plan, tuple[Any, ...]], ...
    ]  # per recursive branch: body minus the call, the call's inputs


def linear_plan(
    branches: tuple[RuleBranch, ...],
    adornment: tuple[bool, ...],
    env: Env,
    reach: Mapping[Symbol, set[Symbol]],
) -> LinearPlan | None:
    """The right-linear reading of a rule under this adornment, or None if it does not apply."""
    name = branches[0].name
    positions = tuple(i for i, on in enumerate(adornment) if on)
    if not positions or len(positions) == len(adornment):
        return None
    exits: list[Plan] = []
    steps: list[tuple[Plan, tuple[Any, ...]]] = []
    for branch in branches:
        seed = frozenset(branch.params[i] for i in positions)
        recursive = [
            (i, c)
            for i, c in enumerate(branch.clauses)
            if isinstance(c, RuleCall) and name in reach.get(c.name, ())
        ]
        if any(_nested_recursion(c, name, reach) for c in branch.clauses):
            return None
        if not recursive:
            body, after = plan(branch.clauses, seed, env)
            if not set(branch.params) <= after:
                return None
            exits.append(body)
            continue
        step = _step(branch, recursive, positions, seed, env)
        if step is None:
            return None
        steps.append(step)
    if not steps:
        return None
    return LinearPlan(
        positions,
        tuple(branches[0].params[i] for i in positions),
        branches[0].params,
        tuple(exits),
        tuple(steps),
    )


def _nested_recursion(clause: Any, name: Symbol, reach: Mapping[Symbol, set[Symbol]]) -> bool:
    """Whether a `not`/`or` in the body calls back into the rule."""
    if isinstance(clause, (Not, Or)):
        inner = clause.clauses if isinstance(clause, Not) else clause.branches
        return any(
            (isinstance(c, RuleCall) and name in reach.get(c.name, ()))
            or _nested_recursion(c, name, reach)
            for c in inner
        )
    return hasattr(clause, "clauses") and any(
        _nested_recursion(c, name, reach) for c in clause.clauses
    )


def _step(
    branch: RuleBranch,
    recursive: list[tuple[int, RuleCall]],
    positions: tuple[int, ...],
    seed: frozenset[Symbol],
    env: Env,
) -> tuple[Plan, tuple[Any, ...]] | None:
    if len(recursive) != 1:
        return None
    index, call = recursive[0]
    free = [i for i in range(len(branch.params)) if i not in positions]
    if call.name != branch.name or call.source is not None:
        return None
    if any(call.args[i] != Var(branch.params[i]) for i in free):
        return None  # the free arguments must pass through untouched
    rest = branch.clauses[:index] + branch.clauses[index + 1 :]
    if {branch.params[i] for i in free} & set(vars_of(rest)):
        return None  # ... and be constrained by nothing else
    inputs = tuple(call.args[i] for i in positions)
    if not all(isinstance(a, (Var, Const)) for a in inputs):
        return None
    body, after = plan(rest, seed, env)
    if not {a.sym for a in inputs if isinstance(a, Var)} <= after:
        return None
    return body, inputs


class LinearTable:
    """Answers of one right-linear rule call pattern, complete as soon as they are asked for."""

    __slots__ = (
        "plan",
        "solver",
        "source",
        "inputs",
        "answers",
        "by_input",
        "fresh",
        "delta",
        "_next",
        "_exit",
    )

    def __init__(self, lp: LinearPlan, solver: Solver, source: Symbol) -> None:
        self.plan = lp
        self.solver = solver  # for rule calls in the bodies; they are below this rule
        self.source = source
        self.inputs: set[Row] = set()
        self.answers: set[Row] = set()
        self.by_input: dict[Row, list[Row]] = {}
        self.fresh: set[Row] = set()  # always empty: nothing is left for the fixpoint
        self.delta: list[Row] = []
        self._next: dict[Row, set[Row]] = {}  # node -> the nodes one recursive step away
        self._exit: dict[Row, set[Row]] = {}  # node -> free-argument tuples of exit answers

    def ask(self, inputs: Iterable[Row]) -> None:
        lp = self.plan
        free = [i for i in range(len(lp.params)) if i not in lp.positions]
        for x in inputs:
            if x in self.inputs:
                continue
            self.inputs.add(x)
            reached = self._reach(x)
            self._exits(reached)
            found = []
            for z in reached:
                for tail in self._exit[z]:
                    answer = [None] * len(lp.params)
                    for k, i in enumerate(lp.positions):
                        answer[i] = x[k]
                    for k, i in enumerate(free):
                        answer[i] = tail[k]
                    found.append(tuple(answer))
            self.by_input[x] = found = list(dict.fromkeys(found))
            self.answers.update(found)

    def _reach(self, start: Row) -> set[Row]:
        reached, frontier = {start}, [start]
        while frontier:
            self._expand([z for z in frontier if z not in self._next])
            nodes = [n for z in frontier for n in self._next[z] if n not in reached]
            reached.update(nodes)
            frontier = list(dict.fromkeys(nodes))
        return reached

    def _run(self, body: Plan, nodes: list[Row], vars: tuple[Symbol, ...]) -> set[Row]:
        rels = Rels([Rel(self.plan.seed_vars, nodes)])
        ctx = Context(self.solver.sources, self.source, rels, self.solver)
        run(body, ctx)
        return ctx.rels.collect(vars)

    def _expand(self, nodes: list[Row]) -> None:
        if not nodes:
            return
        n = len(self.plan.seed_vars)
        for z in nodes:
            self._next[z] = set()
        for body, inputs in self.plan.steps:
            call_vars = tuple(a.sym for a in inputs if isinstance(a, Var))
            for row in self._run(body, nodes, self.plan.seed_vars + call_vars):
                values = iter(row[n:])
                self._next[row[:n]].add(
                    tuple(a.value if isinstance(a, Const) else next(values) for a in inputs)
                )

    def _exits(self, nodes: Iterable[Row]) -> None:
        todo = [z for z in nodes if z not in self._exit]
        if not todo:
            return
        for z in todo:
            self._exit[z] = set()
        lp = self.plan
        free = [i for i in range(len(lp.params)) if i not in lp.positions]
        for body in lp.exits:
            for answer in self._run(body, todo, lp.params):
                self._exit[tuple(answer[i] for i in lp.positions)].add(
                    tuple(answer[i] for i in free)
                )
