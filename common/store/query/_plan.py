"""Clause ordering: the most selective runnable clause goes first (issue #2).

The planner is greedy.  Given the variables bound so far it scores every
clause that can run and picks the lowest score (ties keep the written
order):

    0  filters: predicates, `not`, `or` over bound variables only
    1  function calls whose inputs are bound
    1  a pattern on a unique attribute with its value known: one datom
    2  a pattern with its entity known (EAVT), 3 if its attribute is not
    4  attribute + value known on an indexed or ref attribute (AVET/VAET)
    6  attribute + value known otherwise (an AEVT scan, few results)
    7  attribute only (an AEVT scan)
    8  value only; 9 tx only; 10 nothing known (a full scan)

"Known" means a constant or an already-bound variable; at run time a bound
variable's values are looked up one by one in an index (see _lookup.py).
Filters run as soon as their variables are bound.  A `not` waits until
every one of its variables that some other clause can bind is bound, so
the result does not depend on where it was written; this accepts queries
DataScript rejects for writing `not` first, with the same answer as if it
had been written last.

A plan is computed once per query and schema (the engine caches it), and
plans of `or` branches and `not` bodies are nested in their step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ...edn import Keyword, Symbol
from .._schema import Schema
from ._ast import (
    And,
    Clause,
    Const,
    FnName,
    Function,
    Not,
    Or,
    Pattern,
    Predicate,
    RuleBranch,
    RuleCall,
    Var,
    fail,
    show,
    vars_of,
)
from ._builtins import BUILTINS, arity_ok
from ._lookup import Shape


@dataclass(frozen=True, slots=True)
class Seed:
    """The inputs of the rule being evaluated, joined like a relation (semi-naive variants)."""

    vars: tuple[Symbol, ...]


@dataclass(frozen=True, slots=True)
class Step:
    clause: Clause | Seed
    index: int  # position among the clauses planned together
    sub: tuple[Plan, ...] = ()  # `or` branches or the `not` body, each planned for its entry
    adornment: tuple[bool, ...] = ()  # rule calls: which arguments are inputs
    delta: bool = False  # rule calls: read only the callee's newest answers
    shape: Shape | None = None  # patterns: positions classified for the bound variables


Plan = tuple[Step, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Env:
    source: Symbol  # the default source of patterns and rule calls
    schemas: Mapping[Symbol, Schema]  # of the sources that are databases
    rules: Mapping[Symbol, tuple[RuleBranch, ...]] = field(default_factory=dict)


def plan(
    clauses: tuple[Clause, ...],
    bound: frozenset[Symbol],
    env: Env,
    *,
    delta: int | None = None,
    fixed: Mapping[int, tuple[bool, ...]] | None = None,
    seed: Seed | None = None,
) -> tuple[Plan, frozenset[Symbol]]:
    """Order `clauses`; returns the plan and the variables bound after it.

    `delta`, `fixed` and `seed` build the semi-naive variants of a rule
    body (see _rules.py): clause `delta` runs first on the callee's newest
    answers, rule calls keep the adornments `fixed` by the base plan, and
    the rule's inputs are joined in as `seed`.
    """
    pending: list[tuple[int, Clause | Seed]] = list(enumerate(clauses))
    if seed is not None:
        pending.append((len(clauses), seed))
    bindable = set(bound).union(*(_outputs(c) for _, c in pending))
    steps: list[Step] = []
    if delta is not None:
        call = clauses[delta]
        assert isinstance(call, RuleCall) and fixed is not None
        steps.append(Step(call, delta, adornment=fixed[delta], delta=True))
        bound = bound | _outputs(call)
        pending = [(i, c) for i, c in pending if i != delta]
    while pending:
        best: tuple[float, int] | None = None
        for pos, (i, clause) in enumerate(pending):
            score = _score(clause, bound, env, bindable, (fixed or {}).get(i))
            if score is not None and (best is None or score < best[0]):
                best = (score, pos)
        if best is None:
            raise _stuck(pending, bound, env, bindable)
        i, clause = pending.pop(best[1])
        steps.append(_step(clause, i, bound, env, (fixed or {}).get(i)))
        bound = bound | _outputs(clause)
    return tuple(steps), bound


def _outputs(clause: Clause | Seed) -> frozenset[Symbol]:
    """The variables a clause binds."""
    if isinstance(clause, (Pattern, RuleCall, Or, Seed)):
        return frozenset(vars_of(clause) if not isinstance(clause, Seed) else clause.vars)
    if isinstance(clause, Function):
        return frozenset(vars_of(clause.binding))
    return frozenset()


def _inputs(clause: Predicate | Function) -> frozenset[Symbol]:
    return frozenset(vars_of((clause.fn, clause.args)))


def _known(term: Any, bound: frozenset[Symbol]) -> bool:
    return isinstance(term, Const) or (isinstance(term, Var) and term.sym in bound)


def _score(
    clause: Clause | Seed,
    bound: frozenset[Symbol],
    env: Env,
    bindable: set[Symbol],
    fixed: tuple[bool, ...] | None,
) -> float | None:
    """The clause's cost rank if it can run now, else None."""
    if isinstance(clause, Pattern):
        return _pattern_score(clause, bound, env)
    if isinstance(clause, Predicate):
        return 0 if _inputs(clause) <= bound else None
    if isinstance(clause, Function):
        if not _inputs(clause) <= bound:
            return None
        return 0 if _outputs(clause) <= bound else 1
    if isinstance(clause, Not):
        needs = _not_needs(clause, bindable)
        return 0 if needs and needs <= bound else None
    if isinstance(clause, Or):
        if _or_problem(clause, bound) is not None:
            return None
        joins = set(clause.vars)
        return 0 if joins <= bound else 3 if joins & bound else 8
    if isinstance(clause, RuleCall):
        adornment = fixed or tuple(_known(a, bound) for a in clause.args)
        if fixed and not all(_known(a, bound) for a, on in zip(clause.args, fixed) if on):
            return None
        if _missing_required(clause, adornment, env):
            return None
        return 3 if any(adornment) else 8
    if isinstance(clause, Seed):
        return 0 if set(clause.vars) <= bound else 5
    raise AssertionError(clause)


