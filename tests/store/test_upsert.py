"""Upserts through :db.unique/identity, ported from DataScript's upsert.cljc."""

from __future__ import annotations

import pytest

from jobstreamer.common.edn import K
from jobstreamer.common.store import TX0, UniqueConflict

from .conftest import db_with, empty_db, entity_map, facts

IDENTITY = {":db/unique": ":db.unique/identity"}
MANY = {":db/cardinality": ":db.cardinality/many"}
REF = {":db/valueType": ":db.type/ref"}


def pulled(db, e):
    """Like DataScript's `(d/pull db ['* {:ref [:db/id]}] e)` with refs shown as ids."""
    m = entity_map(db, e) or {}
    return {
        k: v["db/id"] if isinstance(v, dict) else sorted(v) if isinstance(v, set) else v
        for k, v in m.items()
    }


def tempids(report):
    return {k: v for k, v in report.tempids.items() if k != K("db/current-tx")}


@pytest.fixture
def db():
    return db_with(
        empty_db({"name": IDENTITY, "email": IDENTITY, "slugs": {**IDENTITY, **MANY}, "ref": {**IDENTITY, **REF}}),
        [
            {":db/id": 1, "name": "Ivan", "email": "@1"},
            {":db/id": 2, "name": "Petr", "email": "@2", "ref": 3},
            {":db/id": 3, "name": "Dima", "email": "@3", "ref": 4},
            {":db/id": 4, "name": "Olga", "email": "@4", "ref": 1},
        ],
    )


IVAN_35 = {"db/id": 1, "name": "Ivan", "email": "@1", "age": 35}


@pytest.mark.parametrize(
    "tx, expected_tempids",
    [
        ([{"name": "Ivan", "age": 35}], {}),  # no tempid
        ([{"name": "Ivan", "email": "@1", "age": 35}], {}),  # by two attributes
        ([{":db/id": -1, "name": "Ivan", "age": 35}], {-1: 1}),  # with tempid
        ([{":db/id": -1, "name": "Ivan", "email": "@1", "age": 35}], {-1: 1}),
        ([{":db/id": 1, "name": "Ivan", "age": 35}], {}),  # with the existing id
        ([{":db/id": 1, "name": "Ivan", "email": "@1", "age": 35}], {}),
        ([{":db/id": ["name", "Ivan"], "name": "Ivan", "email": "@1", "age": 35}], {}),
    ],
)
def test_upsert(db, tx, expected_tempids):
    report = db.with_tx(tx)
    assert pulled(report.db_after, 1) == IVAN_35
    assert tempids(report) == expected_tempids


def test_upsert_with_string_tempids(db):
    report = db.with_tx(
        [
            {":db/id": "1", "name": "Ivan", "age": 35},
            [":db/add", "2", "name", "Oleg"],
            [":db/add", "2", "email", "@2"],
        ]
    )
    assert pulled(report.db_after, 1) == IVAN_35
    assert pulled(report.db_after, 2) == {"db/id": 2, "name": "Oleg", "email": "@2", "ref": 3}
    assert tempids(report) == {"1": 1, "2": 2}


def test_two_maps_upsert_to_one_entity(db):
    report = db.with_tx([{":db/id": -1, "name": "Ivan", "age": 35}, {":db/id": -1, "name": "Ivan", "age": 36}])
    assert pulled(report.db_after, 1) == {**IVAN_35, "age": 36}
    assert tempids(report) == {-1: 1}
    report = db.with_tx([{":db/id": -1, "name": "Ivan", "age": 35}, {":db/id": -2, "name": "Ivan", "age": 36}])
    assert pulled(report.db_after, 1) == {**IVAN_35, "age": 36}
    assert tempids(report) == {-1: 1, -2: 1}


@pytest.mark.parametrize("eid", [2, 5])
def test_upsert_conflicts_with_explicit_id(db, eid):
    with pytest.raises(
        UniqueConflict,
        match=rf'Conflicting upsert: \[:name "Ivan"\] resolves to 1, but entity already has :db/id {eid}',
    ) as e:
        db.with_tx([{":db/id": eid, "name": "Ivan", "age": 36}])
    assert e.value.status == 409 and e.value.field == ":name"


