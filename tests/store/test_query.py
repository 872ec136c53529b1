"""Datalog basics, ported from DataScript test/datascript/test/query.cljc.

Skipped: nothing; `d/filter`-based datom counting (test-constant-substitution)
is replaced by a DbView wrapper that counts the datoms the engine reads.
"""

from __future__ import annotations

from typing import Any

import pytest
from jobstreamer.common.edn import FrozenMap, K, Symbol
from jobstreamer.common.store import QueryError
from jobstreamer.common.store.query import q

from tests.store.conftest import db_with, empty_db

from ._fake import FakeDb


@pytest.fixture(scope="module")
def people() -> Any:
    return db_with(
        empty_db(),
        '[{:db/id 1, :name "Ivan", :age 15} {:db/id 2, :name "Petr", :age 37}'
        ' {:db/id 3, :name "Ivan", :age 37} {:db/id 4, :age 15}]',
    )


def test_joins(people: Any) -> None:
    assert q("[:find ?e :where [?e :name]]", people) == {(1,), (2,), (3,)}
    assert q('[:find ?e ?v :where [?e :name "Ivan"] [?e :age ?v]]', people) == {(1, 15), (3, 37)}
    assert q("[:find ?e1 ?e2 :where [?e1 :name ?n] [?e2 :name ?n]]", people) == {
        (1, 1),
        (2, 2),
        (3, 3),
        (1, 3),
        (3, 1),
    }
    assert q(
        '[:find ?e ?e2 ?n :where [?e :name "Ivan"] [?e :age ?a] [?e2 :age ?a] [?e2 :name ?n]]',
        people,
    ) == {(1, 1, "Ivan"), (3, 3, "Ivan"), (3, 2, "Petr")}


def test_q_many() -> None:
    db = db_with(
        empty_db({"aka": {":db/cardinality": ":db.cardinality/many"}}),
        '[[:db/add 1 :name "Ivan"] [:db/add 1 :aka "ivolga"] [:db/add 1 :aka "pi"]'
        ' [:db/add 2 :name "Petr"] [:db/add 2 :aka "porosenok"] [:db/add 2 :aka "pi"]]',
    )
    assert q(
        "[:find ?n1 ?n2 :where [?e1 :aka ?x] [?e2 :aka ?x] [?e1 :name ?n1] [?e2 :name ?n2]]", db
    ) == {("Ivan", "Ivan"), ("Petr", "Petr"), ("Ivan", "Petr"), ("Petr", "Ivan")}


def test_q_coll() -> None:
    coll = [
        (1, K(":name"), "Ivan"),
        (1, K(":age"), 19),
        (1, K(":aka"), "dragon_killer_94"),
        (1, K(":aka"), "-=autobot=-"),
    ]
    assert q(
        '[:find ?n ?a :where [?e :aka "dragon_killer_94"] [?e :name ?n] [?e :age ?a]]', coll
    ) == {("Ivan", 19)}
    long = [(1, K(":name"), "Ivan", 945, K(":db/add")), (1, K(":age"), 39, 999, K(":db/retract"))]
    assert q("[:find ?e ?v :where [?e :name ?v]]", long) == {(1, "Ivan")}
    assert q("[:find ?e ?a ?v ?t :where [?e ?a ?v ?t :db/retract]]", long) == {
        (1, K(":age"), 39, 999)
    }


def test_q_in(people: Any) -> None:
    query = "{:find [?e] :in [$ ?attr ?value] :where [[?e ?attr ?value]]}"
    assert q(query, people, K(":name"), "Ivan") == {(1,), (3,)}
    assert q(query, people, K(":age"), 37) == {(2,), (3,)}
    # Named DB
    assert q("[:find ?a ?v :in $db ?e :where [$db ?e ?a ?v]]", people, 1) == {
        (K(":name"), "Ivan"),
        (K(":age"), 15),
    }
    # DB join with collection
    emails = [("Ivan", "ivan@mail.ru"), ("Petr", "petr@gmail.com")]
    assert q("[:find ?e ?email :in $ $b :where [?e :name ?n] [$b ?n ?email]]", people, emails) == {
        (1, "ivan@mail.ru"),
        (2, "petr@gmail.com"),
        (3, "ivan@mail.ru"),
    }
    # Query without DB
    assert q("[:find ?a ?b :in ?a ?b]", 10, 20) == {(10, 20)}


