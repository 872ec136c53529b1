"""Find specs, return maps, aggregates and pull in :find.

Ported from DataScript query_find_specs.cljc, query_return_map.cljc,
query_aggregates.cljc and query_pull.cljc.  Skipped: aggregates named by a
Clojure var (`datascript.test.query-aggregates/sort-reverse`), since
resolving arbitrary symbols to code is not something a query from the wire
may do; pass the function as an input and use `(aggregate ?f ?x)` instead.

Python shapes: a relation is a set of tuples (a list when :with keeps
duplicates or pull puts dicts in rows), a return map over a relation is a
list of dicts.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from jobstreamer.common.edn import K, Symbol
from jobstreamer.common.store import QueryError
from jobstreamer.common.store.query import q

from tests.store.conftest import db_with, empty_db


@pytest.fixture(scope="module")
def db() -> Any:
    return db_with(
        empty_db(),
        '[[:db/add 1 :name "Petr"] [:db/add 1 :age 44] [:db/add 2 :name "Ivan"] [:db/add 2 :age 25]'
        ' [:db/add 3 :name "Sergey"] [:db/add 3 :age 11]]',
    )


def test_find_specs(db: Any) -> None:
    assert set(q("[:find [?name ...] :where [_ :name ?name]]", db)) == {"Ivan", "Petr", "Sergey"}
    assert q("[:find [?name ?age] :where [1 :name ?name] [1 :age ?age]]", db) == ("Petr", 44)
    assert q("[:find ?name . :where [1 :name ?name]]", db) == "Petr"
    # Multiple results get cut
    assert q("[:find [?name ?age] :where [?e :name ?name] [?e :age ?age]]", db) in {
        ("Petr", 44),
        ("Ivan", 25),
        ("Sergey", 11),
    }
    assert q("[:find ?name . :where [_ :name ?name]]", db) in {"Ivan", "Petr", "Sergey"}
    # Aggregates work with find specs
    assert q("[:find [(count ?name) ...] :where [_ :name ?name]]", db) == [3]
    assert q("[:find [(count ?name)] :where [_ :name ?name]]", db) == (3,)
    assert q("[:find (count ?name) . :where [_ :name ?name]]", db) == 3
    # No result
    assert q("[:find ?name . :where [4 :name ?name]]", db) is None
    assert q("[:find [?name ?age] :where [4 :name ?name] [4 :age ?age]]", db) is None
    assert q("[:find [?name ...] :where [4 :name ?name]]", db) == []


def test_return_maps(db: Any) -> None:
    where = ":where [?e :name ?name] [?e :age ?age]"
    expected = [("Petr", 44), ("Ivan", 25), ("Sergey", 11)]

    def rows(result: list[dict[Any, Any]], n: Any, a: Any) -> set[tuple[Any, Any]]:
        return {(m[n], m[a]) for m in result}

    assert rows(q(f"[:find ?name ?age :keys n a {where}]", db), K(":n"), K(":a")) == set(expected)
    assert rows(q(f"[:find ?name ?age :syms n a {where}]", db), Symbol("n"), Symbol("a")) == set(
        expected
    )
    assert rows(q(f"[:find ?name ?age :strs n a {where}]", db), "n", "a") == set(expected)
    assert q(
        '[:find [?name ?age] :keys n a :where [?e :name ?name] [(= ?name "Ivan")] [?e :age ?age]]',
        db,
    ) == {
        K(":n"): "Ivan",
        K(":a"): 25,
    }


MONSTERS = [["Cerberus", 3], ["Medusa", 1], ["Cyclops", 1], ["Chimera", 1]]


def test_aggregates_with() -> None:
    assert q("[:find ?heads :with ?monster :in [[?monster ?heads]]]", MONSTERS[1:]) == [
        (1,),
        (1,),
        (1,),
    ]
    # Wrong grouping without :with
    assert q("[:find (sum ?heads) :in [[?monster ?heads]]]", MONSTERS) == {(4,)}
    assert q(
        "[:find (sum ?heads) (min ?heads) (max ?heads) (count ?heads) (count-distinct ?heads)"
        " :with ?monster :in [[?monster ?heads]]]",
        MONSTERS,
    ) == {(6, 1, 3, 4, 2)}


def test_min_max_use_value_order() -> None:
    # Keywords order by namespace, then name: :a/b < :a/c < :a-/b (Clojure compare).
    assert q("[:find (min ?x) (max ?x) :in [?x ...]]", [K(":a-/b"), K(":a/b")]) == {
        (K(":a/b"), K(":a-/b"))
    }
    assert q("[:find (min 2 ?x) (max 2 ?x) :in [?x ...]]", [K(":a/b"), K(":a-/b"), K(":a/c")]) == {
        ((K(":a/b"), K(":a/c")), (K(":a/c"), K(":a-/b")))
    }
    # Mixed types never raise: numbers sort before strings, as on the JVM.
    assert q("[:find (min ?x) (max ?x) :in [?x ...]]", [3, "a", 1.5, None]) == {(None, "a")}


def test_grouping_and_parameters() -> None:
    data = [[K(":red"), x] for x in (1, 2, 3, 4, 5)] + [[K(":blue"), 7], [K(":blue"), 8]]
    assert q(
        "[:find ?color (max ?amount ?x) (min ?amount ?x) :in [[?color ?x]] ?amount]", data, 3
    ) == {
        (K(":red"), (3, 4, 5), (1, 2, 3)),
        (K(":blue"), (7, 8), (7, 8)),
    }


@pytest.mark.parametrize(
    "agg, expected",
    [
        ("avg", 31),
        ("median", 20),
        ("variance", 554),
        ("stddev", 23.53720459187964),
        ("sum", 155),
        ("count", 5),
    ],
)
def test_statistics(agg: str, expected: Any) -> None:
    (result,) = (q(f"[:find ({agg} ?x) . :in [?x ...]]", [10, 15, 20, 35, 75]),)
    assert result == pytest.approx(expected) and type(result) is type(expected)


def test_more_aggregates() -> None:
    assert q("[:find (avg ?x) . :in [?x ...]]", [1, 2]) == 1.5
    assert q("[:find (median ?x) . :in [?x ...]]", [1, 2, 4, 10]) == 3
    assert q(
        "[:find (distinct ?x) . :in [[_ ?x]]]", [[1, K(":a")], [2, K(":b")], [3, K(":a")]]
    ) == frozenset({K(":a"), K(":b")})
    assert q("[:find (rand ?x) . :in [?x ...]]", [7]) == 7
    assert set(q("[:find (sample 2 ?x) . :in [?x ...]]", [1, 2, 3])) <= {1, 2, 3}
    assert math.isclose(q("[:find (stddev ?x) . :in [?x ...]]", [1.0, 3.0]), 1.0)
    # No rows, no groups (DataScript returns no row, not a count of 0).
    assert q("[:find (count ?x) :in [?x ...]]", []) == set()


def test_custom_aggregate() -> None:
    data = [[K(":red"), x] for x in (1, 2, 3, 4, 5)] + [[K(":blue"), 7], [K(":blue"), 8]]

    def sort_reverse(xs: list[int]) -> list[int]:
        return sorted(xs, reverse=True)

    assert q("[:find ?color (aggregate ?agg ?x) :in [[?color ?x]] ?agg]", data, sort_reverse) == {
        (K(":red"), (5, 4, 3, 2, 1)),
        (K(":blue"), (8, 7)),
    }


def test_aggregate_errors() -> None:
    with pytest.raises(QueryError, match="Unknown aggregate function 'frobnicate"):
        q("[:find (frobnicate ?x) :in [?x ...]]", [1])
    with pytest.raises(QueryError, match="Cannot parse custom aggregate call"):
        q("[:find (aggregate ?f) :in ?f]", len)
    with pytest.raises(
        QueryError, match=r'sum failed on \[\["a" 1\]\]|sum failed on \[\[1 "a"\]\]'
    ):
        q("[:find (sum ?x) . :in [?x ...]]", ["a", 1])


@pytest.fixture(scope="module")
def pull_db() -> Any:
    return db_with(
        empty_db(),
        '[{:db/id 1 :name "Petr" :age 44} {:db/id 2 :name "Ivan" :age 25} {:db/id 3 :name "Oleg" :age 11}]',
    )


ADULTS = "[?e :age ?a] [(>= ?a 18)]"


def test_pull_basics(pull_db: Any) -> None:
    name, age, db_id = K(":name"), K(":age"), K(":db/id")
    result = q(f"[:find (pull ?e [:name]) :where {ADULTS}]", pull_db)
    assert sorted(r[0][name] for r in result) == ["Ivan", "Petr"]
    result = q(f"[:find (pull ?e [*]) :where {ADULTS}]", pull_db)
    assert sorted((r[0][db_id], r[0][age], r[0][name]) for r in result) == [
        (1, 44, "Petr"),
        (2, 25, "Ivan"),
    ]
    assert sorted(q(f"[:find ?e ?a (pull ?e [:name]) :where {ADULTS}]", pull_db)) == [
        (1, 44, {name: "Petr"}),
        (2, 25, {name: "Ivan"}),
    ]
    assert sorted(q(f"[:find ?e (pull ?e [:name]) ?a :where {ADULTS}]", pull_db)) == [
        (1, {name: "Petr"}, 44),
        (2, {name: "Ivan"}, 25),
    ]


def test_pull_pattern_from_input(pull_db: Any) -> None:
    name = K(":name")
    result = q(
        f"[:find ?e ?pattern (pull ?e ?pattern) :in $ ?pattern :where {ADULTS}]", pull_db, [name]
    )
    assert sorted(result) == [(1, (name,), {name: "Petr"}), (2, (name,), {name: "Ivan"})]
    assert q("[:find (pull ?e ?p) . :in $ ?p :where [(ground 2) ?e]]", pull_db, [name]) == {
        name: "Ivan"
    }
    assert q("[:find (pull ?e p) . :in $ p :where [(ground 2) ?e]]", pull_db, [name]) == {
        name: "Ivan"
    }


def test_pull_sources_and_specs() -> None:
    name = K(":name")
    db1 = db_with(empty_db(), '[{:db/id 1 :name "Ivan" :age 25}]')
    db2 = db_with(empty_db(), '[{:db/id 1 :name "Petr" :age 25}]')
    query = "[:find ?e (pull {src} ?e [:name]) :in $1 $2 :where [{src} ?e :age 25]]"
    assert q(query.format(src="$1"), db1, db2) == [(1, {name: "Ivan"})]
    assert q(query.format(src="$2"), db1, db2) == [(1, {name: "Petr"})]
    assert q("[:find ?e (pull ?e [:name]) :in $1 $ :where [$ ?e :age 25]]", db1, db2) == [
        (1, {name: "Petr"})
    ]
    assert q("[:find (pull ?e [:name]) . :where [?e :age 25]]", db1) == {name: "Ivan"}
    assert q("[:find [(pull ?e [:name]) ...] :where [?e :age ?a]]", db2) == [{name: "Petr"}]
    assert q("[:find [?e (pull ?e [:name])] :where [?e :age 25]]", db1) == (1, {name: "Ivan"})


def test_pull_needs_a_database_source_and_a_valid_pattern(pull_db: Any) -> None:
    with pytest.raises(QueryError, match=r"pull needs a database, but \$ is a collection"):
        q("[:find (pull ?e [*]) :in $ :where [?e _]]", [(1, 2)])
    # The pattern is parsed once per query, before any row is pulled.
    with pytest.raises(QueryError, match="Expected attr-name"):
        q(f"[:find (pull ?e [42]) :where {ADULTS}]", pull_db)
    with pytest.raises(QueryError, match="pull needs a current or as_of database"):
        q("[:find (pull ?e [*]) :where [?e :name \"Nobody\"]]", pull_db.history())


def test_pull_with_aggregates() -> None:
    name = K(":name")
    db = db_with(
        empty_db({"value": {":db/cardinality": ":db.cardinality/many"}}),
        '[{:db/id 1 :name "Petr" :value [10 20 30 40]} {:db/id 2 :name "Ivan" :value [14 16]}'
        ' {:db/id 3 :name "Oleg" :value 1}]',
    )
    assert sorted(
        q("[:find ?e (pull ?e [:name]) (min ?v) (max ?v) :where [?e :value ?v]]", db)
    ) == [
        (1, {name: "Petr"}, 10, 40),
        (2, {name: "Ivan"}, 14, 16),
        (3, {name: "Oleg"}, 1, 1),
    ]


def test_pull_lookup_refs() -> None:
    name, db_id = K(":name"), K(":db/id")
    db = db_with(
        empty_db({"name": {":db/unique": ":db.unique/identity"}}),
        '[{:db/id 1 :name "Petr" :age 44} {:db/id 2 :name "Ivan" :age 25} {:db/id 3 :name "Oleg" :age 11}]',
    )
    refs = [[name, "Ivan"], [name, "Oleg"], [name, "Petr"]]
    result = q(
        "[:find ?ref ?a (pull ?ref [:db/id :name]) :in $ [?ref ...] :where [?ref :age ?a] [(>= ?a 18)]]",
        db,
        refs,
    )
    assert sorted(result, key=lambda r: r[1]) == [
        ((name, "Ivan"), 25, {db_id: 2, name: "Ivan"}),
        ((name, "Petr"), 44, {db_id: 1, name: "Petr"}),
    ]
