"""Rules, ported from DataScript query_rules.cljc, plus the demand-driven evaluation.

Rules are solved bottom-up (semi-naive) from the inputs a call gives them,
so a bound argument limits the work; the counting tests check that.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jobstreamer.common.edn import K
from jobstreamer.common.store import QueryError
from jobstreamer.common.store.query import q

from tests.store.conftest import db_with, empty_db

from .test_query import Counting

FOLLOW = K(":follow")
GRAPH = [
    [5, FOLLOW, 3],
    [1, FOLLOW, 2],
    [2, FOLLOW, 3],
    [3, FOLLOW, 4],
    [4, FOLLOW, 6],
    [2, FOLLOW, 4],
]
FOLLOW_RULES = (
    "[[(follow ?e1 ?e2) [?e1 :follow ?e2]] [(follow ?e1 ?e2) [?e1 :follow ?t] (follow ?t ?e2)]]"
)


def test_rules() -> None:
    assert q(
        "[:find ?e1 ?e2 :in $ % :where (follow ?e1 ?e2)]",
        GRAPH,
        "[[(follow ?x ?y) [?x :follow ?y]]]",
    ) == {(1, 2), (2, 3), (3, 4), (2, 4), (5, 3), (4, 6)}
    # Joining regular clauses with rule
    assert q(
        "[:find ?y ?x :in $ % :where [_ _ ?x] (rule ?x ?y) [(even? ?x)]]",
        GRAPH,
        "[[(rule ?a ?b) [?a :follow ?b]]]",
    ) == {(3, 2), (6, 4), (4, 2)}
    # Rule context is isolated from outer context
    assert q("[:find ?x :in $ % :where [?e _ _] (rule ?x)]", GRAPH, "[[(rule ?e) [_ ?e _]]]") == {
        (FOLLOW,)
    }
    # Rule with branches
    assert q(
        "[:find ?e2 :in $ ?e1 % :where (follow ?e1 ?e2)]",
        GRAPH,
        1,
        "[[(follow ?e2 ?e1) [?e2 :follow ?e1]] [(follow ?e2 ?e1) [?e2 :follow ?t] [?t :follow ?e1]]]",
    ) == {(2,), (3,), (4,)}


def test_recursive_rules() -> None:
    assert q("[:find ?e2 :in $ ?e1 % :where (follow ?e1 ?e2)]", GRAPH, 1, FOLLOW_RULES) == {
        (2,),
        (3,),
        (4,),
        (6,),
    }
    symmetric = "[[(follow ?e1 ?e2) [?e1 :follow ?e2]] [(follow ?e1 ?e2) (follow ?e2 ?e1)]]"
    assert q(
        "[:find ?e1 ?e2 :in $ % :where (follow ?e1 ?e2)]",
        [[1, FOLLOW, 2], [2, FOLLOW, 3]],
        symmetric,
    ) == {(1, 2), (2, 3), (2, 1), (3, 2)}
    cycle = [[1, FOLLOW, 2], [2, FOLLOW, 3], [3, FOLLOW, 1]]
    assert q("[:find ?e1 ?e2 :in $ % :where (follow ?e1 ?e2)]", cycle, symmetric) == {
        (1, 2),
        (2, 3),
        (3, 1),
        (2, 1),
        (3, 2),
        (1, 3),
    }


def test_mutually_recursive_rules() -> None:
    f1, f2 = K(":f1"), K(":f2")
    data = [[0, f1, 1], [1, f2, 2], [2, f1, 3], [3, f2, 4], [4, f1, 5], [5, f2, 6]]
    rules = (
        "[[(f1 ?e1 ?e2) [?e1 :f1 ?e2]] [(f1 ?e1 ?e2) [?t :f1 ?e2] (f2 ?e1 ?t)]"
        " [(f2 ?e1 ?e2) [?e1 :f2 ?e2]] [(f2 ?e1 ?e2) [?t :f2 ?e2] (f1 ?e1 ?t)]]"
    )
    assert q("[:find ?e1 ?e2 :in $ % :where (f1 ?e1 ?e2)]", data, rules) == {
        (0, 1),
        (0, 3),
        (0, 5),
        (1, 3),
        (1, 5),
        (2, 3),
        (2, 5),
        (3, 5),
        (4, 5),
    }
    assert q("[:find ?e2 :in $ % :where (f1 0 ?e2)]", data, rules) == {(1,), (3,), (5,)}


def test_passing_ins_and_built_ins() -> None:
    match = "[[(match ?pred ?e ?e2) [?e :follow ?e2] [(?pred ?e)] [(?pred ?e2)]]]"
    assert q(
        "[:find ?x ?y :in $ % ?even :where (match ?even ?x ?y)]", GRAPH, match, lambda x: x % 2 == 0
    ) == {(4, 6), (2, 4)}
    builtin = "[[(match ?e ?e2) [?e :follow ?e2] [(even? ?e)] [(even? ?e2)]]]"
    assert q("[:find ?x ?y :in $ % :where (match ?x ?y)]", GRAPH, builtin) == {(4, 6), (2, 4)}
    # Calling rule twice (issue-44)
    rule = "[[(rule ?p ?fn ?x) [?p :attr ?x] [(?fn ?x)]]]"
    attr = K(":attr")
    assert (
        q(
            '[:find ?p :in $ % ?fn :where (rule ?p ?fn "a") (rule ?p ?fn "b")]',
            [[1, attr, "a"]],
            rule,
            lambda x: True,
        )
        == set()
    )


def test_rule_sources() -> None:
    sexes = [
        ["Ivan", K(":male")],
        ["Darya", K(":female")],
        ["Oleg", K(":male")],
        ["Igor", K(":male")],
    ]
    ages = [["Ivan", 15], ["Oleg", 66], ["Darya", 32]]
    rules = "[[(male ?x) [?x :male]] [(adult ?y) [?y ?a] [(>= ?a 18)]]]"
    assert q(
        "[:find ?n :in $sexes $ages % :where ($sexes male ?n) ($ages adult ?n)]", sexes, ages, rules
    ) == {("Oleg",)}


def test_rule_errors() -> None:
    with pytest.raises(QueryError) as e:
        q("[:find ?x :in $ % :where (wat ?x)]", [], [])
    assert str(e.value) == "Unknown rule 'wat in (wat ?x)"
    with pytest.raises(QueryError) as e:
        q("[:find ?e :in $ % :where [?e]]", [], "[[(rule $e1 ?e2) [?e1 :ref ?e2]]]")
    assert str(e.value) == "Cannot parse var, expected symbol starting with ?, got: $e1"
    with pytest.raises(QueryError, match="takes 2 arguments, got 1"):
        q("[:find ?x :in $ % :where (follow ?x)]", GRAPH, FOLLOW_RULES)
    with pytest.raises(QueryError) as e:
        q("[:find ?x :in $ % :where (r ?x ?y)]", GRAPH, "[[(r [?a] ?b) [?a :follow ?b]]]")
    assert str(e.value) == "Insufficient bindings: #{?x} not bound in (r ?x ?y)"
    with pytest.raises(QueryError, match="depends on itself through 'not'"):
        q("[:find ?x :in $ % :where (r ?x)]", GRAPH, "[[(r ?x) [?x :follow _] (not (r ?x))]]")


def test_required_rule_vars() -> None:
    rules = "[[(r [?a] ?b) [?a :follow ?b]]]"
    assert q("[:find ?b :in $ % :where (r 1 ?b)]", GRAPH, rules) == {(2,)}
    assert q("[:find ?b :in $ % ?a :where (r ?a ?b)]", GRAPH, rules, 2) == {(3,), (4,)}


def test_false_arguments() -> None:  # issue-218
    db = db_with(empty_db(), "[[:db/add 1 :attr true] [:db/add 2 :attr false]]")
    rules = "[[(is ?id ?val) [?id :attr ?val]]]"
    assert q("[:find ?id :in $ % :where (is ?id true)]", db, rules) == {(1,)}
    assert q("[:find ?id :in $ % :where (is ?id false)]", db, rules) == {(2,)}


def test_negation_and_disjunction_in_rules() -> None:
    rules = (
        "[[(leaf ?x) [_ :follow ?x] (not [?x :follow _])]"
        " [(hub ?x) (or [?x :follow 3] [?x :follow 4])]"
        " [(reach ?x ?y) [?x :follow ?y]] [(reach ?x ?y) [?x :follow ?t] (reach ?t ?y)]"
        " [(not-reaching-6 ?x) [?x :follow _] (not (reach ?x 6))]]"
    )
    assert q("[:find ?x :in $ % :where (leaf ?x)]", GRAPH, rules) == {(6,)}
    assert q("[:find ?x :in $ % :where (hub ?x)]", GRAPH, rules) == {(5,), (2,), (3,)}
    assert q("[:find ?x :in $ % :where (not-reaching-6 ?x)]", GRAPH, rules) == set()
    more = GRAPH + [[7, FOLLOW, 8]]
    assert q("[:find ?x :in $ % :where (not-reaching-6 ?x)]", more, rules) == {(7,)}


def _chain(n: int) -> Any:
    return db_with(
        empty_db({"parent": {":db/valueType": ":db.type/ref"}}),
        [[K(":db/add"), i, K(":parent"), i + 1] for i in range(1, n)],
    )


ANCESTOR = "[[(anc ?x ?y) [?x :parent ?y]] [(anc ?x ?y) [?x :parent ?z] (anc ?z ?y)]]"


def test_bound_argument_limits_the_work() -> None:
    db = _chain(400)
    counting = Counting(db)
    assert q("[:find (count ?y) . :in $ % ?x :where (anc ?x ?y)]", counting, ANCESTOR, 390) == 10
    # Reads grow with what is reachable from 390 (10 links, 55 ancestor pairs), not with the
    # 399 links of the chain: semi-naive rounds look up each new pair's link once.
    assert counting.read < 150
    counting = Counting(db)
    assert q("[:find (count ?y) . :in $ % :where (anc 1 ?y)]", counting, ANCESTOR) == 399


def test_deep_recursion_is_not_quadratic() -> None:
    db = _chain(2000)
    start = time.perf_counter()
    assert q("[:find (count ?y) . :in $ % :where (anc 1 ?y)]", db, ANCESTOR) == 1999
    assert time.perf_counter() - start < 5  # semi-naive: about linear in the chain's length


@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=25), st.integers(0, 7))
def test_transitive_closure_matches_a_reference(edges: list[tuple[int, int]], start: int) -> None:
    facts = [[a, FOLLOW, b] for a, b in edges]
    closure = set(edges)
    while True:
        more = {(a, d) for a, b in closure for c, d in closure if b == c} - closure
        if not more:
            break
        closure |= more
    assert q("[:find ?x ?y :in $ % :where (follow ?x ?y)]", facts, FOLLOW_RULES) == closure
    assert q("[:find ?y :in $ % ?x :where (follow ?x ?y)]", facts, FOLLOW_RULES, start) == {
        (b,) for a, b in closure if a == start
    }
    left = (
        "[[(follow ?e1 ?e2) [?e1 :follow ?e2]] [(follow ?e1 ?e2) (follow ?e1 ?t) (follow ?t ?e2)]]"
    )
    assert q("[:find ?y :in $ % ?x :where (follow ?x ?y)]", facts, left, start) == {
        (b,) for a, b in closure if a == start
    }


LINEAR = (
    "[[(reach ?x ?y) [?x :follow ?y]]"
    " [(reach ?x ?y) [?x :follow ?t] [(< ?t 6)] (step ?t ?u) (reach ?u ?y)]"
    " [(step ?a ?b) [(identity ?a) ?b]]]"
)
# The same rules, but ?y is also used by a filter in the recursive branch: not
# right-linear any more, so the general semi-naive solver answers it.
GENERAL = LINEAR.replace("(reach ?u ?y)]", "(reach ?u ?y) [(some? ?y)]]")


@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=25), st.integers(0, 7))
def test_linear_shortcut_agrees_with_the_general_solver(
    edges: list[tuple[int, int]], start: int
) -> None:
    facts = [[a, FOLLOW, b] for a, b in edges]
    query = "[:find ?y :in $ % [?x ...] :where (reach ?x ?y)]"
    starts = [start, (start + 3) % 8]
    assert q(query, facts, LINEAR, starts) == q(query, facts, GENERAL, starts)
    pairs = "[:find ?x ?y :in $ % :where (reach ?x ?y)]"  # no inputs: the general path for both
    assert q(pairs, facts, LINEAR) == q(pairs, facts, GENERAL)


def test_rule_performance_on_larger_datasets() -> None:  # issue-456
    statuses = ["started", "pending", "stopped"]
    db = db_with(
        empty_db(),
        [{K(":item/id"): x, K(":item/status"): statuses[x % 3]} for x in range(1, 5000)],
    )
    inline = '[:find ?e :where [?e :item/status ?status] [(ground "pending") ?status]]'
    rule = "[:find ?e :in $ % :where [?e :item/status ?status] (pending? ?status)]"
    rules = '[[(pending? ?status) [(ground "pending") ?status]]]'

    def timed(*args: Any) -> tuple[float, Any]:
        start = time.perf_counter()
        result = q(*args)
        return time.perf_counter() - start, result

    inline_time, inline_result = timed(inline, db)
    rule_time, rule_result = timed(rule, db, rules)
    assert rule_result == inline_result and len(rule_result) == 1667
    assert rule_time <= 10 * inline_time + 0.05
