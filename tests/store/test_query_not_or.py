"""`not`, `not-join`, `or`, `or-join`, ported from DataScript query_not.cljc and query_or.cljc.

One deliberate difference: clauses are planned, so a `not` runs once the
variables other clauses bind are bound, wherever it is written.  DataScript
rejects `[(not [?e :name "Ivan"]) [?e :name]]` (the `not` comes first); here
it means what it says.  The errors remain for variables nothing binds.
"""

from __future__ import annotations

from typing import Any

import pytest
from jobstreamer.common.store import QueryError
from jobstreamer.common.store.query import q

from tests.store.conftest import db_with, empty_db

PEOPLE = (
    '[{:db/id 1 :name "Ivan" :age 10} {:db/id 2 :name "Ivan" :age 20} {:db/id 3 :name "Oleg" :age 10}'
    ' {:db/id 4 :name "Oleg" :age 20} {:db/id 5 :name "Ivan" :age 10} {:db/id 6 :name "Ivan" :age 20}]'
)


@pytest.fixture(scope="module")
def db() -> Any:
    return db_with(empty_db(), PEOPLE)


@pytest.fixture(scope="module")
def two_dbs() -> tuple[Any, Any]:
    return (
        db_with(empty_db(), '[[:db/add 1 :name "Ivan"] [:db/add 2 :name "Oleg"]]'),
        db_with(empty_db(), "[[:db/add 1 :age 10] [:db/add 2 :age 20]]"),
    )


@pytest.mark.parametrize(
    "where, expected",
    [
        ('[?e :name] (not [?e :name "Ivan"])', {3, 4}),
        ('[?e :name] (not [?e :name "Ivan"] [?e :age 10])', {2, 3, 4, 6}),
        ('[?e :name] (not [?e :name "Ivan"]) (not [?e :age 10])', {4}),
        ("[?e :name] (not [?e :age])", set()),  # full exclude
        ('[?e :name "Ivan"] (not [?e :name "Oleg"])', {1, 2, 5, 6}),  # not-intersecting rels
        (
            '[?e :name] (not [?e :name "Ivan"] [?e :name "Oleg"])',
            {1, 2, 3, 4, 5, 6},
        ),  # exclude empty set
        ('[?e :name] (not [?e :name "Ivan"] (not [?e :age 10]))', {1, 3, 4, 5}),  # nested excludes
        ("[?e :name ?a] (not [?e :age ?f] [?e :age 10])", {2, 4, 6}),  # extra binding in not
        ('(not [?e :name "Ivan"]) [?e :name]', {3, 4}),  # planned: not waits for ?e
        (
            "[?e :name] (not-join [?e] (not [1 :age ?a]) [?e :age ?a])",
            {1, 3, 5},
        ),  # inner not waits for ?a
    ],
)
def test_not(db: Any, where: str, expected: set[int]) -> None:
    assert set(q(f"[:find [?e ...] :where {where}]", db)) == expected


@pytest.mark.parametrize(
    "where, expected",
    [
        (
            '[?e :name] [?e :age ?a] (not-join [?e] [?e :name "Oleg"] [?e :age ?a])',
            {(1, 10), (2, 20), (5, 10), (6, 20)},
        ),
        (
            '[?e :age ?a] [?e :age 10] (not-join [?e] [?e :name "Oleg"] [?e :age ?a] [?e :age 10])',
            {(1, 10), (5, 10)},
        ),
        (  # issue-481
            '[?e :age ?a] (not-join [?a] [?e :name "Petr"] [?e :age ?a])',
            {(1, 10), (2, 20), (3, 10), (4, 20), (5, 10), (6, 20)},
        ),
    ],
)
def test_not_join(db: Any, where: str, expected: set[tuple[int, int]]) -> None:
    assert q(f"[:find ?e ?a :where {where}]", db) == expected


@pytest.mark.parametrize(
    "where, expected",
    [
        ('[?e :name] (not [?e :name "Ivan"])', {2}),  # NOT inherits default source
        ("[?e :name] (not [$2 ?e :age 10])", {2}),  # NOT can reference any source
        ("[?e :name] ($2 not [?e :age 10])", {2}),  # NOT can change default source
        ('[?e :name] ($2 not [$ ?e :name "Ivan"])', {2}),
        ("[?e :name] ($2 not (not [?e :age 10]))", {1}),  # nested NOT keeps the default source
        ('[?e :name] ($2 not ($ not [?e :name "Ivan"]))', {1}),  # can override nested NOT source
    ],
)
def test_not_default_source(two_dbs: tuple[Any, Any], where: str, expected: set[int]) -> None:
    assert set(q(f"[:find [?e ...] :in $ $2 :where {where}]", *two_dbs)) == expected


