"""Lookup refs in entity positions and index access, ported from DataScript's lookup_refs.cljc.

The query half of that file (lookup refs as query inputs) lives with the
query tests.  `seek-datoms` and `index-range` have no counterpart here.
"""

from __future__ import annotations

import pytest

from jobstreamer.common.edn import K
from jobstreamer.common.store import QueryError, TransactionError

from .conftest import db_with, empty_db, entity_map

IDENTITY = {":db/unique": ":db.unique/identity"}
MANY = {":db/cardinality": ":db.cardinality/many"}
REF = {":db/valueType": ":db.type/ref"}


@pytest.fixture
def people():
    return db_with(
        empty_db({"name": IDENTITY, "email": {":db/unique": ":db.unique/value"}}),
        [
            {":db/id": 1, "name": "Ivan", "email": "@1", "age": 35},
            {":db/id": 2, "name": "Petr", "email": "@2", "age": 22},
        ],
    )


@pytest.mark.parametrize(
    "eid, expected",
    [
        (["name", "Ivan"], {"db/id": 1, "name": "Ivan", "email": "@1", "age": 35}),
        ([K("email"), "@1"], {"db/id": 1, "name": "Ivan", "email": "@1", "age": 35}),
        ((":name", "Petr"), {"db/id": 2, "name": "Petr", "email": "@2", "age": 22}),
        (["name", "Sergey"], None),
        (["name", None], None),
    ],
)
def test_lookup_refs(people, eid, expected):
    assert entity_map(people, eid) == expected


@pytest.mark.parametrize(
    "eid, message",
    [
        (["name"], r"Lookup ref should contain 2 elements: \[:name\]"),
        (["name", 1, 2], r"Lookup ref should contain 2 elements: \[:name 1 2\]"),
        (["age", 10], r"Lookup ref attribute should be marked as :db/unique: \[:age 10\]"),
        ("Ivan", 'Expected number, ident or lookup ref for entity id, got "Ivan"'),
        (-1, "Expected a positive entity id, got -1"),
        ([1, 2], r"Bad attribute 1, expected keyword or string"),
    ],
)
def test_bad_lookup_refs(people, eid, message):
    with pytest.raises(QueryError, match=message):
        people.entid(eid)


@pytest.fixture
def friends():
    return db_with(
        empty_db({"name": IDENTITY, "friend": REF}),
        [{":db/id": 1, "name": "Ivan"}, {":db/id": 2, "name": "Petr"}],
    )


IVAN = {"db/id": 1, "name": "Ivan"}


@pytest.mark.parametrize(
    "tx, expected",
    [
        # additions
        ([[":db/add", ["name", "Ivan"], "age", 35]], {**IVAN, "age": 35}),
        ([{":db/id": ["name", "Ivan"], "age": 35}], {**IVAN, "age": 35}),
        ([[":db/add", 1, "friend", ["name", "Petr"]]], {**IVAN, "friend": {"db/id": 2}}),
        ([{":db/id": 1, "friend": ["name", "Petr"]}], {**IVAN, "friend": {"db/id": 2}}),
        ([{":db/id": 2, "_friend": ["name", "Ivan"]}], {**IVAN, "friend": {"db/id": 2}}),
        # lookup refs are resolved against the intermediate value
        ([[":db/add", 3, "name", "Oleg"], [":db/add", 1, "friend", ["name", "Oleg"]]], {**IVAN, "friend": {"db/id": 3}}),
        # cas
        ([[":db.fn/cas", ["name", "Ivan"], "name", "Ivan", "Oleg"]], {"db/id": 1, "name": "Oleg"}),
        ([[":db/add", 1, "friend", 1], [":db.fn/cas", 1, "friend", ["name", "Ivan"], 2]], {**IVAN, "friend": {"db/id": 2}}),
        ([[":db/add", 1, "friend", 1], [":db.fn/cas", 1, "friend", 1, ["name", "Petr"]]], {**IVAN, "friend": {"db/id": 2}}),
        # retractions
        ([[":db/add", 1, "age", 35], [":db/retract", ["name", "Ivan"], "age", 35]], IVAN),
        ([[":db/add", 1, "friend", 2], [":db/retract", 1, "friend", ["name", "Petr"]]], IVAN),
        ([[":db/add", 1, "age", 35], [":db.fn/retractAttribute", ["name", "Ivan"], "age"]], IVAN),
        ([[":db.fn/retractEntity", ["name", "Ivan"]]], None),
        # idents are lookup refs on :db/ident
        ([[":db/add", 1, "db/ident", K("ivan")], [":db/add", K("ivan"), "age", 7]], {**IVAN, "db/ident": K("ivan"), "age": 7}),
    ],
)
def test_lookup_refs_in_transactions(friends, tx, expected):
    assert entity_map(db_with(friends, tx), 1) == expected


