"""Predicates and function calls, ported from DataScript query_fns.cljc.

Skipped: test-symbol-resolution (calling `datascript.test.query-fns/...` by a
namespaced symbol): a query must not name arbitrary code; pass a function as
an input instead.  Extra cases cover each built-in and mixed-type comparison.
"""

from __future__ import annotations

from typing import Any

import pytest
from jobstreamer.common.edn import FrozenMap, K, List, Symbol, Vector
from jobstreamer.common.store import QueryError
from jobstreamer.common.store.query import q

from tests.store.conftest import db_with, empty_db


@pytest.fixture(scope="module")
def db() -> Any:
    return db_with(
        empty_db({"parent": {":db/valueType": ":db.type/ref"}}),
        '[{:db/id 1, :name "Ivan", :age 15} {:db/id 2, :name "Petr", :age 22, :height 240, :parent 1}'
        ' {:db/id 3, :name "Slava", :age 37, :parent 2}]',
    )


def test_predicate_without_free_variables() -> None:
    assert q("[:find ?x :in [?x ...] :where [(> 2 1)]]", [K(":a"), K(":b"), K(":c")]) == {
        (K(":a"),),
        (K(":b"),),
        (K(":c"),),
    }
    assert q("[:find ?x :in [?x ...] :where [(< 2 1)]]", [K(":a")]) == set()


def test_ground_get_else_get_some_missing(db: Any) -> None:
    assert q("[:find ?vowel :where [(ground [:a :e :i :o :u]) [?vowel ...]]]") == {
        (K(f":{v}"),) for v in "aeiou"
    }
    assert q(
        "[:find ?e ?age ?height :where [?e :age ?age] [(get-else $ ?e :height 300) ?height]]", db
    ) == {(1, 15, 300), (2, 22, 240), (3, 37, 300)}
    with pytest.raises(QueryError, match="get-else: nil default value is not supported"):
        q("[:find ?e ?height :where [?e :age] [(get-else $ ?e :height nil) ?height]]", db)
    assert q("[:find ?e ?a ?v :where [?e :name _] [(get-some $ ?e :height :age) [?a ?v]]]", db) == {
        (1, K(":age"), 15),
        (2, K(":height"), 240),
        (3, K(":age"), 37),
    }
    assert q("[:find ?e ?age :in $ :where [?e :age ?age] [(missing? $ ?e :height)]]", db) == {
        (1, 15),
        (3, 37),
    }
    assert q("[:find ?e :in $ :where [?e :age ?age] [(missing? $ ?e :_parent)]]", db) == {(3,)}


def test_comparisons(db: Any) -> None:
    assert q("[:find ?e1 ?e2 :where [?e1 :age ?a1] [?e2 :age ?a2] [(< ?a1 18 ?a2)]]", db) == {
        (1, 2),
        (1, 3),
    }
    assert q("[:find ?a1 :where [_ :age ?a1] [(< ?a1 22)]]", db) == {(15,)}
    assert q("[:find ?a1 :where [_ :age ?a1] [(<= ?a1 22)]]", db) == {(15,), (22,)}
    assert q("[:find ?a1 :where [_ :age ?a1] [(> ?a1 22)]]", db) == {(37,)}
    assert q("[:find ?a1 :where [_ :age ?a1] [(>= ?a1 22)]]", db) == {(22,), (37,)}


def test_compare_values_of_different_types() -> None:
    coll = [[0], [1], [""]]
    assert q("[:find ?e :where [?e] [(< ?e 1)]]", coll) == {(0,)}
    assert q("[:find ?e :where [?e] [(<= ?e 1)]]", coll) == {(0,), (1,)}
    assert q("[:find ?e :where [?e] [(> ?e 1)]]", coll) == {("",)}
    assert q("[:find ?e :where [?e] [(>= ?e 1)]]", coll) == {(1,), ("",)}
    mixed = [[None], [True], [1.5], [K(":k")], [Symbol("s")], [(1, 2)], ["x"]]
    ordered = q("[:find ?a ?b :where [?a] [?b] [(< ?a ?b)]]", mixed)
    assert len(ordered) == len(mixed) * (len(mixed) - 1) // 2  # a strict total order


def test_count_vector_hash_map() -> None:
    assert q("[:find ?x ?c :in [?x ...] :where [(count ?x) ?c]]", ["a", "abc"]) == {
        ("a", 1),
        ("abc", 3),
    }
    assert q(
        "[:find [?tx-data ...] :where [(ground :db/add) ?op] [(vector ?op -1 :attr 12) ?tx-data]]"
    ) == [Vector((K(":db/add"), -1, K(":attr"), 12))]
    assert q(
        '[:find [?tx-data ...] :where [(hash-map :db/id -1 :age 92 :name "Aaron") ?tx-data]]'
    ) == [FrozenMap({K(":db/id"): -1, K(":age"): 92, K(":name"): "Aaron"})]


