"""Running a plan: each step narrows or extends the context's relations.

A `Context` is what one evaluation sees: the sources, the rules, the
default source, the relations built so far, and the rule solver.  Bodies of
`or` branches and `not` run in a child context seeded with the distinct
values of the variables they join on; their result is joined back (or, for
`not`, subtracted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...edn import Symbol
from ..errors import QueryError
from ._ast import (
    BindScalar,
    Const,
    Function,
    Not,
    Or,
    Pattern,
    Predicate,
    RuleCall,
    Src,
    Var,
    fail,
    show,
    vars_of,
)
from ._bindings import bind
from ._builtins import BUILTINS, CALL_ERRORS
from ._lookup import match
from ._plan import Plan, Seed, Step
from ._relation import Rel, Rels, Row, tuple_fn
from ._values import freeze

if TYPE_CHECKING:
    from ._rules import Solver


class Context:
    __slots__ = ("sources", "source", "rels", "solver", "in_rule", "seed")

    def __init__(
        self,
        sources: dict[Symbol, Any],
        source: Symbol,
        rels: Rels,
        solver: Solver,
        in_rule: bool = False,
        seed: tuple[tuple[Symbol, ...], set[Row]] | None = None,
    ) -> None:
        self.sources = sources
        self.source = source  # the default source symbol
        self.rels = rels
        self.solver = solver
        # Inside a rule body during the solver's fixpoint: rule calls read the
        # answers found so far instead of solving to completion.
        self.in_rule = in_rule
        self.seed = seed  # the rule's inputs, for the Seed step of semi-naive variants

    def child(self, source: Src | None, rels: Rels, *, negated: bool = False) -> Context:
        solver = self.solver
        in_rule = self.in_rule
        if negated and in_rule:
            # A negated rule call needs complete answers, which the running
            # fixpoint cannot give yet: solve it apart (rules are stratified).
            solver, in_rule = solver.fresh(), False
        return Context(
            self.sources,
            source.sym if source is not None else self.source,
            rels,
            solver,
            in_rule,
            self.seed,
        )

    def source_value(self, sym: Symbol) -> Any:
        try:
            return self.sources[sym]
        except KeyError:
            raise fail("Unknown source {}", sym) from None


def run(plan: Plan, ctx: Context) -> None:
    for step in plan:
        if ctx.rels.empty:
            return  # no solutions: later clauses cannot add any
        _RUN[type(step.clause)](step, ctx)


def _pattern(step: Step, ctx: Context) -> None:
    clause: Pattern = step.clause  # type: ignore[assignment]
    source = ctx.source_value(clause.source.sym if clause.source else ctx.source)
    match(ctx.rels, step.shape, source)  # type: ignore[arg-type]


def _caller(clause: Predicate | Function, rel: Rel, ctx: Context) -> Callable[[Row], Any]:
    """Row -> the call's result, with the arguments read from the row.

    Specialised for the usual one or two arguments: predicates run once per
    row, so the per-call overhead is the cost of a filter.
    """
    if isinstance(clause.fn, Var):
        fn_idx = rel.index[clause.fn.sym]
        args_of = _args_reader(clause, rel, ctx)

        def call_bound(row: Row) -> Any:
            fn = row[fn_idx]
            if not callable(fn):
                raise fail(
                    "{} is bound to {}, which is not a function, in {}",
                    clause.fn.sym,
                    fn,
                    clause.form,
                )
            return fn(*args_of(row))

        return call_bound
    fn = BUILTINS[clause.fn.sym].fn
    getters = [
        (True, rel.index[a.sym]) if isinstance(a, Var) else (False, _static(a, ctx))
        for a in clause.args
    ]
    if len(getters) == 1:
        ((from_row, x),) = getters
        return (lambda row: fn(row[x])) if from_row else (lambda row: fn(x))
    if len(getters) == 2:
        (row_a, a), (row_b, b) = getters
        if row_a and row_b:
            return lambda row: fn(row[a], row[b])
        if row_a:
            return lambda row: fn(row[a], b)
        if row_b:
            return lambda row: fn(a, row[b])
    args_of = _args_reader(clause, rel, ctx)
    return lambda row: fn(*args_of(row))


def _static(arg: Any, ctx: Context) -> Any:
    return arg.value if isinstance(arg, Const) else ctx.source_value(arg.sym)


def _args_reader(
    clause: Predicate | Function, rel: Rel, ctx: Context
) -> Callable[[Row], list[Any]]:
    static = [None if isinstance(a, Var) else _static(a, ctx) for a in clause.args]
    from_row = [(i, rel.index[a.sym]) for i, a in enumerate(clause.args) if isinstance(a, Var)]

    def args_of(row: Row) -> list[Any]:
        values = static.copy()
        for i, j in from_row:
            values[i] = row[j]
        return values

    return args_of


def _guarded(clause: Predicate | Function, loop: Callable[[], list[Row]]) -> list[Row]:
    """Run the loop over rows; a built-in failing on its arguments is a QueryError.

    Caught around the loop rather than per call, which keeps filters cheap.
    Functions passed in as inputs raise what they raise.
    """
    try:
        return loop()
    except QueryError:
        raise
    except CALL_ERRORS as e:
        if isinstance(clause.fn, Var):
            raise
        raise QueryError(f"{clause.fn.sym} failed: {e}, in {show(clause.form)}") from e


def _call_vars(clause: Predicate | Function) -> list[Symbol]:
    return list(vars_of((clause.fn, clause.args)))


def _predicate(step: Step, ctx: Context) -> None:
    clause: Predicate = step.clause  # type: ignore[assignment]
    rel = ctx.rels.take(_call_vars(clause))
    call = _caller(clause, rel, ctx)
    rows = _guarded(
        clause,
        lambda: [row for row in rel.rows if (r := call(row)) is not None and r is not False],
    )
    ctx.rels.put(Rel(rel.vars, rows))


def _function(step: Step, ctx: Context) -> None:
    clause: Function = step.clause  # type: ignore[assignment]
    outs = vars_of(clause.binding)
    rel = ctx.rels.take(_call_vars(clause) + [v for v in outs if ctx.rels.bound(v)])
    call = _caller(clause, rel, ctx)
    new = tuple(v for v in outs if v not in rel.index)
    ctx.rels.put(Rel(rel.vars + new, _guarded(clause, lambda: _results(clause, rel, call))))


def _results(clause: Function, rel: Rel, call: Callable[[Row], Any]) -> list[Row]:
    """Each row extended by the values its call's result binds (nil binds nothing)."""
    outs = vars_of(clause.binding)
    rows: list[Row] = []
    if isinstance(clause.binding, BindScalar):  # the common case, without building relations
        check = rel.index.get(outs[0])
        for row in rel.rows:
            value = call(row)
            if value is None:
                continue
            value = freeze(value)
            if check is None:
                rows.append((*row, value))
            elif row[check] == value:
                rows.append(row)
        return rows
    checks = [(k, rel.index[v]) for k, v in enumerate(outs) if v in rel.index]
    fresh = [k for k, v in enumerate(outs) if v not in rel.index]
    take_new = tuple_fn(fresh) if fresh else (lambda out: ())
    for row in rel.rows:
        value = call(row)
        if value is None:
            continue
        for out in bind(clause.binding, value).rows:
            if all(out[k] == row[j] for k, j in checks):
                rows.append(row + take_new(out))
    return rows


