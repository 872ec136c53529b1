"""Parsing queries into the typed AST, ported from DataScript parser*.cljc.

The forms are EDN text read with `edn.loads`, as DataScript's tests quote them.
"""

from __future__ import annotations

from typing import Any

import pytest
from jobstreamer.common.edn import K, Symbol, loads
from jobstreamer.common.store import QueryError
from jobstreamer.common.store.query._ast import (
    Aggregate,
    And,
    BindColl,
    BindIgnore,
    BindScalar,
    BindTuple,
    Blank,
    Const,
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
    ReturnMap,
    RuleCall,
    RulesVar,
    Src,
    Var,
)
from jobstreamer.common.store.query._parser import (
    parse_binding,
    parse_clause,
    parse_in_binding,
    parse_rules,
)
from jobstreamer.common.store.query._query import parse_query


def S(name: str) -> Symbol:
    return Symbol(name)


def V(name: str) -> Var:
    return Var(Symbol(name))


def scalar(name: str) -> BindScalar:
    return BindScalar(V(name))


@pytest.mark.parametrize(
    "form, expected",
    [
        ("?x", scalar("?x")),
        ("_", BindIgnore()),
        ("[?x ...]", BindColl(scalar("?x"))),
        ("[?x]", BindTuple((scalar("?x"),))),
        ("[?x ?y]", BindTuple((scalar("?x"), scalar("?y")))),
        ("[_ ?y]", BindTuple((BindIgnore(), scalar("?y")))),
        ("[[_ [?x ...]] ...]", BindColl(BindTuple((BindIgnore(), BindColl(scalar("?x")))))),
        ("[[?a ?b ?c]]", BindColl(BindTuple((scalar("?a"), scalar("?b"), scalar("?c"))))),
    ],
)
def test_bindings(form: str, expected: Any) -> None:
    assert parse_binding(loads(form)) == expected


def test_binding_errors() -> None:
    with pytest.raises(QueryError, match="Cannot parse binding"):
        parse_binding(K(":key"))
    with pytest.raises(QueryError, match="Cannot parse binding"):
        [parse_in_binding(f) for f in loads("[?x :key]")]


def test_in() -> None:
    assert [parse_in_binding(f) for f in loads("[$ $1 % _ ?x]")] == [
        BindScalar(Src(S("$"))),
        BindScalar(Src(S("$1"))),
        BindScalar(RulesVar()),
        BindIgnore(),
        scalar("?x"),
    ]


def find_of(text: str) -> Any:
    return parse_query(f"[:find {text} :in ?a ?b ?f]").find


@pytest.mark.parametrize(
    "text, expected",
    [
        ("?a ?b", FindRel((V("?a"), V("?b")))),
        ("[?a ...]", FindColl((V("?a"),))),
        ("?a .", FindScalar((V("?a"),))),
        ("[?a ?b]", FindTuple((V("?a"), V("?b")))),
        ("?a (count ?b)", FindRel((V("?a"), Aggregate(FnName(S("count")), (V("?b"),))))),
        ("[(count ?a) ...]", FindColl((Aggregate(FnName(S("count")), (V("?a"),)),))),
        ("(count ?a) .", FindScalar((Aggregate(FnName(S("count")), (V("?a"),)),))),
        ("[(count ?a) ?b]", FindTuple((Aggregate(FnName(S("count")), (V("?a"),)), V("?b")))),
        ("(aggregate ?f ?a)", FindRel((Aggregate(V("?f"), (V("?a"),)),))),
        ("?a (aggregate ?f ?b)", FindRel((V("?a"), Aggregate(V("?f"), (V("?b"),))))),
        ("[(aggregate ?f ?a) ...]", FindColl((Aggregate(V("?f"), (V("?a"),)),))),
        ("(aggregate ?f ?a) .", FindScalar((Aggregate(V("?f"), (V("?a"),)),))),
        ("[(aggregate ?f ?a) ?b]", FindTuple((Aggregate(V("?f"), (V("?a"),)), V("?b")))),
    ],
)
def test_parse_find(text: str, expected: Any) -> None:
    assert find_of(text) == expected