def test_functions_from_inputs(db: Any) -> None:
    assert q("[:find ?e :in $ ?adult :where [?e :age ?a] [(?adult ?a)]]", db, lambda a: a > 18) == {
        (2,),
        (3,),
    }
    assert q(
        "[:find ?e1 ?e2 ?e3 :where [?e1 :age ?a1] [?e2 :age ?a2] [?e3 :age ?a3] [(+ ?a1 ?a2) ?a12] [(= ?a12 ?a3)]]",
        db,
    ) == {(1, 2, 3), (2, 1, 3)}
    assert q(
        "[:find ?x :in [?in ...] ?f :where [(?f ?in) ?x]]",
        [1, 2, 3, 4],
        lambda x: x if x % 2 == 0 else None,
    ) == {(2,), (4,)}
    with pytest.raises(QueryError, match="is bound to 3, which is not a function"):
        q("[:find ?x :in ?f ?x :where [(?f ?x)]]", 3, 1)


def test_conflicting_bindings(db: Any) -> None:
    assert q("[:find ?n :where [(identity 1) ?n] [(identity 2) ?n]]") == set()
    assert q("[:find ?n ?x :where [(identity [3 4]) [?n ?x]] [(identity [1 2]) [?n ?x]]]") == set()
    rules = "[[(my-vals ?x) [(identity 1) ?x]] [(my-vals ?x) [(identity 2) ?x]] [(my-vals ?x) [(identity 3) ?x]]]"
    assert q("[:find ?n :in $ % :where [(identity 2) ?n] (my-vals ?n)]", db, rules) == {(2,)}
    assert q("[:find ?n :in $ % :where (my-vals ?n) [(identity 2) ?n]]", db, rules) == {(2,)}
    assert q("[:find ?age :where [_ :age ?age] [(identity 100) ?age]]", db) == set()
    assert q("[:find ?age :where [(identity 100) ?age] [_ :age ?age]]", db) == set()


def test_function_on_empty_rel() -> None:
    assert (
        q(
            "[:find ?e ?y :where [?e :salary ?x] [(+ ?x 100) ?y]]",
            [[0, K(":age"), 15], [1, K(":age"), 35]],
        )
        == set()
    )


def test_result_bindings() -> None:
    assert q(
        "[:find ?a ?c :in ?in :where [(ground ?in) [?a _ ?c]]]", [K(":a"), K(":b"), K(":c")]
    ) == {(K(":a"), K(":c"))}
    assert q("[:find ?in :in ?in :where [(ground ?in) _]]", K(":a")) == {(K(":a"),)}
    assert q(
        "[:find ?x ?z :in ?in :where [(ground ?in) [[?x _ ?z]...]]]",
        [[K(":a"), K(":b"), K(":c")], [K(":d"), K(":e"), K(":f")]],
    ) == {(K(":a"), K(":c")), (K(":d"), K(":f"))}
    assert q("[:find ?in :in [?in ...] :where [(ground ?in) _]]", []) == set()
    with pytest.raises(QueryError, match="Not enough elements"):
        q("[:find ?a ?b :where [(ground [1]) [?a ?b]]]")


def test_fn_call_results_unification() -> None:  # issue-490
    pairs = [[1, K(":pair"), (K(":a"), K(":a"))], [2, K(":pair"), (K(":b"), K(":c"))]]
    result = q(
        "[:find ?pair ?x :in $ ?first ?second :where [_ _ ?pair] [(?first ?pair) ?x] [(?second ?pair) ?x]]",
        pairs,
        lambda p: p[0],
        lambda p: p[1],
    )
    assert result == {((K(":a"), K(":a")), K(":a"))}


@pytest.mark.parametrize(
    "where, expected",
    [
        ("[?e :age ?a] [(> ?a 10)]", {(2, 20), (4, 20)}),
        ("[?e :name] [?e2 :name] [(< ?e ?e2)]", {(1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)}),
        (
            "[?e :age ?a] [?e2 :age ?a2] [(< ?e ?e2)]",
            {(1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)},
        ),
        ('[?e :name "Ivan"] [?e2 :name "Oleg"] [(= ?e ?e2)]', set()),
        ('[?e :name "Ivan"] [?e :age 20] [(= ?e 2)]', {(2,)}),
        ('[?e :name "Ivan"] [?e :age 20] [(= ?e 1)]', set()),
    ],
)
def test_predicates(where: str, expected: set[Any]) -> None:
    db = db_with(
        empty_db(),
        '[{:db/id 1 :name "Ivan" :age 10} {:db/id 2 :name "Ivan" :age 20}'
        ' {:db/id 3 :name "Oleg" :age 10} {:db/id 4 :name "Oleg" :age 20}]',
    )
    find = (
        "?e ?a" if "?a " in where and "?a2" not in where else "?e ?e2" if "?e2" in where else "?e"
    )
    assert q(f"[:find {find} :where {where}]", db) == expected