@pytest.mark.parametrize(
    "query, expected",
    [
        (
            '[:find ?e :where [?e :name "Oleg"] [?e :age 10] (not [?e :age 20])]',
            {(3,)},
        ),  # const \\ empty
        (
            '[:find ?e :where [?e :name "Oleg"] [?e :age 10] (not [?e :age 10])]',
            set(),
        ),  # const \\ const
        ('[:find ?e :where [?e :name "Oleg"] (not [?e :age 10])]', {(4,)}),  # rel \\ const
        (
            '[:find ?e ?e2 :where [?e :name "Ivan"] [?e2 :name "Ivan"] (not [?e :age 10] [?e2 :age 20])]',
            {
                (2, 1),
                (6, 5),
                (1, 1),
                (2, 2),
                (5, 5),
                (6, 6),
                (2, 5),
                (1, 5),
                (2, 6),
                (6, 1),
                (5, 1),
                (6, 2),
            },
        ),
        (
            '[:find ?e ?e2 :where [?e :name "Ivan"] [?e2 :name "Oleg"] (not [?e :age 10] [?e2 :age 20])]',
            {(2, 3), (1, 3), (2, 4), (6, 3), (5, 3), (6, 4)},
        ),
        (
            '[:find ?e ?e2 :where [?e :name "Oleg"] [?e2 :name "Oleg"] (not [?e :age 10] [?e2 :age 20])]',
            {(4, 3), (3, 3), (4, 4)},
        ),
    ],
)
def test_not_edge_cases(db: Any, query: str, expected: set[Any]) -> None:
    assert q(query, db) == expected


@pytest.mark.parametrize(
    "where, message",
    [
        (
            '[?e :name] (not [?a :name "Ivan"])',
            'Insufficient bindings: none of #{?a} is bound in (not [?a :name "Ivan"])',
        ),
        (
            "[?e :name] (not-join [?e] (not [1 :age ?a]) [?e :x ?y])",
            "Insufficient bindings: none of #{?a} is bound in (not [1 :age ?a])",
        ),
        (
            "[?e :name] (not-join [?e ?x] [?e :age ?a])",
            "Insufficient bindings: #{?x} not bound in (not-join [?e ?x] [?e :age ?a])",
        ),
    ],
)
def test_insufficient_bindings(db: Any, where: str, message: str) -> None:
    with pytest.raises(QueryError) as e:
        q(f"[:find ?e :where {where}]", db)
    assert str(e.value) == message


@pytest.mark.parametrize(
    "where, expected",
    [
        ('(or [?e :name "Oleg"] [?e :age 10])', {1, 3, 4, 5}),  # intersecting results
        ('(or [?e :name "Oleg"] [?e :age 30])', {3, 4}),  # one branch empty
        ('(or [?e :name "Petr"] [?e :age 30])', set()),  # both empty
        ('[?e :name "Ivan"] (or [?e :name "Oleg"] [?e :age 10])', {1, 5}),  # join with 1 var
        (  # join with 2 vars
            '[?e :age ?a] (or (and [?e :name "Ivan"] [1 :age ?a]) (and [?e :name "Oleg"] [2 :age ?a]))',
            {1, 5, 4},
        ),
        (  # OR introduces vars
            '(or (and [?e :name "Ivan"] [1 :age ?a]) (and [?e :name "Oleg"] [2 :age ?a])) [?e :age ?a]',
            {1, 5, 4},
        ),
        (  # OR introduces vars in different order
            '(or (and [?e :name "Ivan"] [1 :age ?a]) (and [2 :age ?a] [?e :name "Oleg"])) [?e :age ?a]',
            {1, 5, 4},
        ),
        (  # one branch of or short-circuits resolution
            '(or (and [?e :age 30] [?e :name ?n]) (and [?e :age 20] [?e :name ?n])) [(ground "Ivan") ?n]',
            {2, 6},
        ),
    ],
)
def test_or(db: Any, where: str, expected: set[int]) -> None:
    assert q(f"[:find ?e :where {where}]", db) == {(e,) for e in expected}


@pytest.mark.parametrize(
    "where, expected",
    [
        ("(or-join [?e] [?e :name ?n] (and [?e :age ?a] [?e :name ?n]))", {1, 2, 3, 4, 5, 6}),
        (
            "[?e :name ?a] [?e2 :name ?a] (or-join [?e] (and [?e :age ?a] [?e2 :age ?a]))",
            {1, 2, 3, 4, 5, 6},
        ),
        (
            "(or-join [?e ?n] (and [?e :age 30] [?e :name ?n]) (and [?e :age 20] [?e :name ?n]))"
            ' [(ground "Ivan") ?n]',
            {2, 6},
        ),
    ],
)
def test_or_join(db: Any, where: str, expected: set[int]) -> None:
    assert q(f"[:find ?e :where {where}]", db) == {(e,) for e in expected}


