"""Query data -> typed clauses, bindings and rules (DataScript parser.cljc).

Each `parse_*` returns None when the form is not of its kind, so callers can
try the alternatives in DataScript's order, and raises QueryError when the
form is of its kind but malformed.  Any list or tuple (including EDN `List`
and `Vector`) is a sequence here: `(not ...)` and `[not ...]` read alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ...edn import Symbol
from ._ast import (
    And,
    Arg,
    BindColl,
    BindIgnore,
    Binding,
    BindScalar,
    BindTuple,
    Blank,
    Callee,
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
    RulesVar,
    Src,
    Term,
    Var,
    fail,
    vars_of,
)
from ._values import freeze

_BLANK = Symbol("_")
_ELLIPSIS = Symbol("...")
_RULES = Symbol("%")
_KEYWORDS = {Symbol(s) for s in ("not", "not-join", "or", "or-join", "and")}


def is_seq(form: Any) -> bool:
    return isinstance(form, (list, tuple))


def _sym_starting(form: Any, prefix: str) -> bool:
    return type(form) is Symbol and form.name.startswith(prefix)


def parse_var(form: Any) -> Var | None:
    return Var(form) if _sym_starting(form, "?") else None


def parse_src(form: Any) -> Src | None:
    return Src(form) if _sym_starting(form, "$") else None


def is_plain_symbol(form: Any) -> bool:
    return (
        type(form) is Symbol
        and not form.name.startswith(("?", "$"))
        and form is not _RULES
        and form is not _BLANK
    )


def parse_const(form: Any) -> Const | None:
    return None if _sym_starting(form, "?") else Const(freeze(form))


def parse_seq(parse: Callable[[Any], Any], form: Any) -> tuple[Any, ...] | None:
    """Every item parsed by `parse`, or None if `form` is no sequence or an item fails."""
    if not is_seq(form):
        return None
    out = []
    for item in form:
        parsed = parse(item)
        if parsed is None:
            return None
        out.append(parsed)
    return tuple(out)


def parse_term(form: Any) -> Term | None:
    if form is _BLANK:
        return Blank()
    return parse_var(form) or parse_const(form)


def parse_arg(form: Any) -> Arg | None:
    return parse_var(form) or parse_src(form) or parse_const(form)


# -- bindings ---------------------------------------------------------------


def parse_binding(form: Any) -> Binding:
    """bind-coll | bind-rel | bind-tuple | `_` | bind-scalar."""
    found = _parse_bind_coll(form) or _parse_bind_rel(form) or _parse_bind_tuple(form)
    if found is not None:
        return found
    if form is _BLANK:
        return BindIgnore(form=form)
    var = parse_var(form)
    if var is not None:
        return BindScalar(var, form=form)
    raise fail(
        "Cannot parse binding, expected (bind-scalar | bind-tuple | bind-coll | bind-rel), got {}",
        form,
    )


def _parse_bind_coll(form: Any) -> BindColl | None:
    if is_seq(form) and len(form) == 2 and form[1] is _ELLIPSIS:
        return BindColl(parse_binding(form[0]), form=form)
    return None


def _parse_bind_rel(form: Any) -> BindColl | None:
    if is_seq(form) and len(form) == 1 and is_seq(form[0]):
        inner = _parse_bind_tuple(form[0])
        if inner is None:
            raise fail("Cannot parse relation binding {}", form)
        return BindColl(inner, form=form)
    return None


def _parse_bind_tuple(form: Any) -> BindTuple | None:
    if not is_seq(form):
        return None
    items = tuple(BindIgnore(form=f) if f is _BLANK else parse_binding(f) for f in form)
    if not items:
        raise fail("Tuple binding cannot be empty: {}", form)
    return BindTuple(items, form=form)


def parse_in_binding(form: Any) -> Binding:
    """`:in` items: `$src`, `%`, a plain symbol (a scalar, as DataScript allows), or a binding."""
    if _sym_starting(form, "$"):
        return BindScalar(Src(form), form=form)
    if form is _RULES:
        return BindScalar(RulesVar(), form=form)
    if is_plain_symbol(form):
        return BindScalar(Var(form), form=form)
    return parse_binding(form)


# -- clauses ------------------------------------------------------------------


def parse_clause(form: Any) -> Clause:
    if not is_seq(form):
        raise fail("Cannot parse clause, expected a list or vector, got {}", form)
    for parse in (_parse_not, _parse_or, _parse_and, _parse_pred, _parse_fn, _parse_rule_call):
        found = parse(form)
        if found is not None:
            return found
    return _parse_pattern(form)


def parse_clauses(forms: Any, what: str) -> tuple[Clause, ...]:
    """A clause list; an `(and ...)` in it is just its clauses (DataScript resolves it so)."""
    if not is_seq(forms) or not forms:
        raise fail(f"{what} must have at least one clause, got {{}}", forms)
    out: list[Clause] = []
    for form in forms:
        clause = parse_clause(form)
        out.extend(clause.clauses if isinstance(clause, And) else (clause,))
    return tuple(out)


def _take_source(form: Sequence[Any]) -> tuple[Src | None, Sequence[Any]]:
    src = parse_src(form[0]) if form else None
    return (src, form[1:]) if src is not None else (None, form)


def _head(form: Sequence[Any], name: str) -> tuple[Src | None, Sequence[Any]] | None:
    src, rest = _take_source(form)
    if rest and rest[0] is Symbol(name):
        return src, rest[1:]
    return None


def _parse_not(form: Sequence[Any]) -> Not | None:
    found = _head(form, "not")
    if found is not None:
        src, body = found
        if not body:
            raise fail(
                "Cannot parse 'not' clause, expected [ src-var? 'not' clause+ ], got {}", form
            )
        clauses = parse_clauses(body, "'not'")
        return _checked_join(Not(src, vars_of(clauses), clauses, join=False, form=form))
    found = _head(form, "not-join")
    if found is None:
        return None
    src, body = found
    join_vars = parse_seq(parse_var, body[0]) if body else None
    if join_vars is None or len(body) < 2:
        raise fail(
            "Cannot parse 'not-join' clause, expected [ src-var? 'not-join' [variable+] clause+ ],"
            " got {}",
            form,
        )
    clauses = parse_clauses(body[1:], "'not-join'")
    return _checked_join(Not(src, tuple(v.sym for v in join_vars), clauses, True, form=form))


def _checked_join(clause: Not | Or) -> Any:
    if not clause.vars:
        raise fail("Join variables should not be empty in {}", clause.form)
    return clause


def _parse_or(form: Sequence[Any]) -> Or | None:
    found = _head(form, "or")
    if found is not None:
        src, body = found
        if not body:
            raise fail("Cannot parse 'or' clause, expected [ src-var? 'or' clause+ ], got {}", form)
        branches = tuple(parse_clause(b) for b in body)
        return _checked_join(Or(src, (), vars_of(branches), branches, join=False, form=form))
    found = _head(form, "or-join")
    if found is None:
        return None
    src, body = found
    if len(body) < 2:
        raise fail(
            "Cannot parse 'or-join' clause, expected [ src-var? 'or-join' [variable+] clause+ ],"
            " got {}",
            form,
        )
    required, free = parse_rule_vars(body[0])
    branches = tuple(parse_clause(b) for b in body[1:])
    return _checked_join(Or(src, required, free, branches, join=True, form=form))


def _parse_and(form: Sequence[Any]) -> And | None:
    if not form or form[0] is not Symbol("and"):
        return None
    if len(form) < 2:
        raise fail("Cannot parse 'and' clause, expected [ 'and' clause+ ], got {}", form)
    return And(parse_clauses(form[1:], "'and'"), form=form)


def _parse_call(form: Any) -> tuple[Callee, tuple[Arg, ...]] | None:
    if not is_seq(form) or not form:
        return None
    fn: Callee | None = FnName(form[0]) if is_plain_symbol(form[0]) else parse_var(form[0])
    args = parse_seq(parse_arg, form[1:])
    if fn is None or args is None:
        return None
    return fn, args


def _parse_pred(form: Sequence[Any]) -> Predicate | None:
    call = _parse_call(form[0]) if len(form) == 1 else None
    return Predicate(call[0], call[1], form=form) if call else None


def _parse_fn(form: Sequence[Any]) -> Function | None:
    call = _parse_call(form[0]) if len(form) == 2 else None
    return Function(call[0], call[1], parse_binding(form[1]), form=form) if call else None


def _parse_rule_call(form: Sequence[Any]) -> RuleCall | None:
    src, rest = _take_source(form)
    if not rest or not is_plain_symbol(rest[0]) or rest[0] in _KEYWORDS:
        return None
    if len(rest) < 2:
        raise fail("rule-expr requires at least one argument: {}", form)
    args = tuple(parse_term(f) for f in rest[1:])
    return RuleCall(src, rest[0], args, form=form)  # type: ignore[arg-type]


def _parse_pattern(form: Sequence[Any]) -> Pattern:
    src, rest = _take_source(form)
    if not rest:
        raise fail("Pattern could not be empty: {}", form)
    return Pattern(src, tuple(parse_term(f) for f in rest), form=form)  # type: ignore[misc]


# -- rules --------------------------------------------------------------------


def parse_rule_vars(form: Any) -> tuple[tuple[Symbol, ...], tuple[Symbol, ...]]:
    """`[?a ?b]` or `[[?required ...] ?free ...]` -> (required, free)."""
    expected = "Cannot parse rule-vars, expected [ variable+ | ([ variable+ ] variable*) ], got {}"
    if not is_seq(form) or not form:
        raise fail(expected, form)
    required_form, free_form = (form[0], form[1:]) if is_seq(form[0]) else ((), form)
    required = tuple(_rule_var(f) for f in required_form)
    free = tuple(_rule_var(f) for f in free_form)
    if not required and not free:
        raise fail(expected, form)
    if len(set(required + free)) != len(required + free):
        raise fail("Rule variables should be distinct: {}", form)
    return required, free


def _rule_var(form: Any) -> Symbol:
    var = parse_var(form)
    if var is None:
        raise fail("Cannot parse var, expected symbol starting with ?, got: {}", form)
    return var.sym


def parse_rules(form: Any) -> dict[Symbol, tuple[RuleBranch, ...]]:
    """`[[(name ?vars...) clause+] ...]` -> branches grouped by rule name."""
    if not is_seq(form):
        raise fail("Cannot parse rules, expected [ rule-branch+ ], got {}", form)
    rules: dict[Symbol, list[RuleBranch]] = {}
    for branch_form in form:
        branch = _parse_rule_branch(branch_form)
        rules.setdefault(branch.name, []).append(branch)
    for name, branches in rules.items():
        first = branches[0]
        for other in branches[1:]:
            if (len(other.required), len(other.free)) != (len(first.required), len(first.free)):
                raise fail(
                    "Arity mismatch for rule '{}': {} vs. {}", name, first.form[0], other.form[0]
                )
    return {name: tuple(branches) for name, branches in rules.items()}


def _parse_rule_branch(form: Any) -> RuleBranch:
    if not is_seq(form) or not form:
        raise fail("Cannot parse rule, expected [rule-head clause+], got {}", form)
    head = form[0]
    if not is_seq(head) or not head:
        raise fail("Cannot parse rule head, expected [rule-name rule-vars], got: {}", head)
    if not is_plain_symbol(head[0]):
        raise fail("Cannot parse rule name, expected plain-symbol, got {}", head[0])
    required, free = parse_rule_vars(head[1:])
    if len(form) < 2:
        raise fail("Rule branch should have clauses: {}", form)
    clauses = parse_clauses(form[1:], "A rule branch")
    return RuleBranch(head[0], required, free, clauses, form=form)