def test_predicate_given_the_db() -> None:
    db = db_with(empty_db(), "[{:db/id 1 :age 10} {:db/id 2 :age 20} {:db/id 3 :age 10}]")

    def pred(db: Any, e: int, a: int) -> bool:
        return a == q("[:find ?a . :in $ ?e :where [?e :age ?a]]", db, e)

    assert q("[:find ?e :in $ ?pred :where [?e :age ?a] [(?pred $ ?e 10)]]", db, pred) == {
        (1,),
        (3,),
    }


@pytest.mark.parametrize(
    "query, message",
    [
        ("[:find ?e :in [?e ...] :where [(fun ?e)]]", "Unknown predicate 'fun in [(fun ?e)]"),
        (
            "[:find ?e ?x :in [?e ...] :where [(fun ?e) ?x]]",
            "Unknown function 'fun in [(fun ?e) ?x]",
        ),
        (
            "[:find ?x :where [(zero? ?x)]]",
            "Insufficient bindings: #{?x} not bound in [(zero? ?x)]",
        ),
        (
            "[:find ?x :where [(inc ?x) ?y]]",
            "Insufficient bindings: #{?x} not bound in [(inc ?x) ?y]",
        ),
        ("[:find ?x :where [?x] [(zero? $2 ?x)]]", "Where uses unknown source vars: [$2]"),
        ("[:find ?x :in $2 :where [$2 ?x] [(zero? $ ?x)]]", "Where uses unknown source vars: [$]"),
        (
            "[:find ?y :in [?x ...] :where [(inc ?x 1) ?y]]",
            "Wrong number of args (2) passed to inc in [(inc ?x 1) ?y]",
        ),
    ],
)
def test_exceptions(query: str, message: str) -> None:
    with pytest.raises(QueryError) as e:
        q(query, *([[1]] if ":in" in query else []))
    assert str(e.value) == message


def test_builtin_failures_are_query_errors() -> None:
    with pytest.raises(QueryError, match=r"/ failed: .*, in \[\(/ 1 \?x\) \?y\]"):
        q("[:find ?y :in ?x :where [(/ 1 ?x) ?y]]", 0)
    with pytest.raises(QueryError, match="inc failed"):
        q('[:find ?y :where [(inc "a") ?y]]')


def test_issue_180() -> None:
    db = db_with(empty_db(), "[[:db/add 1 :age 20]]")
    assert q("[:find ?e ?a :where [_ :pred ?pred] [?e :age ?a] [(?pred ?a)]]", db) == set()


def test_lookup_refs_in_functions() -> None:  # issue-445
    db = db_with(
        empty_db({"name": {":db/unique": ":db.unique/identity"}}),
        '[{:db/id 1 :name "Ivan" :age 15} {:db/id 2 :name "Petr" :age 22 :height 240}]',
    )
    name = K(":name")
    query = '[:find ?height . :in $ ?e :where [(get-else $ ?e :height "Unknown") ?height]]'
    assert q(query, db, [name, "Ivan"]) == "Unknown"
    assert q(
        "[:find ?e ?a ?v :in $ ?e :where [(get-some $ ?e :weight :age :height) [?a ?v]]]",
        db,
        [name, "Petr"],
    ) == {((name, "Petr"), K(":age"), 22)}