@pytest.mark.parametrize(
    "tx",
    [
        [{":db/id": ["name", "Oleg"], "age": 10}],
        [[":db/add", ["name", "Oleg"], "age", 10]],
        [[":db/add", 1, "friend", ["name", "Oleg"]]],
    ],
)
def test_lookup_ref_to_nothing_is_an_error(friends, tx):
    with pytest.raises(TransactionError, match=r'Nothing found for entity id \[:name "Oleg"\]'):
        friends.with_tx(tx)


@pytest.fixture
def many_friends():
    return db_with(
        empty_db({"name": IDENTITY, "friends": {**REF, **MANY}}),
        [
            {":db/id": 1, "name": "Ivan"},
            {":db/id": 2, "name": "Petr"},
            {":db/id": 3, "name": "Oleg"},
            {":db/id": 4, "name": "Sergey"},
        ],
    )


def friend_ids(db, e=1):
    return {d.v for d in db.datoms("eavt", e, "friends")}


@pytest.mark.parametrize(
    "tx, expected",
    [
        ([[":db/add", 1, "friends", ["name", "Petr"]]], {2}),
        ([[":db/add", 1, "friends", ["name", "Petr"]], [":db/add", 1, "friends", ["name", "Oleg"]]], {2, 3}),
        ([{":db/id": 1, "friends": ["name", "Petr"]}], {2}),
        ([{":db/id": 1, "friends": [["name", "Petr"]]}], {2}),
        ([{":db/id": 1, "friends": [K("name"), "Petr"]}], {2}),
        ([{":db/id": 1, "friends": [":name", "Petr"]}], {2}),
        ([{":db/id": 1, "friends": [["name", "Petr"], ["name", "Oleg"]]}], {2, 3}),
        ([{":db/id": 1, "friends": [2, ["name", "Oleg"]]}], {2, 3}),
        ([{":db/id": 1, "friends": [["name", "Petr"], 3]}], {2, 3}),
        # reverse refs
        ([{":db/id": 2, "_friends": ["name", "Ivan"]}], {2}),
        ([{":db/id": 2, "_friends": [["name", "Ivan"]]}], {2}),
        ([{":db/id": 2, "_friends": [["name", "Ivan"], ["name", "Oleg"]]}], {2}),
    ],
)
def test_lookup_refs_in_card_many_refs(many_friends, tx, expected):
    assert friend_ids(db_with(many_friends, tx)) == expected


def test_reverse_refs_to_many_entities(many_friends):
    db = db_with(many_friends, [{":db/id": 2, "_friends": [["name", "Ivan"], ["name", "Oleg"]]}])
    assert friend_ids(db, 3) == {2}


@pytest.fixture
def indexed():
    return db_with(
        empty_db({"name": IDENTITY, "friends": {**REF, **MANY, ":db/index": True}}),
        [
            {":db/id": 1, "name": "Ivan", "friends": [2, 3]},
            {":db/id": 2, "name": "Petr", "friends": 3},
            {":db/id": 3, "name": "Oleg"},
        ],
    )


@pytest.mark.parametrize(
    "index, components, expected",
    [
        ("eavt", [["name", "Ivan"]], [(1, "friends", 2), (1, "friends", 3), (1, "name", "Ivan")]),
        ("eavt", [["name", "Ivan"], "friends"], [(1, "friends", 2), (1, "friends", 3)]),
        ("eavt", [["name", "Ivan"], "friends", ["name", "Petr"]], [(1, "friends", 2)]),
        ("aevt", ["friends", ["name", "Ivan"]], [(1, "friends", 2), (1, "friends", 3)]),
        ("aevt", ["friends", ["name", "Ivan"], ["name", "Petr"]], [(1, "friends", 2)]),
        ("avet", ["friends", ["name", "Oleg"]], [(1, "friends", 3), (2, "friends", 3)]),
        ("avet", ["friends", ["name", "Oleg"], ["name", "Ivan"]], [(1, "friends", 3)]),
        ("vaet", [["name", "Oleg"]], [(1, "friends", 3), (2, "friends", 3)]),
        ("vaet", [["name", "Oleg"], "friends", ["name", "Petr"]], [(2, "friends", 3)]),
        ("eavt", [["name", "Nobody"]], []),
        ("avet", ["friends", ["name", "Nobody"]], []),
    ],
)
def test_lookup_refs_in_index_access(indexed, index, components, expected):
    assert [(d.e, d.a.full, d.v) for d in indexed.datoms(index, *components)] == expected
