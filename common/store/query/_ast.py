"""The typed form of a parsed query (DataScript parser.cljc's records).

Every node is a frozen dataclass; `form` keeps the text or data the node
was parsed from, only so error messages can quote what the user wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Union

from ...edn import Symbol
from ..errors import QueryError


def show(form: Any) -> str:
    """`form` as EDN text, for error messages."""
    from ...edn import dumps  # lazily: the codec and the query engine load independently

    try:
        return str(dumps(form))
    except Exception:  # a message must never fail because a value does not print
        return repr(form)


def fail(message: str, *forms: Any) -> QueryError:
    """A QueryError whose message names the offending forms as EDN: `fail("bad {}", x)`."""
    return QueryError(message.format(*(show(f) for f in forms)) if forms else message)


def _form() -> Any:
    return field(default=None, compare=False, repr=False)


# -- terms -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Var:
    """`?name`."""

    sym: Symbol


@dataclass(frozen=True, slots=True)
class Const:
    """Any literal that is not a variable."""

    value: Any


@dataclass(frozen=True, slots=True)
class Blank:
    """The placeholder `_`."""


@dataclass(frozen=True, slots=True)
class Src:
    """A data source: `$` or `$name`."""

    sym: Symbol


@dataclass(frozen=True, slots=True)
class RulesVar:
    """`%` in `:in`."""


@dataclass(frozen=True, slots=True)
class FnName:
    """A plain symbol naming a built-in function or aggregate."""

    sym: Symbol


Term = Union[Var, Const, Blank]
Arg = Union[Var, Const, Src]
Callee = Union[FnName, Var]


# -- bindings (`:in` and function results) -------------------------------------


@dataclass(frozen=True, slots=True)
class BindIgnore:
    form: Any = _form()


@dataclass(frozen=True, slots=True)
class BindScalar:
    target: Var | Src | RulesVar
    form: Any = _form()


@dataclass(frozen=True, slots=True)
class BindTuple:
    items: tuple[Binding, ...]
    form: Any = _form()


@dataclass(frozen=True, slots=True)
class BindColl:
    item: Binding
    form: Any = _form()


Binding = Union[BindIgnore, BindScalar, BindTuple, BindColl]


# -- :find ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Aggregate:
    """`(fn arg* ?var)`; the last argument is the aggregated variable."""

    fn: Callee
    args: tuple[Arg, ...]
    form: Any = _form()

    @property
    def var(self) -> Symbol:
        last = self.args[-1]
        if not isinstance(last, Var):
            raise fail("the last argument of an aggregate must be a variable, got {}", last)
        return last.sym


@dataclass(frozen=True, slots=True)
class Pull:
    """`(pull $src? ?e pattern)`."""

    source: Src
    var: Var
    pattern: Var | Const


Element = Union[Var, Aggregate, Pull]


def element_var(element: Element) -> Symbol:
    """The variable whose values a find element reads."""
    if isinstance(element, Var):
        return element.sym
    if isinstance(element, Aggregate):
        return element.var
    return element.var.sym


@dataclass(frozen=True, slots=True)
class FindRel:
    elements: tuple[Element, ...]


@dataclass(frozen=True, slots=True)
class FindColl:
    elements: tuple[Element]


@dataclass(frozen=True, slots=True)
class FindScalar:
    elements: tuple[Element]


@dataclass(frozen=True, slots=True)
class FindTuple:
    elements: tuple[Element, ...]


Find = Union[FindRel, FindColl, FindScalar, FindTuple]


@dataclass(frozen=True, slots=True)
class ReturnMap:
    kind: Literal["keys", "syms", "strs"]
    keys: tuple[Any, ...]


# -- :where ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pattern:
    """`[$src? e a v tx added]`; shorter patterns leave the rest unconstrained."""

    source: Src | None
    terms: tuple[Term, ...]
    form: Any = _form()


@dataclass(frozen=True, slots=True)
class Predicate:
    """`[(pred arg*)]`."""

    fn: Callee
    args: tuple[Arg, ...]
    form: Any = _form()


@dataclass(frozen=True, slots=True)
class Function:
    """`[(fn arg*) binding]`."""

    fn: Callee
    args: tuple[Arg, ...]
    binding: Binding
    form: Any = _form()


@dataclass(frozen=True, slots=True)
class RuleCall:
    """`($src? rule-name term+)`."""

    source: Src | None
    name: Symbol
    args: tuple[Term, ...]
    form: Any = _form()


@dataclass(frozen=True, slots=True)
class Not:
    """`(not ...)` (join on every variable) or `(not-join [?v ...] ...)`."""

    source: Src | None
    vars: tuple[Symbol, ...]
    clauses: tuple[Clause, ...]
    join: bool
    form: Any = _form()


@dataclass(frozen=True, slots=True)
class And:
    """`(and ...)`: a conjunction, as a branch of `or`."""

    clauses: tuple[Clause, ...]
    form: Any = _form()


@dataclass(frozen=True, slots=True)
class Or:
    """`(or ...)` or `(or-join [[?required ...] ?free ...] ...)`."""

    source: Src | None
    required: tuple[Symbol, ...]
    free: tuple[Symbol, ...]
    branches: tuple[Clause, ...]
    join: bool
    form: Any = _form()

    @property
    def vars(self) -> tuple[Symbol, ...]:
        return self.required + self.free


Clause = Union[Pattern, Predicate, Function, RuleCall, Not, Or, And]


# -- rules and the query ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleBranch:
    """One definition of a rule: `[(name [?required ...] ?free ...) clause+]`."""

    name: Symbol
    required: tuple[Symbol, ...]
    free: tuple[Symbol, ...]
    clauses: tuple[Clause, ...]
    form: Any = _form()

    @property
    def params(self) -> tuple[Symbol, ...]:
        return self.required + self.free


@dataclass(frozen=True, slots=True)
class Query:
    find: Find
    with_: tuple[Symbol, ...]
    return_map: ReturnMap | None
    inputs: tuple[Binding, ...]
    where: tuple[Clause, ...]
    form: Any = _form()


def vars_of(node: Any) -> tuple[Symbol, ...]:
    """Distinct variables of a node, in order of appearance (parser.cljc collect-vars).

    A `not` contributes only its join variables and an `or` its rule-vars:
    variables local to them are invisible outside.
    """
    seen: dict[Symbol, None] = {}
    _collect_vars(node, seen)
    return tuple(seen)


def _collect_vars(node: Any, acc: dict[Symbol, None]) -> None:
    if isinstance(node, Var):
        acc[node.sym] = None
    elif isinstance(node, (Not, Or)):
        acc.update(dict.fromkeys(node.vars))
    elif isinstance(node, (tuple, list)):
        for item in node:
            _collect_vars(item, acc)
    elif isinstance(node, Pattern | RuleCall):
        _collect_vars(node.terms if isinstance(node, Pattern) else node.args, acc)
    elif isinstance(node, Predicate | Function):
        _collect_vars((node.fn, node.args), acc)
        if isinstance(node, Function):
            _collect_vars(node.binding, acc)
    elif isinstance(node, And):
        _collect_vars(node.clauses, acc)
    elif isinstance(node, BindScalar):
        _collect_vars(node.target, acc)
    elif isinstance(node, BindTuple):
        _collect_vars(node.items, acc)
    elif isinstance(node, BindColl):
        _collect_vars(node.item, acc)
    elif isinstance(node, Aggregate):
        _collect_vars((node.fn, node.args), acc)
    elif isinstance(node, Pull):
        _collect_vars((node.var, node.pattern), acc)
    elif isinstance(node, FindRel | FindColl | FindScalar | FindTuple):
        _collect_vars(node.elements, acc)