CALLS = [
    ("(= 1 1 1)", True),
    ("(= 1 true)", False),
    ("(== 1 1.0)", True),
    ("(not= 1 2)", True),
    ("(!= 1 1)", False),
    ("(+ 1 2 3)", 6),
    ("(- 5)", -5),
    ("(- 5 1 1)", 3),
    ("(* 2 3)", 6),
    ("(/ 8 2)", 4),
    ("(/ 7 2)", 3.5),
    ("(/ 4)", 0.25),
    ("(quot -7 2)", -3),
    ("(rem -7 2)", -1),
    ("(mod -7 2)", 1),
    ("(inc 1)", 2),
    ("(dec 1)", 0),
    ("(max 1 3 2)", 3),
    ("(min 1 3 2)", 1),
    ("(zero? 0)", True),
    ("(pos? -1)", False),
    ("(neg? -1)", True),
    ("(even? 2)", True),
    ("(odd? 2)", False),
    ("(compare 1 2)", -1),
    ('(compare "b" "a")', 1),
    ("(true? true)", True),
    ("(false? nil)", False),
    ("(nil? nil)", True),
    ("(some? 0)", True),
    ("(not 0)", False),
    ("(not nil)", True),
    ("(and 1 2)", 2),
    ("(and 1 nil 2)", None),
    ("(or nil 2)", 2),
    ("(or nil false)", False),
    ("(identical? :a :a)", True),
    ("(identity 4)", 4),
    ('(keyword "a")', K(":a")),
    ('(keyword "ns" "n")', K(":ns/n")),
    ("(meta 1)", None),
    ("(name :ns/n)", "n"),
    ("(namespace :ns/n)", "ns"),
    ("(type 1)", int),
    ("(vector 1 2)", Vector((1, 2))),
    ("(list 1 2)", List((1, 2))),
    ("(set [1 1 2])", frozenset({1, 2})),
    ("(array-map :a 1)", FrozenMap({K(":a"): 1})),
    ("(count [1 2])", 2),
    ("(count nil)", 0),
    ("(range 3)", (0, 1, 2)),
    ("(range 1 6 2)", (1, 3, 5)),
    ("(not-empty [])", None),
    ("(not-empty [1])", Vector((1,))),
    ("(empty? [])", True),
    ("(contains? {:a 1} :a)", True),
    ("(contains? [5] 0)", True),
    ("(contains? #{1} 2)", False),
    ('(str "a" 1 nil :k true)', "a1:ktrue"),
    ('(pr-str "a" 1)', '"a" 1'),
    ('(print-str "a" 1)', "a 1"),
    ('(println-str "a")', "a\n"),
    ("(prn-str 1)", "1\n"),
    ('(subs "hello" 1 3)', "el"),
    ('(subs "hello" 3)', "lo"),
    ("(get {:a 1} :a)", 1),
    ("(get {:a 1} :b 7)", 7),
    ("(get [5 6] 1)", 6),
    ("(get #{3} 3)", 3),
    (r'(re-find "\\d+" "ab12cd")', "12"),
    ('(re-find "(a)(b)" "xab")', Vector(("ab", "a", "b"))),
    (r'(re-matches "\\d+" "12")', "12"),
    (r'(re-matches "\\d+" "12a")', None),
    (r'(re-seq "\\d" "a1b2")', List(("1", "2"))),
    ("(-differ? 1 2 1 3)", True),
    ("(-differ? 1 2 1 2)", False),
    ("(tuple 1 2)", Vector((1, 2))),
    ("(untuple [1 2])", Vector((1, 2))),
    ('(clojure.string/blank? "  ")', True),
    ('(clojure.string/includes? "abc" "b")', True),
    ('(clojure.string/starts-with? "abc" "ab")', True),
    ('(clojure.string/ends-with? "abc" "bc")', True),
]


@pytest.mark.parametrize("call, expected", CALLS)
def test_builtin(call: str, expected: Any) -> None:
    assert q(f"[:find ?r . :where [{call} ?r]]") == expected or (
        expected is None and q(f"[:find ?r :where [{call} ?r]]") == set()
    )


def test_builtin_table_is_the_documented_one() -> None:
    from jobstreamer.common.store.query._builtins import BUILTINS

    names = {
        "=",
        "==",
        "not=",
        "!=",
        "<",
        ">",
        "<=",
        ">=",
        "+",
        "-",
        "*",
        "/",
        "quot",
        "rem",
        "mod",
        "inc",
        "dec",
        "max",
        "min",
        "zero?",
        "pos?",
        "neg?",
        "even?",
        "odd?",
        "compare",
        "rand",
        "rand-int",
        "true?",
        "false?",
        "nil?",
        "some?",
        "not",
        "and",
        "or",
        "complement",
        "identical?",
        "identity",
        "keyword",
        "meta",
        "name",
        "namespace",
        "type",
        "vector",
        "list",
        "set",
        "hash-map",
        "array-map",
        "count",
        "range",
        "not-empty",
        "empty?",
        "contains?",
        "str",
        "pr-str",
        "print-str",
        "println-str",
        "prn-str",
        "subs",
        "get",
        "re-find",
        "re-matches",
        "re-seq",
        "re-pattern",
        "-differ?",
        "get-else",
        "get-some",
        "missing?",
        "ground",
        "tuple",
        "untuple",
        "clojure.string/blank?",
        "clojure.string/includes?",
        "clojure.string/starts-with?",
        "clojure.string/ends-with?",
    }
    assert {s.full for s in BUILTINS} == names


def test_rand_and_complement() -> None:
    assert 0 <= q("[:find ?r . :where [(rand) ?r]]") < 1
    assert q("[:find ?r . :where [(rand-int 3) ?r]]") in {0, 1, 2}
    even = lambda x: x % 2 == 0  # noqa: E731
    assert q(
        "[:find ?x :in [?x ...] ?even :where [(complement ?even) ?odd] [(?odd ?x)]]",
        [1, 2, 3],
        even,
    ) == {(1,), (3,)}