def _pattern_score(p: Pattern, bound: frozenset[Symbol], env: Env) -> float:
    schema = env.schemas.get(p.source.sym if p.source else env.source)
    known = [_known(t, bound) for t in p.terms] + [False] * (5 - len(p.terms))
    if schema is None:  # a collection: always a scan, constants only filter it
        return 5 if any(known) else 9
    if known[0]:
        return 2 if known[1] else 3
    if known[1]:
        if not known[2]:
            return 7
        attr = _const_attr(p, schema)
        if attr is not None and attr.unique:
            return 1
        return 4 if attr is None or attr.indexed or attr.ref else 6
    return 8 if known[2] else 9 if known[3] else 10


def _const_attr(p: Pattern, schema: Schema) -> Any:
    term = p.terms[1]
    if isinstance(term, Const) and isinstance(term.value, (Keyword, str)) and term.value:
        from .._schema import as_keyword

        return schema.attr(as_keyword(term.value))
    return None


def _not_needs(clause: Not, bindable: set[Symbol]) -> set[Symbol]:
    """The variables a `not` joins on: all of not-join's, those others bind for `not`."""
    return set(clause.vars) if clause.join else set(clause.vars) & bindable


def _branch_clauses(branch: Clause) -> tuple[Clause, ...]:
    return branch.clauses if isinstance(branch, And) else (branch,)


def _or_problem(clause: Or, bound: frozenset[Symbol]) -> str | None:
    """Why an `or` cannot run yet (the message DataScript gives), or None."""
    missing = [v for v in clause.required if v not in bound]
    if missing:
        return f"Insufficient bindings: {show(frozenset(missing))} not bound in {show(clause.form)}"
    if not clause.join:
        free = [frozenset(vars_of(b)) - bound for b in clause.branches]
        if any(f != free[0] for f in free):
            return (
                "All clauses in 'or' must use same set of free vars,"
                f" had {show(free)} in {show(clause.form)}"
            )
        return None
    for branch in clause.branches:
        lacking = set(clause.free) - bound - set(vars_of(branch))
        if lacking:
            return (
                "All clauses in 'or' must use same set of free vars, had {} not bound in {}".format(
                    show(frozenset(lacking)), show(getattr(branch, "form", branch))
                )
            )
    return None