def test_parse_find_elements() -> None:
    parsed = parse_query("[:find (max $x 1 ?b) . :in $x ?b]").find
    assert parsed == FindScalar((Aggregate(FnName(S("max")), (Src(S("$x")), Const(1), V("?b"))),))
    # DataScript parses `(count ?b 1 $x)` and fails later; the aggregated value must come last.
    with pytest.raises(QueryError, match="The last argument of aggregate .* must be a variable"):
        parse_query("[:find (count ?b 1 $x) . :in $x ?b]")
    with pytest.raises(QueryError, match="Cannot parse :find"):
        parse_query('[:find "x" :in ?a]')


def clause(text: str) -> Any:
    return parse_clause(loads(text))


DEFAULT = None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[?e ?a ?v]", Pattern(DEFAULT, (V("?e"), V("?a"), V("?v")))),
        ("[_ ?a _ _]", Pattern(DEFAULT, (Blank(), V("?a"), Blank(), Blank()))),
        ("[$x _ ?a _ _]", Pattern(Src(S("$x")), (Blank(), V("?a"), Blank(), Blank()))),
        ("[$x _ :name ?v]", Pattern(Src(S("$x")), (Blank(), Const(K(":name")), V("?v")))),
        ("[$x _ sym ?v]", Pattern(Src(S("$x")), (Blank(), Const(S("sym")), V("?v")))),
        ("[$x _ $src-sym ?v]", Pattern(Src(S("$x")), (Blank(), Const(S("$src-sym")), V("?v")))),
        ("[(pred ?a 1)]", Predicate(FnName(S("pred")), (V("?a"), Const(1)))),
        ("[(pred)]", Predicate(FnName(S("pred")), ())),
        ("[(?custom-pred ?a)]", Predicate(V("?custom-pred"), (V("?a"),))),
        ("[(fn ?a 1) ?x]", Function(FnName(S("fn")), (V("?a"), Const(1)), scalar("?x"))),
        ("[(fn) ?x]", Function(FnName(S("fn")), (), scalar("?x"))),
        ("[(?custom-fn) ?x]", Function(V("?custom-fn"), (), scalar("?x"))),
        ("[(?custom-fn ?arg) ?x]", Function(V("?custom-fn"), (V("?arg"),), scalar("?x"))),
        ("(friends ?x ?y)", RuleCall(DEFAULT, S("friends"), (V("?x"), V("?y")))),
        ('(friends "Ivan" _)', RuleCall(DEFAULT, S("friends"), (Const("Ivan"), Blank()))),
        ("($1 friends ?x ?y)", RuleCall(Src(S("$1")), S("friends"), (V("?x"), V("?y")))),
        ("(friends something)", RuleCall(DEFAULT, S("friends"), (Const(S("something")),))),
    ],
)
def test_clauses(text: str, expected: Any) -> None:
    assert clause(text) == expected