@pytest.mark.parametrize(
    "clause",
    [
        '(or [?e :age ?a] [?e :name "Oleg"])',
        '(or-join [?e ?a] [?e :age ?a] [?e :name "Oleg"])',
        '(or-join [[?a] ?e] [?e :age ?a] [?e :name "Oleg"])',
    ],
)
def test_or_with_bound_input(db: Any, clause: str) -> None:  # issue-348
    assert q(f"[:find ?e :in $ ?a :where {clause}]", db, 10) == {(1,), (3,), (4,), (5,)}


def test_or_join_over_collections() -> None:
    xs = [[":a1", ":b1", ":c1"], [":a2", ":b2", ":c2"], [":a3", ":b3", ":c3"]]
    ys = [[":a1", ":b1", ":d1"], [":a2", ":b2*", ":d2"], [":a4", ":b4", ":c4"]]
    assert q(
        "[:find ?a ?b ?c :in $xs $ys :where [$xs ?a ?b ?c] (or-join [?a] [$ys ?a ?b ?d])]", xs, ys
    ) == {
        (":a1", ":b1", ":c1"),
        (":a2", ":b2", ":c2"),
    }
    assert q(
        "[:find ?a ?c :in $xs $ys :where (or-join [?a ?c] [$xs ?a ?b ?c] [$ys ?a ?c])]",
        [[":a1", ":b1", ":c1"]],
        [[":a2", ":c2"]],
    ) == {(":a1", ":c1"), (":a2", ":c2")}


@pytest.mark.parametrize(
    "where, expected",
    [
        ('[?e :name] (or [?e :name "Ivan"])', {1}),  # OR inherits default source
        ("[?e :name] (or [$2 ?e :age 10])", {1}),  # OR can reference any source
        ("[?e :name] ($2 or [?e :age 10])", {1}),  # OR can change default source
        ('[?e :name] ($2 or [$ ?e :name "Ivan"])', {1}),
        ("[?e :name] ($2 or (or [?e :age 10]))", {1}),  # nested OR keeps the default source
        ('[?e :name] ($2 or ($ or [?e :name "Ivan"]))', {1}),  # can override nested OR source
    ],
)
def test_or_default_source(two_dbs: tuple[Any, Any], where: str, expected: set[int]) -> None:
    assert q(f"[:find ?e :in $ $2 :where {where}]", *two_dbs) == {(e,) for e in expected}


def test_or_const_substitution() -> None:  # issue-468, issue-469
    db = db_with(
        empty_db({"parent": {":db/valueType": ":db.type/ref"}}),
        '[{:db/id "Ivan" :name "Ivan"} {:db/id "Oleg" :name "Oleg" :parent "Ivan"}'
        ' {:db/id "Petr" :name "Petr" :parent "Oleg"}]',
    )
    ivan = q('[:find ?e . :where [?e :name "Ivan"]]', db)
    oleg = q('[:find ?e . :where [?e :name "Oleg"]]', db)
    assert q(
        "[:find ?name ?x ?y :in $ ?name :where [?x :name ?name]"
        " (or-join [?x ?y] (and [?x :parent ?z] [?z :parent ?y]) [?y :parent ?x])]",
        db,
        "Ivan",
    ) == {("Ivan", ivan, oleg)}
    assert (
        q(
            "[:find ?name ?x ?y :in $ ?name :where [?x :name ?name]"
            " (or-join [?x ?y] (and [?x :parent ?z] [?z :parent ?y]) [?x :parent ?y])]",
            db,
            "Ivan",
        )
        == set()
    )


def test_or_errors(db: Any) -> None:
    with pytest.raises(QueryError) as e:
        q("[:find ?e :where (or [?e :name _] [?e :age ?a])]", db)
    assert str(e.value).startswith(
        "All clauses in 'or' must use same set of free vars, had [#{?e} #{"
    )
    assert str(e.value).endswith("}] in (or [?e :name _] [?e :age ?a])")
    with pytest.raises(QueryError) as e:
        q('[:find ?e :where (or-join [[?e]] [?e :name "Ivan"])]', db)
    assert (
        str(e.value)
        == 'Insufficient bindings: #{?e} not bound in (or-join [[?e]] [?e :name "Ivan"])'
    )
    with pytest.raises(QueryError, match="All clauses in 'or' must use same set of free vars"):
        q("[:find ?e ?x :where (or-join [?e ?x] [?e :name ?x] [?e :age 10])]", db)