def _rule(clause: RuleCall, env: Env) -> tuple[RuleBranch, ...]:
    branches = env.rules.get(clause.name)
    if branches is None:
        raise fail("Unknown rule '{} in {}", clause.name, clause.form)
    if len(branches[0].params) != len(clause.args):
        raise fail(
            f"Rule '{{}} takes {len(branches[0].params)} arguments, got {len(clause.args)} in {{}}",
            clause.name,
            clause.form,
        )
    return branches


def _missing_required(clause: RuleCall, adornment: tuple[bool, ...], env: Env) -> list[Any]:
    head = _rule(clause, env)[0]
    return [clause.args[i] for i in range(len(head.required)) if not adornment[i]]


def _step(
    clause: Clause | Seed,
    index: int,
    bound: frozenset[Symbol],
    env: Env,
    fixed: tuple[bool, ...] | None,
) -> Step:
    if isinstance(clause, (Predicate, Function)):
        _check_call(clause)
    if isinstance(clause, RuleCall):
        return Step(clause, index, adornment=fixed or tuple(_known(a, bound) for a in clause.args))
    if isinstance(clause, Pattern):
        return Step(clause, index, shape=Shape(clause, bound))
    if not isinstance(clause, (Not, Or)):
        return Step(clause, index)
    inner = replace(env, source=clause.source.sym) if clause.source else env
    if isinstance(clause, Not):
        entry = frozenset(v for v in clause.vars if v in bound)
        body, _ = plan(clause.clauses, entry, inner)
        return Step(clause, index, sub=(body,))
    entry = frozenset(v for v in clause.vars if v in bound)
    branches = []
    for branch in clause.branches:
        branch_plan, after = plan(_branch_clauses(branch), entry, inner)
        unbound = set(clause.vars) - after
        if unbound:
            raise fail(
                "All clauses in 'or' must use same set of free vars, had {} not bound in {}",
                frozenset(unbound),
                getattr(branch, "form", branch),
            )
        branches.append(branch_plan)
    return Step(clause, index, sub=tuple(branches))


def _check_call(clause: Predicate | Function) -> None:
    if not isinstance(clause.fn, FnName):
        return
    builtin = BUILTINS.get(clause.fn.sym)
    kind = "predicate" if isinstance(clause, Predicate) else "function"
    if builtin is None:
        raise fail(f"Unknown {kind} '{{}} in {{}}", clause.fn.sym, clause.form)
    if not arity_ok(builtin, len(clause.args)):
        raise fail(
            f"Wrong number of args ({len(clause.args)}) passed to {{}} in {{}}",
            clause.fn.sym,
            clause.form,
        )


def _stuck(
    pending: list[tuple[int, Clause | Seed]],
    bound: frozenset[Symbol],
    env: Env,
    bindable: set[Symbol],
) -> Exception:
    """The error for clauses that can never run, naming the first that is hopeless."""
    for _, clause in pending:
        if isinstance(clause, (Predicate, Function)):
            missing = _inputs(clause) - bound
            if missing:
                return fail("Insufficient bindings: {} not bound in {}", missing, clause.form)
        elif isinstance(clause, Not):
            needs = _not_needs(clause, bindable)
            if not needs:
                return fail(
                    "Insufficient bindings: none of {} is bound in {}",
                    frozenset(clause.vars),
                    clause.form,
                )
            if clause.join and not needs <= bound:
                return fail("Insufficient bindings: {} not bound in {}", needs - bound, clause.form)
        elif isinstance(clause, Or):
            problem = _or_problem(clause, bound)
            if problem is not None:
                return fail(problem)
        elif isinstance(clause, RuleCall):
            adornment = tuple(_known(a, bound) for a in clause.args)
            missing_args = _missing_required(clause, adornment, env)
            if missing_args:
                return fail(
                    "Insufficient bindings: {} not bound in {}",
                    frozenset(a.sym if isinstance(a, Var) else a for a in missing_args),
                    clause.form,
                )
    return fail("Insufficient bindings: cannot order clauses {}", [c for _, c in pending])


def unbound_error(vars: Any) -> Exception:
    return fail("Query for unbound vars: {} (bound only inside not, or never)", list(vars))