def test_upsert_by_a_new_value_updates(db):
    report = db.with_tx([{"name": "Ivan", "email": "@5", "age": 35}])
    assert pulled(report.db_after, 1) == {"db/id": 1, "name": "Ivan", "email": "@5", "age": 35}
    assert tempids(report) == {}


def test_upsert_by_two_conflicting_attributes(db):
    with pytest.raises(
        UniqueConflict,
        match=r'Conflicting upserts: \[:name "Ivan"\] resolves to 1, but \[:email "@2"\] resolves to 2',
    ):
        db.with_tx([{"name": "Ivan", "email": "@2", "age": 35}])


@pytest.mark.parametrize(
    "tx, expected_tempids",
    [
        ([{"name": "Igor", "age": 35}, {"name": "Igor", "age": 36}], {}),
        ([{":db/id": -1, "name": "Igor", "age": 35}, {":db/id": -1, "name": "Igor", "age": 36}], {-1: 5}),
        ([{":db/id": -1, "name": "Igor", "age": 35}, {":db/id": -2, "name": "Igor", "age": 36}], {-1: 5, -2: 5}),
    ],
)
def test_upsert_over_the_intermediate_value(db, tx, expected_tempids):
    report = db.with_tx(tx)
    assert pulled(report.db_after, 5) == {"db/id": 5, "name": "Igor", "age": 36}
    assert tempids(report) == expected_tempids


def test_upsert_conflicts_with_current_tx(db):
    with pytest.raises(
        UniqueConflict,
        match=rf'Conflicting upsert: \[:name "Ivan"\] resolves to 1, but entity already has :db/id {db.basis_t + 1}',
    ):
        db.with_tx([{":db/id": K("db/current-tx"), "name": "Ivan", "age": 35}])


def test_upsert_of_unique_card_many_values(db):
    tx = db.with_tx([{"name": "Ivan", "slugs": "ivan1"}, {"name": "Petr", "slugs": "petr1"}])
    tx2 = tx.db_after.with_tx([{"name": "Ivan", "slugs": ["ivan1", "ivan2"]}])
    assert pulled(tx.db_after, 1) == {"db/id": 1, "name": "Ivan", "email": "@1", "slugs": ["ivan1"]}
    assert pulled(tx2.db_after, 1) == {"db/id": 1, "name": "Ivan", "email": "@1", "slugs": ["ivan1", "ivan2"]}
    with pytest.raises(UniqueConflict, match="Conflicting upserts:"):
        tx.db_after.with_tx([{"slugs": ["ivan1", "petr1"]}])


@pytest.mark.parametrize(
    "ref, owner",
    [(3, 2), (4, 3), (1, 4), (["name", "Dima"], 2), (["name", "Olga"], 3), (["name", "Ivan"], 4)],
)
def test_upsert_by_ref_and_lookup_ref(db, ref, owner):
    report = db.with_tx([{"ref": ref, "age": 36}])
    assert pulled(report.db_after, owner)["age"] == 36
    assert report.db_after.max_eid == 4


@pytest.mark.parametrize("a, b", [(-1, -2), ("A", "B")])
def test_tempid_refs_do_not_upsert_issue_464(db, a, b):
    report = db.with_tx([{":db/id": a, "name": "Igor"}, {":db/id": b, "name": "Anna", "ref": a}])
    assert pulled(report.db_after, 5) == {"db/id": 5, "name": "Igor"}
    assert pulled(report.db_after, 6) == {"db/id": 6, "name": "Anna", "ref": 5}


def test_redefining_ids():
    db = db_with(empty_db({"name": IDENTITY}), [{":db/id": -1, "name": "Ivan"}])
    report = db.with_tx([{":db/id": -1, "age": 35}, {":db/id": -1, "name": "Ivan", "age": 36}])
    assert facts(report.db_after) == {(1, "age", 36), (1, "name", "Ivan")}
    assert report.tempids == {-1: 1, K("db/current-tx"): TX0 + 2}

    db = db_with(empty_db({"name": IDENTITY}), [{":db/id": -1, "name": "Ivan"}, {":db/id": -2, "name": "Oleg"}])
    with pytest.raises(UniqueConflict, match="Conflicting upsert: -1 resolves both to 1 and 2"):
        db.with_tx([{":db/id": -1, "name": "Ivan", "age": 35}, {":db/id": -1, "name": "Oleg", "age": 36}])


