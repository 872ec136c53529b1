"""Transactions, ported from DataScript's test/datascript/test/transact.cljc.

Left out: `:db.fn/call` and installed transaction functions (Python callables
cannot travel as EDN), datoms carrying their own tx, tuple attributes.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, strategies as st

from jobstreamer.common.edn import FrozenMap, K, Vector
from jobstreamer.common.store import TX0, CasFailed, Datom, TransactionError

from .conftest import db_with, empty_db, entity_map, facts

MANY = {":db/cardinality": ":db.cardinality/many"}
REF = {":db/valueType": ":db.type/ref"}
IDENTITY = {":db/unique": ":db.unique/identity"}


def chain(db, *txs):
    for tx in txs:
        db = db_with(db, tx)
    return db


def values_of(db, e, a):
    return {d.v for d in db.datoms("eavt", e, a)}


def test_with_replaces_card_one_and_accumulates_card_many():
    db = chain(
        empty_db({"aka": MANY}),
        [[":db/add", 1, "name", "Ivan"]],
        [[":db/add", 1, "name", "Petr"]],
        [[":db/add", 1, "aka", "Devil"]],
        [[":db/add", 1, "aka", "Tupen"]],
    )
    assert values_of(db, 1, "name") == {"Petr"}
    assert values_of(db, 1, "aka") == {"Devil", "Tupen"}

    retracted = chain(db, [[":db/retract", 1, "name", "Petr"]], [[":db/retract", 1, "aka", "Devil"]])
    assert values_of(retracted, 1, "name") == set()
    assert values_of(retracted, 1, "aka") == {"Tupen"}
    assert entity_map(retracted, 1) == {"db/id": 1, "aka": {"Tupen"}}

    # Cannot retract what's not there.
    assert values_of(db_with(db, [[":db/retract", 1, "name", "Ivan"]]), 1, "name") == {"Petr"}


def test_nils_in_tx_data_are_skipped():
    db = db_with(empty_db(), [[":db/add", 1, "attr", 2], None, [":db/add", 3, "attr", 4]])
    assert [(d.e, d.a, d.v) for d in db.datoms("eavt")] == [(1, K("attr"), 2), (3, K("attr"), 4)]


def test_datoms_in_tx_data_assert_and_retract():
    db = db_with(
        empty_db(),
        [Datom(1, K("name"), "Oleg", 0), Datom(1, K("age"), 17, 0), Datom(1, K("name"), "Oleg", 0, False)],
    )
    assert facts(db) == {(1, "age", 17)}


@pytest.fixture
def friends_db():
    return db_with(
        empty_db({"aka": MANY, "friend": REF}),
        [
            {":db/id": 1, "name": "Ivan", "age": 15, "aka": ["X", "Y", "Z"], "friend": 2},
            {":db/id": 2, "name": "Petr", "age": 37},
        ],
    )


@pytest.mark.parametrize("op", [":db.fn/retractEntity", ":db/retractEntity"])
def test_retract_entity(friends_db, op):
    db = db_with(friends_db, [[op, 1]])
    assert list(db.datoms("eavt", 1)) == []
    assert facts(db) == {(2, "name", "Petr"), (2, "age", 37)}


def test_retract_entity_removes_incoming_refs(friends_db):
    assert values_of(friends_db, 1, "friend") == {2}
    db = db_with(friends_db, [[":db.fn/retractEntity", 2]])
    assert values_of(db, 1, "friend") == set()
    assert list(db.datoms("vaet", 2)) == []


def test_retract_attribute(friends_db):
    db = db_with(friends_db, [[":db.fn/retractAttribute", 1, "name"]])
    assert {(d.a.full, d.v) for d in db.datoms("eavt", 1)} == {
        ("age", 15), ("aka", "X"), ("aka", "Y"), ("aka", "Z"), ("friend", 2)
    }
    db = db_with(friends_db, [[":db.fn/retractAttribute", 1, "aka"]])
    assert {(d.a.full, d.v) for d in db.datoms("eavt", 1)} == {("name", "Ivan"), ("age", 15), ("friend", 2)}
    assert facts(db) >= {(2, "name", "Petr"), (2, "age", 37)}


def test_retract_without_value_issue_339():
    db = db_with(
        empty_db({"aka": MANY, "friend": REF}),
        [
            {":db/id": 1, "name": "Ivan", "age": 15, "aka": ["X", "Y", "Z"], "friend": 2},
            {":db/id": 2, "name": "Petr", "age": 37, "employed?": True, "married?": False},
        ],
    )
    after = db_with(
        db,
        [
            [":db/retract", 1, "name"],
            [":db/retract", 1, "aka"],
            [":db/retract", 2, "employed?"],
            [":db/retract", 2, "married?"],
        ],
    )
    assert facts(after) == {(1, "age", 15), (1, "friend", 2), (2, "name", "Petr"), (2, "age", 37)}
    # A retraction names a value: `false` is not `true`.
    after = db_with(db, [[":db/retract", 2, "employed?", False]])
    assert [(d.e, d.a.full, d.v) for d in after.datoms("eavt", 2, "employed?")] == [(2, "employed?", True)]


@pytest.fixture
def ivan_db():
    return db_with(empty_db({"name": IDENTITY}), [[":db/add", 1, "name", "Ivan"]])


def retract_ops(e, name):
    """Every way to retract entity `e` (named `name`) or its :name."""
    return [
        [":db/retract", e, "name", name],
        [":db.fn/retractAttribute", e, "name"],
        [":db.fn/retractEntity", e],
        [":db/retractEntity", e],
        [":db/retract", ["name", name], "name", name],
        [":db.fn/retractAttribute", ["name", name], "name"],
        [":db.fn/retractEntity", ["name", name]],
    ]


@pytest.mark.parametrize("op", retract_ops(2, "Petr"))
def test_retracting_what_is_absent_changes_nothing(ivan_db, op):
    report = ivan_db.with_tx([op])
    assert report.tx_data == []
    assert facts(report.db_after) == {(1, "name", "Ivan")}


@pytest.mark.parametrize("op", retract_ops(1, "Ivan"))
def test_retractions_are_idempotent(ivan_db, op):
    once = ivan_db.with_tx([op])
    twice = ivan_db.with_tx([op, op])
    assert facts(once.db_after) == facts(twice.db_after) == set()
    assert len(twice.tx_data) == 1 and not twice.tx_data[0].added


def test_transact_on_conn(make_conn):
    conn = make_conn({"aka": MANY})
    conn.transact([[":db/add", 1, "name", "Ivan"]])
    conn.transact([[":db/add", 1, "name", "Petr"]])
    conn.transact([[":db/add", 1, "aka", "Devil"]])
    conn.transact([[":db/add", 1, "aka", "Tupen"]])
    assert values_of(conn.db(), 1, "name") == {"Petr"}
    assert values_of(conn.db(), 1, "aka") == {"Devil", "Tupen"}


def test_cas_card_one(make_conn):
    conn = make_conn()
    conn.transact([[":db/add", 1, "weight", 200]])
    conn.transact([[":db.fn/cas", 1, "weight", 200, 300]])
    assert values_of(conn.db(), 1, "weight") == {300}
    conn.transact([[":db/cas", 1, "weight", 300, 400]])
    assert values_of(conn.db(), 1, "weight") == {400}
    with pytest.raises(CasFailed, match=r":db/cas failed on datom \[1 :weight 400\], expected 200") as e:
        conn.transact([[":db.fn/cas", 1, "weight", 200, 210]])
    assert e.value.status == 409 and e.value.field == ":weight"
    assert values_of(conn.db(), 1, "weight") == {400}


def test_cas_card_many(make_conn):
    conn = make_conn({"label": MANY})
    conn.transact([[":db/add", 1, "label", K("x")]])
    conn.transact([[":db/add", 1, "label", K("y")]])
    conn.transact([[":db.fn/cas", 1, "label", K("y"), K("z")]])
    assert values_of(conn.db(), 1, "label") == {K("x"), K("y"), K("z")}
    with pytest.raises(CasFailed, match=r"\[1 :label \(:x :y :z\)\], expected :s"):
        conn.transact([[":db.fn/cas", 1, "label", K("s"), K("t")]])


def test_cas_nil_means_absent(make_conn):
    conn = make_conn()
    conn.transact([[":db/add", 1, "name", "Ivan"]])
    conn.transact([[":db.fn/cas", 1, "age", None, 42]])
    assert values_of(conn.db(), 1, "age") == {42}
    with pytest.raises(CasFailed, match=r"\[1 :age 42\], expected nil"):
        conn.transact([[":db.fn/cas", 1, "age", None, 4711]])


def test_cas_rejects_tempids(make_conn):
    conn = make_conn()
    with pytest.raises(TransactionError, match=r"Can't use tempid in '\[:db/cas -1 :attr nil :val\]'"):
        conn.transact([[":db/add", -1, "name", "Ivan"], [":db/cas", -1, "attr", None, K("val")]])
    assert facts(conn.db()) == set()


def test_resolve_tempids():
    db = empty_db({"name": IDENTITY, "aka": {**IDENTITY, **MANY}, "ref": REF})
    report = db.with_tx(
        [
            [":db/add", -1, "name", "Ivan"],
            [":db/add", -1, "age", 19],
            [":db/add", -2, "name", "Petr"],
            [":db/add", -2, "age", 22],
            [":db/add", "Serg", "name", "Sergey"],
            [":db/add", "Serg", "age", 30],
        ]
    )
    assert report.tempids == {-1: 1, -2: 2, "Serg": 3, K("db/current-tx"): TX0 + 1}
    assert report.tx == TX0 + 1
    assert facts(report.db_after) == {
        (1, "name", "Ivan"), (1, "age", 19), (2, "name", "Petr"),
        (2, "age", 22), (3, "name", "Sergey"), (3, "age", 30),
    }
    assert facts(db_with(db, [[":db/add", -1, "name", "Ivan"], [":db/add", -2, "ref", -1]])) == {
        (1, "name", "Ivan"), (2, "ref", 1)
    }


def test_tempid_upserts_over_earlier_transaction_issue_363():
    db = empty_db({"name": IDENTITY, "aka": {**IDENTITY, **MANY}, "ref": REF})
    after = chain(db, [[":db/add", -1, "name", "Ivan"]], [[":db/add", -1, "name", "Ivan"], [":db/add", -2, "ref", -1]])
    assert facts(after) == {(1, "name", "Ivan"), (2, "ref", 1)}
    after = chain(db, [[":db/add", -1, "aka", "Batman"]], [[":db/add", -1, "aka", "Batman"], [":db/add", -2, "ref", -1]])
    assert facts(after) == {(1, "aka", "Batman"), (2, "ref", 1)}


def test_tempid_ref_to_identity_ref_issue_295():
    db = db_with(
        empty_db({"ref": {**IDENTITY, **REF}}),
        [[":db/add", -1, "name", "Ivan"], [":db/add", -2, "name", "Petr"], [":db/add", -1, "ref", -2]],
    )
    assert facts(db) == {(1, "name", "Ivan"), (1, "ref", 2), (2, "name", "Petr")}


def test_resolve_tempids_in_refs(make_conn):
    conn = make_conn({"friend": {**REF, **MANY}})
    report = conn.transact(
        [
            {"name": "Sergey", "friend": [-1, -2]},
            [":db/add", -1, "name", "Ivan"],
            [":db/add", -2, "name", "Petr"],
            [":db/add", "B", "name", "Boris"],
            [":db/add", "B", "friend", -3],
            [":db/add", -3, "name", "Oleg"],
            [":db/add", -3, "friend", "B"],
        ]
    )
    assert report.tempids == {-1: 2, -2: 3, "B": 4, -3: 5, K("db/current-tx"): TX0 + 1}
    db = conn.db()

    def friend_names(name):
        e = _by_name(db, name)
        return {values_of(db, f, "name").pop() for f in values_of(db, e, "friend")}

    assert friend_names("Sergey") == {"Ivan", "Petr"}
    assert friend_names("Boris") == {"Oleg"}
    assert friend_names("Oleg") == {"Boris"}


def _by_name(db, name):
    (e,) = [d.e for d in db.datoms("aevt", "name") if d.v == name]
    return e


@pytest.mark.parametrize(
    "tx, tempid",
    [
        ([[":db/add", -1, "friend", -2]], "-2"),
        ([{":db/id": -1, "friend": -2}], "-2"),
        ([{":db/id": -1}, [":db/add", -2, "friend", -1]], "-1"),
        ([{":db/id": -1, "multi": []}, [":db/add", -2, "friend", -1]], "-1"),
    ],
)
def test_tempid_used_only_as_value_is_an_error_issue_304(tx, tempid):
    db = empty_db({"friend": REF, "comp": {**REF, ":db/isComponent": True}, "multi": MANY})
    with pytest.raises(TransactionError, match=rf"Tempids used only as value in transaction: \({tempid}\)"):
        db.with_tx(tx)


@pytest.mark.parametrize("token", [K("db/current-tx"), ":db/current-tx", "datomic.tx", "datascript.tx"])
def test_current_tx_names_the_transaction_entity(make_conn, token):
    conn = make_conn({"created-at": REF})
    tx1 = conn.transact(
        [
            {"name": "X", "created-at": token},
            {":db/id": token, "prop1": "prop1"},
            [":db/add", token, "prop2", "prop2"],
            [":db/add", -1, "name", "Y"],
            [":db/add", -1, "created-at", token],
        ]
    )
    t1 = TX0 + 1
    assert facts(conn.db()) == {
        (1, "name", "X"), (1, "created-at", t1), (t1, "prop1", "prop1"),
        (t1, "prop2", "prop2"), (2, "name", "Y"), (2, "created-at", t1),
    }
    assert tx1.tempids == {-1: 2, K("db/current-tx"): t1, token: t1}

    tx2 = conn.transact([[":db/add", token, "prop3", "prop3"]])
    assert tx2.tempids[token] == tx2.tx == TX0 + 2
    assert entity_map(conn.db(), tx2.tx) == {"db/id": tx2.tx, "prop3": "prop3"}

    tx3 = conn.transact([{":db/id": token, "prop4": "prop4"}])
    assert tx3.tempids[token] == TX0 + 3
    assert entity_map(conn.db(), TX0 + 3) == {"db/id": TX0 + 3, "prop4": "prop4"}


def test_retract_entities_next_to_each_other_issue_294():
    db = empty_db()
    for e in range(1, 10):
        db = db_with(db, [{":db/id": e, "a1": 1, "a2": 2, "a3": 3}])
    report = db.with_tx([[":db.fn/retractEntity", 1], [":db.fn/retractEntity", 2]])
    tx = report.tx
    assert report.tx_data == [
        Datom(e, K(a), v, tx, False) for e in (1, 2) for a, v in (("a1", 1), ("a2", 2), ("a3", 3))
    ]


@pytest.mark.parametrize(
    "tx",
    [
        [[":db/add", 285873023227265, "name", "Valerii"]],
        [{":db/id": 285873023227265, "name": "Valerii"}],
        [{":db/id": 1, "ref": 285873023227265}],
    ],
)
def test_too_large_entity_ids_issue_292(tx):
    with pytest.raises(TransactionError, match="Highest supported entity id is 2147483647, got 285873023227265"):
        empty_db({"ref": REF}).with_tx(tx)


def test_unhashable_values_issue_356():
    db = empty_db({"multi": MANY, "index": {":db/index": True}})
    single = chain(
        db,
        [[":db/add", 1, "single", {K("map"): 1}]],
        [[":db/retract", 1, "single", {K("map"): 1}]],
        [[":db/add", 1, "single", {K("map"): 2}]],
        [[":db/add", 1, "single", {K("map"): 3}]],
    )
    assert facts(single) == {(1, "single", FrozenMap({K("map"): 3}))}
    assert [d.v for d in single.datoms("eavt", 1, "single", {K("map"): 3})] == [{K("map"): 3}]
    assert [d.v for d in single.datoms("aevt", "single", 1, {K("map"): 3})] == [{K("map"): 3}]

    multi = chain(
        db,
        [[":db/add", 1, "multi", {K("map"): 1}]],
        [[":db/add", 1, "multi", {K("map"): 1}]],
        [[":db/add", 1, "multi", {K("map"): 2}]],
    )
    assert facts(multi) == {(1, "multi", FrozenMap({K("map"): 1})), (1, "multi", FrozenMap({K("map"): 2}))}
    assert [d.v for d in multi.datoms("eavt", 1, "multi", {K("map"): 2})] == [{K("map"): 2}]

    indexed = chain(
        db,
        [[":db/add", 1, "index", {K("map"): 1}]],
        [[":db/add", 1, "index", {K("map"): 2}]],
        [[":db/add", 1, "index", {K("map"): 3}]],
    )
    assert facts(indexed) == {(1, "index", FrozenMap({K("map"): 3}))}
    assert [d.e for d in indexed.datoms("avet", "index", {K("map"): 3}, 1)] == [1]
    assert list(indexed.datoms("avet", "index", {K("map"): 1})) == []


def test_retract_compares_numbers_by_value_issue_404():
    db = db_with(empty_db(), [{"num": 42.5}])
    assert facts(db_with(db, [[":db/retract", 1, "num", 42]])) == {(1, "num", 42.5)}


def test_true_is_not_one():
    db = db_with(empty_db(), [[":db/add", 1, "flag", 1]])
    report = db.with_tx([[":db/add", 1, "flag", True]])
    assert [(d.v, d.added) for d in report.tx_data] == [(1, False), (True, True)]


def test_mixed_type_identity_values_issue_386(make_conn):
    conn = make_conn({"block/uid": IDENTITY})
    for uid in ["2LB4tlJGy", "2ON453J0Z", "2KqLLNbPg", "dTR20ficj", "tya6s422-", 45619]:
        conn.transact([{"block/uid": uid}])
    db = conn.db()
    for d in db.datoms("eavt"):
        assert db.entid([d.a, d.v]) == d.e


def test_list_values_are_stored_as_vectors():
    db = db_with(empty_db(), [{":db/id": 1, "path": [1, 2]}, {":db/id": 2, "path": (1, 2, 3)}])
    assert {d.v for d in db.datoms("aevt", "path")} == {Vector((1, 2)), (1, 2, 3)}


def test_entity_maps_nest_and_link_back():
    db = empty_db({"profile": REF, "friends": {**REF, **MANY}, "name": IDENTITY})
    report = db.with_tx(
        [{"name": "Ivan", "profile": {"email": "@1"}, "friends": [{"name": "Petr"}, {"name": "Oleg"}]}]
    )
    db = report.db_after
    assert entity_map(db, ["name", "Ivan"]) == {
        "db/id": 1, "name": "Ivan", "profile": {"db/id": 2}, "friends": [{"db/id": 3}, {"db/id": 4}]
    }
    assert entity_map(db, 2) == {"db/id": 2, "email": "@1"}
    # Auto tempids of maps without :db/id never show in tempids.
    assert report.tempids == {K("db/current-tx"): report.tx}


def test_reverse_attributes_in_maps():
    db = empty_db({"friend": REF, "name": IDENTITY})
    db = db_with(db, [{"name": "Ivan"}, {"name": "Petr", "_friend": [["name", "Ivan"]]}])
    assert values_of(db, 1, "friend") == {2}
    db = db_with(db, [{"name": "Oleg", "_friend": {"name": "Boris"}}])
    boris = db.entid(["name", "Boris"])
    assert values_of(db, boris, "friend") == {db.entid(["name", "Oleg"])}


def test_reverse_attribute_needs_a_ref():
    with pytest.raises(TransactionError, match="Bad attribute :_friend: reverse attribute name requires") as e:
        empty_db().with_tx([{"name": "Ivan", "_friend": 1}])
    assert e.value.field == ":_friend"


def test_redundant_add_produces_no_datom():
    db = db_with(empty_db({"tags": MANY}), [{":db/id": 1, "name": "Ivan", "tags": ["a"]}])
    report = db.with_tx([{":db/id": 1, "name": "Ivan", "tags": ["a", "b"]}])
    assert [(d.a.full, d.v) for d in report.tx_data] == [("tags", "b")]


def test_card_one_replacement_reports_retraction_then_assertion():
    db = db_with(empty_db(), [[":db/add", 1, "name", "Ivan"]])
    report = db.with_tx([[":db/add", 1, "name", "Petr"]])
    assert report.tx_data == [
        Datom(1, K("name"), "Ivan", report.tx, False),
        Datom(1, K("name"), "Petr", report.tx, True),
    ]


def test_report_fields():
    db = empty_db()
    report = db.with_tx([{"name": "Ivan"}])
    assert report.db_before is db
    assert report.db_after.basis_t == report.tx == TX0 + 1
    assert report.tx_instant.tzinfo is timezone.utc
    assert abs((datetime.now(timezone.utc) - report.tx_instant).total_seconds()) < 60
    assert report.db_after.max_eid == 1


@pytest.mark.parametrize(
    "tx, message, field",
    [
        ([[":db/frobnicate", 1, "a", 1]], r"Unknown operation at \[:db/frobnicate 1 :a 1\]", "op"),
        ([[":db/add", 1, "name", None]], r"Cannot store nil as a value at \[:db/add 1 :name nil\]", ":name"),
        ([{"name": None}], "Cannot store nil as a value", ":name"),
        ([[":db/add", 1, "x", float("nan")]], r"Cannot store NaN as a value at \[:db/add 1 :x nan\]", ":x"),
        ([[":db/add", 1, "name"]], r"Bad operation \[:db/add 1 :name\], expected \[:db/add e a v\]", ":db/add"),
        ([[":db/add", 1, 42, "x"]], "Bad attribute 42, expected keyword or string", "42"),
        ([{42: "x"}], "Bad entity attribute 42 at", "42"),
        ([[":db/add", ["name", "Nobody"], "age", 1]], r'Nothing found for entity id \[:name "Nobody"\]', ":db/id"),
        ([[":db/add", 1.5, "age", 1]], "Expected number, ident or lookup ref for entity id, got 1.5", ":db/id"),
        ([{":db/id": 1.5, "age": 1}], "Expected number, string or lookup ref for :db/id, got 1.5", ":db/id"),
        ([[":db/add", ["age", 1], "age", 1]], r"Lookup ref attribute should be marked as :db/unique: \[:age 1\]", ":age"),
        ([[":db/add", ["name"], "age", 1]], r"Lookup ref should contain 2 elements: \[:name\]", ":db/id"),
        ([42], "Bad entity type at 42, expected map or vector", "tx-data"),
    ],
)
def test_bad_shapes_raise_clear_errors(tx, message, field):
    db = empty_db({"name": IDENTITY})
    with pytest.raises(TransactionError, match=message) as e:
        db.with_tx(tx)
    assert e.value.field == field
    assert e.value.status == 400


def test_tx_data_must_be_a_list():
    with pytest.raises(TransactionError, match="expected a list of maps and ops"):
        empty_db().with_tx({"name": "Ivan"})


def test_edn_text_is_accepted(make_conn):
    conn = make_conn({"friend": REF})
    report = conn.transact('[{:db/id "a" :name "Ivan" :friend "b"} [:db/add "b" :name "Petr"]]')
    assert report.tempids["a"] == 1 and report.tempids["b"] == 2
    assert facts(conn.db()) == {(1, "name", "Ivan"), (1, "friend", 2), (2, "name", "Petr")}


def test_attribute_spellings_are_equivalent():
    db = empty_db()
    a = db_with(db, [[K("db/add"), 1, K("user/name"), "x"]])
    b = db_with(db, [[":db/add", 1, ":user/name", "x"]])
    c = db_with(db, [["db/add", 1, "user/name", "x"]])
    assert facts(a) == facts(b) == facts(c) == {(1, "user/name", "x")}


@given(
    st.lists(
        st.tuples(st.integers(1, 6), st.sampled_from(["a", "b", "tags"]), st.integers(0, 4), st.booleans()),
        max_size=40,
    )
)
def test_random_ops_match_a_set_model(ops):
    """Adds and retracts, applied one tx at a time, agree with a plain set model."""
    db = empty_db({"tags": MANY})
    model: set[tuple[int, str, int]] = set()
    for e, a, v, add in ops:
        if add:
            if a != "tags":
                model = {f for f in model if not (f[0] == e and f[1] == a)}
            model.add((e, a, v))
            db = db_with(db, [[":db/add", e, a, v]])
        else:
            model.discard((e, a, v))
            db = db_with(db, [[":db/retract", e, a, v]])
    assert facts(db) == model
    assert db.datom_count == len(model)
    assert sorted(facts(db)) == [(d.e, d.a.full, d.v) for d in db.datoms("eavt")]