@pytest.mark.parametrize(
    "query, extra, message",
    [
        ("[:find ?e :where [(inc 1) ?e]]", 1, "Extra inputs passed, expected: [], got: 1"),
        ("[:find ?e :in $ $2 :where [?e]]", 1, "Too few inputs passed, expected: [$ $2], got: 1"),
        ("[:find ?e :where [?e]]", 2, "Extra inputs passed, expected: [$], got: 2"),
        ("[:find ?e :in $ $2 :where [?e]]", 3, "Extra inputs passed, expected: [$ $2], got: 3"),
    ],
)
def test_q_in_counts(people: Any, query: str, extra: int, message: str) -> None:
    with pytest.raises(QueryError) as e:
        q(query, *[people] * extra)
    assert str(e.value) == message


def test_bindings(people: Any) -> None:
    emails = [("Ivan", "ivan@mail.ru"), ("Petr", "petr@gmail.com")]
    assert q("[:find ?e ?email :in $ [[?n ?email]] :where [?e :name ?n]]", people, emails) == {
        (1, "ivan@mail.ru"),
        (2, "petr@gmail.com"),
        (3, "ivan@mail.ru"),
    }
    assert q(
        "[:find ?e :in $ [?name ?age] :where [?e :name ?name] [?e :age ?age]]", people, ["Ivan", 37]
    ) == {(3,)}
    assert q(
        "[:find ?attr ?value :in $ ?e [?attr ...] :where [?e ?attr ?value]]",
        people,
        1,
        [K(":name"), K(":age")],
    ) == {(K(":name"), "Ivan"), (K(":age"), 15)}
    coll = [(1, K(":name"), "Ivan"), (2, K(":name"), "Petr")]
    assert q("[:find ?id :in $ [?id ...] :where [?id :age _]]", coll, []) == set()
    assert q("[:find ?id :in $ [[?id]] :where [?id :age _]]", coll, []) == set()
    # Placeholders
    assert q("[:find ?x ?z :in [?x _ ?z]]", [K(":x"), K(":y"), K(":z")]) == {(K(":x"), K(":z"))}
    assert q(
        "[:find ?x ?z :in [[?x _ ?z]]]", [[K(":x"), K(":y"), K(":z")], [K(":a"), K(":b"), K(":c")]]
    ) == {(K(":x"), K(":z")), (K(":a"), K(":c"))}


@pytest.mark.parametrize(
    "query, value, message",
    [
        ("[:find ?a ?b :in [?a ?b]]", K(":a"), "Cannot bind value :a to tuple [?a ?b]"),
        ("[:find ?a :in [?a ...]]", K(":a"), "Cannot bind value :a to collection [?a ...]"),
        (
            "[:find ?a ?b :in [?a ?b]]",
            [K(":a")],
            "Not enough elements in a collection [:a] to bind tuple [?a ?b]",
        ),
    ],
)
def test_binding_errors(query: str, value: Any, message: str) -> None:
    with pytest.raises(QueryError) as e:
        q(query, value)
    assert str(e.value) == message


def test_nested_bindings() -> None:
    kv = {K(":a"): 1, K(":b"): 2, K(":c"): 3}
    assert q("[:find ?k ?v :in [[?k ?v] ...] :where [(> ?v 1)]]", kv) == {
        (K(":b"), 2),
        (K(":c"), 3),
    }

    def minmax(xs: Any) -> list[int]:
        return [min(xs), max(xs)]

    data = {K(":a"): [1, 2, 3, 4], K(":b"): [5, 6, 7], K(":c"): [3]}
    assert q(
        "[:find ?k ?min ?max :in [[?k ?v] ...] ?minmax :where [(?minmax ?v) [?min ?max]] [(> ?max ?min)]]",
        data,
        minmax,
    ) == {(K(":a"), 1, 4), (K(":b"), 5, 7)}
    assert q(
        "[:find ?k ?x :in [[?k [?min ?max]] ...] ?range :where [(?range ?min ?max) [?x ...]] [(even? ?x)]]",
        {K(":a"): [1, 7], K(":b"): [2, 4]},
        range,
    ) == {(K(":a"), 2), (K(":a"), 4), (K(":a"), 6), (K(":b"), 2)}


def test_built_in_regex() -> None:
    assert q(
        "[:find ?name :in [?name ...] ?key :where [(re-pattern ?key) ?pattern] [(re-find ?pattern ?name)]]",
        {"abc", "abcX", "aXb"},
        "X",
    ) == {("abcX",), ("aXb",)}