@pytest.mark.parametrize(
    "order, owner",
    [((-1, -2, -1, -2), 1), ((-1, -2, -2, -1), 2)],
)
def test_retries_keep_the_order_issue_285(order, owner):
    t1, t2, t3, t4 = order
    db = db_with(
        empty_db({"name": IDENTITY}),
        [[":db/add", t1, "age", 42], [":db/add", t2, "likes", "Pizza"], [":db/add", t3, "name", "Bob"], [":db/add", t4, "name", "Bob"]],
    )
    assert entity_map(db, owner) == {"db/id": owner, "name": "Bob", "likes": "Pizza", "age": 42}
    assert len({d.e for d in db.datoms("eavt")}) == 1


@pytest.mark.parametrize(
    "alice",
    [
        {":db/id": "user", "name": "Alice"},
        [":db/add", "user", "name", "Alice"],
        {":db/id": -1, "name": "Alice"},
        [":db/add", -1, "name", "Alice"],
    ],
)
def test_upserted_tempid_used_as_ref_issue_403(alice):
    db = db_with(empty_db({"name": IDENTITY, "ref": REF}), [{"name": "Alice"}])
    user = alice[":db/id"] if isinstance(alice, dict) else alice[1]
    after = db_with(db, [alice, {"age": 36, "ref": user}])
    assert facts(after) == {(1, "name", "Alice"), (2, "age", 36), (2, "ref", 1)}


def test_two_tempids_two_retries_issue_472():
    db = db_with(empty_db({"name": IDENTITY, "ref": REF}), [{"name": "Alice"}, {"name": "Bob"}])
    after = db_with(
        db,
        [
            {":db/id": 3, "ref": "A"},
            {":db/id": 4, "ref": "B"},
            {":db/id": "A", "name": "Alice"},
            {":db/id": "B", "name": "Bob"},
        ],
    )
    assert facts(after) == {(1, "name", "Alice"), (2, "name", "Bob"), (3, "ref", 1), (4, "ref", 2)}


@pytest.mark.parametrize(
    "tx",
    [
        [[":db/add", -1, "name", "Ivan"], [":db/add", -1, "age", 12]],
        [[":db/add", -1, "age", 12], [":db/add", -1, "name", "Ivan"]],
    ],
)
def test_vector_upsert(tx):
    db = db_with(empty_db({"name": IDENTITY}), [{":db/id": -1, "name": "Ivan"}])
    assert facts(db_with(db, tx)) == {(1, "age", 12), (1, "name", "Ivan")}


def test_vector_upsert_conflict():
    db = db_with(empty_db({"name": IDENTITY}), [[":db/add", -1, "name", "Ivan"], [":db/add", -2, "name", "Oleg"]])
    with pytest.raises(UniqueConflict, match="Conflicting upsert: -1 resolves both to 1 and 2"):
        db.with_tx(
            [
                [":db/add", -1, "name", "Ivan"],
                [":db/add", -1, "age", 35],
                [":db/add", -1, "name", "Oleg"],
                [":db/add", -1, "age", 36],
            ]
        )


def test_unique_value_violation_is_a_conflict():
    db = db_with(empty_db({"email": {":db/unique": ":db.unique/value"}}), [{":db/id": 1, "email": "@1"}])
    with pytest.raises(UniqueConflict, match=r'Cannot add \[2 :email "@1"\] because of unique constraint') as e:
        db.with_tx([{":db/id": 2, "email": "@1"}])
    assert e.value.status == 409 and e.value.field == ":email"
    # :db.unique/value never upserts: a map without :db/id is a new entity, hence a conflict.
    with pytest.raises(UniqueConflict):
        db.with_tx([{"email": "@1", "age": 3}])
    # Moving the value within one transaction is fine.
    moved = db_with(db, [[":db/retract", 1, "email", "@1"], [":db/add", 2, "email", "@1"]])
    assert facts(moved) == {(2, "email", "@1")}


def test_identity_value_on_another_entity_is_a_conflict():
    db = db_with(empty_db({"name": IDENTITY}), [{":db/id": 1, "name": "Ivan"}])
    with pytest.raises(UniqueConflict, match=r'Cannot add \[2 :name "Ivan"\]'):
        db.with_tx([[":db/add", 2, "name", "Ivan"]])