def _seeded(ctx: Context, vars: tuple[Symbol, ...]) -> tuple[Rel, Rel]:
    """Take the relations over the bound `vars`; return them and their distinct projection."""
    joined = tuple(v for v in vars if ctx.rels.bound(v))
    rel = ctx.rels.take(joined)
    return rel, Rel(joined, list(rel.project(joined)))


def _not(step: Step, ctx: Context) -> None:
    clause: Not = step.clause  # type: ignore[assignment]
    rel, seed = _seeded(ctx, clause.vars)
    sub = ctx.child(clause.source, Rels([seed]), negated=True)
    run(step.sub[0], sub)
    excluded = sub.rels.collect(seed.vars)
    key = tuple_fn(rel.idxs(seed.vars))
    ctx.rels.put(Rel(rel.vars, [row for row in rel.rows if key(row) not in excluded]))


def _or(step: Step, ctx: Context) -> None:
    clause: Or = step.clause  # type: ignore[assignment]
    rel, seed = _seeded(ctx, clause.vars)
    found: set[Row] = set()
    for branch in step.sub:
        sub = ctx.child(clause.source, Rels([seed]))
        run(branch, sub)
        found |= sub.rels.collect(clause.vars)
    ctx.rels.put(rel)
    ctx.rels.add(Rel(clause.vars, list(found)))


def _rule_call(step: Step, ctx: Context) -> None:
    ctx.solver.call(step, ctx)


def _seed(step: Step, ctx: Context) -> None:
    assert ctx.seed is not None
    vars, inputs = ctx.seed
    if all(ctx.rels.bound(v) for v in vars):
        # A semi-join against the input set as it is: rebuilding a hash of all
        # inputs every round would make deep recursion quadratic.
        rel = ctx.rels.take(vars)
        key = tuple_fn(rel.idxs(vars))
        ctx.rels.put(Rel(rel.vars, [row for row in rel.rows if key(row) in inputs]))
    else:
        ctx.rels.add(Rel(vars, list(inputs)))


_RUN: dict[type, Callable[[Step, Context], None]] = {
    Pattern: _pattern,
    Predicate: _predicate,
    Function: _function,
    Not: _not,
    Or: _or,
    RuleCall: _rule_call,
    Seed: _seed,
}
