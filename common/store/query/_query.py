"""Whole queries: text or data -> a validated `Query` (parser.cljc parse-query)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...edn import Keyword, Symbol
from ._ast import (
    Aggregate,
    And,
    BindScalar,
    Element,
    Find,
    FindColl,
    FindRel,
    FindScalar,
    FindTuple,
    FnName,
    Function,
    Not,
    Or,
    Pattern,
    Predicate,
    Pull,
    Query,
    ReturnMap,
    RuleCall,
    RulesVar,
    Src,
    Var,
    fail,
    vars_of,
)
from ._bindings import occurrences
from ._parser import (
    is_plain_symbol,
    is_seq,
    parse_arg,
    parse_clauses,
    parse_const,
    parse_in_binding,
    parse_seq,
    parse_var,
)

_SECTIONS = ("find", "with", "in", "where", "keys", "syms", "strs")
_DOT = Symbol(".")
_ELLIPSIS = Symbol("...")
_PULL = Symbol("pull")
_AGGREGATE = Symbol("aggregate")
_DEFAULT_SRC = Symbol("$")


def parse_query(form: Any) -> Query:
    if isinstance(form, str):
        from ...edn import loads  # lazily: the codec and the query engine load independently

        form = loads(form)
    sections = _sections(form)
    where = parse_clauses(sections["where"], ":where") if sections.get("where") else ()
    find = _parse_find(sections.get("find"))
    with_ = tuple(_with_var(f) for f in sections.get("with", ()))
    return_map = _parse_return_map(sections)
    if "in" in sections:
        inputs = tuple(parse_in_binding(f) for f in sections["in"])
    else:
        inputs = (BindScalar(Src(_DEFAULT_SRC), form=_DEFAULT_SRC),) if _uses_source(where) else ()
    query = Query(find, with_, return_map, inputs, where, form=form)
    _validate(query)
    return query


def _sections(form: Any) -> dict[str, Any]:
    """`{:find [...] :where [...]}` or `[:find ... :where ...]` -> {"find": [...], ...}."""
    out: dict[str, list[Any]] = {}
    if isinstance(form, Mapping):
        for key, value in form.items():
            name = _section_name(key)
            if not is_seq(value):
                raise fail("Query section {} must be a vector, got {}", key, value)
            out[name] = list(value)
        return out
    if not is_seq(form):
        raise fail("Query should be a vector or a map, got {}", form)
    current: str | None = None
    for item in form:
        if isinstance(item, Keyword):
            current = _section_name(item)
            out.setdefault(current, [])
        elif current is None:
            raise fail("Query must start with a keyword such as :find, got {}", item)
        else:
            out[current].append(item)
    return out


def _section_name(key: Any) -> str:
    name = key.name if isinstance(key, Keyword) and key.namespace is None else key
    if isinstance(name, str):
        name = name.lstrip(":")
    if name not in _SECTIONS:
        raise fail(
            "Unknown query section {}, expected one of :find :with :in :where :keys :syms :strs",
            key,
        )
    return name


# -- :find ------------------------------------------------------------------------


def _parse_find(form: Any) -> Find:
    if not form:
        raise fail("Query must have a :find with at least one element, got {}", form)
    elements = parse_seq(_parse_element, form)
    if elements is not None:
        return FindRel(elements)
    if len(form) == 2 and form[1] is _DOT:
        element = _parse_element(form[0])
        if element is not None:
            return FindScalar((element,))
    if len(form) == 1 and is_seq(form[0]):
        inner = form[0]
        if len(inner) == 2 and inner[1] is _ELLIPSIS:
            element = _parse_element(inner[0])
            if element is not None:
                return FindColl((element,))
        elements = parse_seq(_parse_element, inner)
        if elements:
            return FindTuple(elements)
    raise fail(
        "Cannot parse :find, expected: (find-rel | find-coll | find-tuple | find-scalar), got {}",
        form,
    )


def _parse_element(form: Any) -> Element | None:
    var = parse_var(form)
    if var is not None:
        return var
    if not is_seq(form) or len(form) < 2:
        return None
    head = form[0]
    if head is _PULL:
        return _parse_pull(form)
    if head is _AGGREGATE:
        fn = parse_var(form[1]) if len(form) >= 3 else None
        args = parse_seq(parse_arg, form[2:])
        if fn is None or not args:
            raise fail(
                "Cannot parse custom aggregate call, expect ['aggregate' variable fn-arg+], got {}",
                form,
            )
        return _checked_aggregate(Aggregate(fn, args, form=form), form)
    if is_plain_symbol(head):
        args = parse_seq(parse_arg, form[1:])
        return _checked_aggregate(Aggregate(FnName(head), args, form=form), form) if args else None
    return None


def _checked_aggregate(agg: Aggregate, form: Any) -> Aggregate:
    if not isinstance(agg.args[-1], Var):
        raise fail("The last argument of aggregate {} must be a variable", form)
    if isinstance(agg.fn, FnName):
        from ._aggregates import AGGREGATES

        if agg.fn.sym not in AGGREGATES:
            raise fail("Unknown aggregate function '{} in {}", agg.fn.sym, form)
    return agg


def _parse_pull(form: Any) -> Pull:
    bad = (
        "Cannot parse pull expression,"
        " expect ['pull' src-var? variable (constant | variable | plain-symbol)], got {}"
    )
    if not 3 <= len(form) <= 4:
        raise fail(bad, form)
    src_form, var_form, pattern_form = form[1:] if len(form) == 4 else (_DEFAULT_SRC, *form[1:])
    src = Src(src_form) if type(src_form) is Symbol and src_form.name.startswith("$") else None
    var = parse_var(var_form)
    pattern = (
        Var(pattern_form)
        if is_plain_symbol(pattern_form)
        else parse_var(pattern_form) or parse_const(pattern_form)
    )
    if src is None or var is None or pattern is None:
        raise fail(bad, form)
    return Pull(src, var, pattern)


def _with_var(form: Any) -> Symbol:
    var = parse_var(form)
    if var is None:
        raise fail("Cannot parse :with clause, expected [ variable+ ], got {}", form)
    return var.sym


def _parse_return_map(sections: dict[str, Any]) -> ReturnMap | None:
    present = [k for k in ("keys", "syms", "strs") if k in sections]
    if len(present) > 1:
        raise fail("Only one of :keys/:syms/:strs must be present")
    if not present:
        return None
    kind = present[0]
    names = sections[kind]
    if not names or not all(type(n) is Symbol for n in names):
        raise fail(f":{kind} expects symbols, got {{}}", names)
    make = {"keys": lambda s: Keyword(s.full), "syms": lambda s: s, "strs": lambda s: s.full}[kind]
    return ReturnMap(kind, tuple(make(n) for n in names))  # type: ignore[arg-type]


# -- validation --------------------------------------------------------------------


def _uses_source(where: Any) -> bool:
    """Whether :where needs `$` by default (parser.cljc default-in)."""
    for clause in where:
        if isinstance(clause, Pattern) or getattr(clause, "source", None) is not None:
            return True
        if isinstance(clause, (Not, And)) and _uses_source(clause.clauses):
            return True
        if isinstance(clause, Or) and _uses_source(clause.branches):
            return True
    return False


def _where_sources(node: Any, acc: set[Symbol]) -> set[Symbol]:
    if isinstance(node, Src):
        acc.add(node.sym)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _where_sources(item, acc)
    elif isinstance(node, (Pattern, RuleCall, Not, Or)):
        if node.source is not None:
            acc.add(node.source.sym)
        _where_sources(getattr(node, "clauses", getattr(node, "branches", ())), acc)
    elif isinstance(node, (Predicate, Function)):
        _where_sources(node.args, acc)
    elif isinstance(node, And):
        _where_sources(node.clauses, acc)
    return acc


def _has_rule_calls(node: Any) -> bool:
    if isinstance(node, RuleCall):
        return True
    if isinstance(node, (list, tuple)):
        return any(_has_rule_calls(c) for c in node)
    if isinstance(node, (Not, And)):
        return _has_rule_calls(node.clauses)
    if isinstance(node, Or):
        return _has_rule_calls(node.branches)
    return False


def _validate(q: Query) -> None:
    find_vars = vars_of(q.find)
    in_vars = [v for b in q.inputs for v in occurrences(b)]
    known = set(vars_of(q.where)) | set(in_vars)
    unknown = [v for v in find_vars + q.with_ if v not in known]
    if unknown:
        raise fail("Query for unknown vars: {}", unknown)
    shared = [v for v in find_vars if v in q.with_]
    if shared:
        raise fail(":find and :with should not use same variables: {}", shared)
    if q.return_map is not None:
        kind = ":" + q.return_map.kind
        if isinstance(q.find, FindScalar):
            raise fail(f"{kind} does not work with single-scalar :find")
        if isinstance(q.find, FindColl):
            raise fail(f"{kind} does not work with collection :find")
        if len(q.return_map.keys) != len(q.find.elements):
            raise fail(f"Count of {kind} must match count of :find")
    in_sources = [
        b.target.sym for b in q.inputs if isinstance(b, BindScalar) and isinstance(b.target, Src)
    ]
    in_rules = [b for b in q.inputs if isinstance(b, BindScalar) and isinstance(b.target, RulesVar)]
    if (
        len(set(in_vars)) != len(in_vars)
        or len(set(in_sources)) != len(in_sources)
        or len(in_rules) > 1
    ):
        raise fail("Vars used in :in should be distinct")
    if len(set(q.with_)) != len(q.with_):
        raise fail("Vars used in :with should be distinct")
    pull_sources = {e.source.sym for e in q.find.elements if isinstance(e, Pull)}
    unknown_src = sorted((_where_sources(q.where, set()) | pull_sources) - set(in_sources), key=str)
    if unknown_src:
        raise fail("Where uses unknown source vars: {}", unknown_src)
    if not in_rules and _has_rule_calls(q.where):
        raise fail("Missing rules var '%' in :in")