def follows(e: str, x: str, attr: str = ":follows") -> Pattern:
    return Pattern(DEFAULT, (V(e), Const(K(attr)), V(x)))


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "(not [?e :follows ?x])",
            Not(DEFAULT, (S("?e"), S("?x")), (follows("?e", "?x"),), join=False),
        ),
        (
            "(not [?e :follows ?x] [?x _ ?y])",
            Not(
                DEFAULT,
                (S("?e"), S("?x"), S("?y")),
                (follows("?e", "?x"), Pattern(DEFAULT, (V("?x"), Blank(), V("?y")))),
                join=False,
            ),
        ),
        (
            "($1 not [?x])",
            Not(Src(S("$1")), (S("?x"),), (Pattern(DEFAULT, (V("?x"),)),), join=False),
        ),
        (
            "(not-join [?e ?y] [?e :follows ?x] [?x _ ?y])",
            Not(
                DEFAULT,
                (S("?e"), S("?y")),
                (follows("?e", "?x"), Pattern(DEFAULT, (V("?x"), Blank(), V("?y")))),
                join=True,
            ),
        ),
        (
            "($1 not-join [?e] [?e :follows ?x])",
            Not(Src(S("$1")), (S("?e"),), (follows("?e", "?x"),), join=True),
        ),
        (
            "(or [?e :follows ?x])",
            Or(DEFAULT, (), (S("?e"), S("?x")), (follows("?e", "?x"),), join=False),
        ),
        (
            "(or [?e :follows ?x] [?e :friend ?x])",
            Or(
                DEFAULT,
                (),
                (S("?e"), S("?x")),
                (follows("?e", "?x"), follows("?e", "?x", ":friend")),
                join=False,
            ),
        ),
        (
            "(or [?e :follows ?x] (and [?e :friend ?x] [?x :friend ?e]))",
            Or(
                DEFAULT,
                (),
                (S("?e"), S("?x")),
                (
                    follows("?e", "?x"),
                    And((follows("?e", "?x", ":friend"), follows("?x", "?e", ":friend"))),
                ),
                join=False,
            ),
        ),
        (
            "($1 or [?x])",
            Or(Src(S("$1")), (), (S("?x"),), (Pattern(DEFAULT, (V("?x"),)),), join=False),
        ),
        (
            "(or-join [?e] [?e :follows ?x] [?e :friend ?y])",
            Or(
                DEFAULT,
                (),
                (S("?e"),),
                (follows("?e", "?x"), follows("?e", "?y", ":friend")),
                join=True,
            ),
        ),
        (
            "(or-join [[?e]] (and [?e :follows ?x] [?e :friend ?y]))",
            Or(
                DEFAULT,
                (S("?e"),),
                (),
                (And((follows("?e", "?x"), follows("?e", "?y", ":friend"))),),
                join=True,
            ),
        ),
        (
            "($1 or-join [[?e] ?x] [?e :follows ?x])",
            Or(Src(S("$1")), (S("?e"),), (S("?x"),), (follows("?e", "?x"),), join=True),
        ),
    ],
)
def test_not_or_clauses(text: str, expected: Any) -> None:
    assert clause(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("[]", "Pattern could not be empty"),
        ("(friends)", "rule-expr requires at least one argument"),
        ("(not-join [] [?y])", "Join variables should not be empty"),
        ("(not [_])", "Join variables should not be empty"),
        ("(not-join [?x])", "Cannot parse 'not-join' clause"),
        ("(not)", "Cannot parse 'not' clause"),
        ("(or-join [] [?y])", "Cannot parse rule-vars"),
        ("(or [_])", "Join variables should not be empty"),
        ("(or-join [?x])", "Cannot parse 'or-join' clause"),
        ("(or)", "Cannot parse 'or' clause"),
    ],
)
def test_clause_errors(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        clause(text)


def rules(text: str) -> dict[Symbol, Any]:
    return {
        name: [(b.required, b.free, b.clauses) for b in branches]
        for name, branches in parse_rules(loads(text)).items()
    }


def test_rules() -> None:
    x_name = Pattern(DEFAULT, (V("?x"), Const(K(":name")), Blank()))
    blank = (Pattern(DEFAULT, (Blank(),)),)
    assert rules("[[(rule ?x) [?x :name _]]]") == {S("rule"): [((), (S("?x"),), (x_name,))]}
    assert rules("[[(rule [?x] ?y) [_]]]") == {S("rule"): [((S("?x"),), (S("?y"),), blank)]}
    assert rules("[[(rule [?x ?y] ?a ?b) [_]]]") == {
        S("rule"): [((S("?x"), S("?y")), (S("?a"), S("?b")), blank)]
    }
    assert rules("[[(rule [?x]) [_]]]") == {S("rule"): [((S("?x"),), (), blank)]}
    pa, pb, pc = (Pattern(DEFAULT, (Const(K(k)),)) for k in (":a", ":b", ":c"))
    assert rules("[[(rule ?x) [:a] [:b]] [(rule ?x) [:c]]]") == {
        S("rule"): [((), (S("?x"),), (pa, pb)), ((), (S("?x"),), (pc,))]
    }
    assert rules("[[(rule ?x) [:a] [:b]] [(other ?x) [:c]]]") == {
        S("rule"): [((), (S("?x"),), (pa, pb))],
        S("other"): [((), (S("?x"),), (pc,))],
    }


@pytest.mark.parametrize(
    "text, message",
    [
        ("[[(rule) [_]]]", "Cannot parse rule-vars"),
        ("[[(rule []) [_]]]", "Cannot parse rule-vars"),
        ("[[(rule ?x ?y ?x) [_]]]", "Rule variables should be distinct"),
        ("[[(rule [?x ?y] ?z ?x) [_]]]", "Rule variables should be distinct"),
        ("[[(rule ?x)]]", "Rule branch should have clauses"),
        ("[[(rule ?x) [_]] [(rule ?x ?y) [_]]]", "Arity mismatch"),
        ("[[(rule ?x) [_]] [(rule [?x]) [_]]]", "Arity mismatch"),
    ],
)
def test_rule_errors(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_rules(loads(text))


@pytest.mark.parametrize(
    "text, message",
    [
        ("[:find ?e :where [?x]]", "Query for unknown vars: [?e]"),
        ("[:find ?e :with ?f :where [?e]]", "Query for unknown vars: [?f]"),
        ("[:find ?e ?x ?t :in ?x :where [?e]]", "Query for unknown vars: [?t]"),
        (
            "[:find ?x ?e :with ?y ?e :where [?x ?e ?y]]",
            ":find and :with should not use same variables: [?e]",
        ),
        ("[:find ?e :in $ $ ?x :where [?e]]", "Vars used in :in should be distinct"),
        ("[:find ?e :in ?x $ ?x :where [?e]]", "Vars used in :in should be distinct"),
        ("[:find ?e :in $ % ?x % :where [?e]]", "Vars used in :in should be distinct"),
        ("[:find ?n :with ?e ?f ?e :where [?e ?f ?n]]", "Vars used in :with should be distinct"),
        ("[:find ?x :where [$1 ?x]]", "Where uses unknown source vars: [$1]"),
        ("[:find ?x :in $1 :where [$2 ?x]]", "Where uses unknown source vars: [$2]"),
        ("[:find ?e :where (rule ?e)]", "Missing rules var '%' in :in"),
        (
            "[:find ?a ?b :keys x y :strs zt :where [?a ?b]]",
            "Only one of :keys/:syms/:strs must be present",
        ),
        ("[:find ?a ?b :keys x y z :where [?a ?b]]", "Count of :keys must match count of :find"),
        ("[:find ?a ?b :syms x :where [?a ?b]]", "Count of :syms must match count of :find"),
        ("[:find ?a ?b :strs x :where [?a ?b]]", "Count of :strs must match count of :find"),
        ("[:find [?a ?b] :keys x :where [?a ?b]]", "Count of :keys must match count of :find"),
        ("[:find [?a ...] :keys x :where [?a]]", ":keys does not work with collection :find"),
        ("[:find ?a . :keys x y :where [?a]]", ":keys does not work with single-scalar :find"),
        ("[:find ?a :frobnicate :where [?a]]", "Unknown query section :frobnicate"),
        ('"not a query"', "Query should be a vector or a map"),
    ],
)
def test_query_validation(text: str, message: str) -> None:
    with pytest.raises(QueryError) as e:
        parse_query(text)
    assert str(e.value).startswith(message)


def test_return_maps() -> None:
    assert parse_query("[:find ?a ?b :keys x y :where [?a ?b]]").return_map == ReturnMap(
        "keys", (K(":x"), K(":y"))
    )
    assert parse_query("[:find ?a :syms x :where [?a]]").return_map == ReturnMap("syms", (S("x"),))
    assert parse_query("[:find ?a ?b ?c :strs x y z :where [?a ?b ?c]]").return_map == ReturnMap(
        "strs", ("x", "y", "z")
    )
    assert parse_query("[:find [?a ?b] :keys x y :where [?a ?b]]").return_map == ReturnMap(
        "keys", (K(":x"), K(":y"))
    )


def test_default_in() -> None:
    assert parse_query("[:find ?e :where [?e]]").inputs == (BindScalar(Src(S("$"))),)
    assert parse_query("[:find ?e :where [(ground 1) ?e]]").inputs == ()
    assert parse_query("[:find ?e :where [(ground 1) ?e] (not [?e :a])]").inputs == (
        BindScalar(Src(S("$"))),
    )