def test_built_in_get() -> None:
    data = {K(":a"): {K(":b"): 1}, K(":c"): {K(":d"): 2}}
    # Maps bound to variables become hashable FrozenMaps (relations are sets).
    assert q(
        "[:find ?m ?m-value :in [[?k ?m] ...] ?m-key :where [(get ?m ?m-key) ?m-value]]",
        data,
        K(":d"),
    ) == {(FrozenMap({K(":d"): 2}), 2)}


def test_join_unrelated() -> None:  # issue-385
    db = db_with(empty_db(), '[{:person/name "Joe"}]')
    query = "[:find ?name :in $ ?my-fn :where [?e :person/name ?name] [(?my-fn) ?result] [(< ?result 3)]]"
    assert q(query, db, lambda: 5) == set()


def test_symbol_comparison() -> None:  # issue-425
    coll = [(1, K(":s"), Symbol("a")), (2, K(":s"), Symbol("b"))]
    assert q("[:find [?e ...] :where [?e :s b]]", coll) == [2]
    db = db_with(empty_db(), "[{:db/id 1, :s a} {:db/id 2, :s b}]")
    assert q("[:find [?e ...] :where [?e :s b]]", db) == [2]


class Counting:
    """A DbView that counts the datoms the engine reads (DataScript's test uses d/filter)."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.schema, self.basis_t, self.is_history = db.schema, db.basis_t, db.is_history
        self.read = 0

    def datoms(self, index: str, *components: Any) -> Any:
        for d in self._db.datoms(index, *components):
            self.read += 1
            yield d

    def entid(self, eid: Any) -> Any:
        return self._db.entid(eid)

    def attr(self, a: Any) -> Any:
        return self._db.attr(a)


def test_constant_substitution() -> None:  # issue-462
    schema = {a: {":db/index": True} for a in ("a", "b", "c")}
    db = db_with(
        empty_db(schema), [[K(":db/add"), e, K(a), f"{e}{a}"] for e in range(1, 11) for a in "abc"]
    )

    def counted(query: str, *inputs: Any) -> tuple[int, Any]:
        view = Counting(db)
        result = q(query, view, *inputs)
        return view.read, result

    assert counted("[:find ?v :where [5 :b ?v]]") == (1, {("5b",)})
    assert counted('[:find ?a :where [5 ?a "5b"]]') == (
        3,
        {(K(":b"),)},
    )  # DataScript 1: no v index over e
    assert counted('[:find ?e :where [?e :b "5b"]]') == (1, {(5,)})
    assert counted("[:find ?e ?a ?v :in $ ?e ?a :where [?e ?a ?v]]", 5, K(":b")) == (
        1,
        {(5, K(":b"), "5b")},
    )
    assert counted(
        "[:find ?e2 ?a ?v :in $ ?a ?v :where [?e ?a ?v] [?e2 ?a ?v]]", K(":b"), "5b"
    ) == (
        2,
        {(5, K(":b"), "5b")},
    )
    assert counted("[:find ?a ?v :in $ ?e :where [?e ?a ?v]]", 5) == (
        3,
        {(K(":a"), "5a"), (K(":b"), "5b"), (K(":c"), "5c")},
    )
    # Without an attribute only a full scan finds a value (DataScript: 1, by its AVET over all attrs).
    assert counted('[:find ?e ?a :where [?e ?a "5b"]]')[1] == {(5, K(":b"))}
    assert counted("[:find ?e ?a :in $ ?v :where [?e ?a ?v]]", "5b")[1] == {(5, K(":b"))}
    assert counted("[:find ?e ?a :in $ [?v ...] :where [?e ?a ?v]]", ["5b"])[1] == {(5, K(":b"))}
    assert counted('[:find ?e ?a :where [(ground "5b") ?v] [?e ?a ?v]]')[1] == {(5, K(":b"))}


def test_fake_db_cross_check(people: Any) -> None:
    """The engine gives the same answers over the naive FakeDb as over the real indexes."""
    fake = FakeDb({}, [(d.e, d.a, d.v) for d in people.datoms("eavt")])
    for query in [
        "[:find ?e ?n :where [?e :name ?n]]",
        '[:find ?e ?e2 ?n :where [?e :name "Ivan"] [?e :age ?a] [?e2 :age ?a] [?e2 :name ?n]]',
        "[:find ?e :where [?e :age 15] (not [?e :name])]",
        "[:find ?a (count ?e) :where [?e :age ?a]]",
        '[:find ?e :where (or [?e :name "Petr"] [?e :age 15])]',
        "[:find ?e ?e2 :where [?e :age ?a] [?e2 :age ?a] [(< ?e ?e2)]]",
    ]:
        assert q(query, fake) == q(query, people), query


def test_attribute_as_string_and_lookup_ref_entity() -> None:
    db = db_with(
        empty_db({"name": {":db/unique": ":db.unique/identity"}}),
        '[{:db/id 1 :name "Ivan" :age 11}]',
    )
    assert q("[:find ?v . :in $ ?a :where [1 ?a ?v]]", db, "age") == 11
    assert q('[:find ?v . :where [[:name "Ivan"] :age ?v]]', db) == 11
    assert q("[:find ?v . :in $ ?e :where [?e :age ?v]]", db, [K(":name"), "Ivan"]) == 11
    with pytest.raises(QueryError, match='Nothing found for entity id \\[:name "Valery"\\]'):
        q('[:find ?v :where [[:name "Valery"] :age ?v]]', db)


def test_data_queries_and_map_form(people: Any) -> None:
    S = Symbol
    query = [
        K(":find"),
        S("?e"),
        K(":in"),
        S("$"),
        S("?n"),
        K(":where"),
        [S("?e"), K(":name"), S("?n")],
    ]
    assert q(query, people, "Petr") == {(2,)}
    assert q(tuple(query), people, "Petr") == {(2,)}
    as_map = {
        K(":find"): [S("?e")],
        K(":in"): [S("$"), S("?n")],
        K(":where"): [[S("?e"), K(":name"), S("?n")]],
    }
    assert q(as_map, people, "Petr") == {(2,)}
    # The parse cache must tell 1 from True (1 == True in Python).
    flags = [(1, K(":f"), True), (2, K(":f"), 1)]
    assert q([K(":find"), S("?e"), K(":where"), [S("?e"), K(":f"), True]], flags) == {(1,)}
    assert q([K(":find"), S("?e"), K(":where"), [S("?e"), K(":f"), 1]], flags) == {(2,)}


def test_history_patterns(make_conn: Any) -> None:
    conn = make_conn()
    conn.transact('[{:db/id 1 :name "Ivan" :age 15}]')
    conn.transact("[[:db/add 1 :age 16]]")
    db = conn.db()
    history = db.history()
    changes = q("[:find ?v ?added :where [1 :age ?v _ ?added]]", history)
    assert changes == {(15, True), (15, False), (16, True)}
    retracted = q("[:find ?v ?tx :where [1 :age ?v ?tx false]]", history)
    assert {v for v, _ in retracted} == {15}
    assert q("[:find ?v :where [1 :age ?v]]", history) == {(15,), (16,)}
    # 4-element patterns bind the transaction on any db.
    assert q("[:find ?tx . :where [1 :age 16 ?tx]]", db) == db.basis_t
    assert q("[:find ?v :where [1 :age ?v _ true]]", db) == {(16,)}


def test_pattern_errors(people: Any) -> None:
    with pytest.raises(QueryError, match="more than 5 elements"):
        q("[:find ?e :where [?e :name ?v ?t true 1]]", people)
    with pytest.raises(QueryError, match="Query for unknown vars"):
        q("[:find ?x :where [?e :name]]", people)
    with pytest.raises(QueryError, match="Query for unbound vars"):
        q("[:find ?x :where [?e :name] (not [?e :age ?x])]", people)


def test_inputs_and_sources(people: Any) -> None:
    assert q("[:find ?x :in _ ?x]", "ignored", 1) == {(1,)}
    with pytest.raises(QueryError, match="Unknown source \\$"):
        q("[:find ?e :in $1 :where [$1 ?e] [?e :name]]", people)
    with pytest.raises(QueryError, match="not a collection of tuples"):
        q("[:find ?e :in $ :where [?e]]", 42)
    # Rules as Python data, and found again in the parse cache the second time.
    rules = [[[Symbol("named"), Symbol("?e")], [Symbol("?e"), K(":name")]]]
    for _ in range(2):
        assert q("[:find ?e :in $ % :where (named ?e)]", people, rules) == {(1,), (2,), (3,)}
