"""Component attributes, ported from DataScript's components.cljc.

Touching entities and reverse navigation belong to the entity tests; here
the cascade of retractions through components is checked on datoms.
"""

from __future__ import annotations

import pytest

from jobstreamer.common.store import SchemaError

from .conftest import db_with, empty_db, facts, schema_of

COMPONENT = {":db/valueType": ":db.type/ref", ":db/isComponent": True}
MANY = {":db/cardinality": ":db.cardinality/many"}


def test_component_needs_ref():
    with pytest.raises(SchemaError, match="is :db/isComponent but not :db.type/ref"):
        schema_of({"profile": {":db/isComponent": True}})


def about(db, *es):
    return {f for f in facts(db) if f[0] in es}


@pytest.mark.parametrize("many", [False, True])
def test_retract_entity_cascades_to_components(many):
    schema = {"profile": {**COMPONENT, **MANY} if many else COMPONENT}
    profile = [3, 4] if many else 3
    db = db_with(
        empty_db(schema),
        [{":db/id": 1, "name": "Ivan", "profile": profile}, {":db/id": 3, "email": "@3"}, {":db/id": 4, "email": "@4"}],
    )
    after = db_with(db, [[":db.fn/retractEntity", 1]])
    gone = (1, 3, 4) if many else (1, 3)
    assert about(after, *gone) == set()
    if not many:
        assert about(after, 4) == {(4, "email", "@4")}


@pytest.mark.parametrize("many", [False, True])
def test_retract_attribute_cascades_to_components(many):
    schema = {"profile": {**COMPONENT, **MANY} if many else COMPONENT}
    db = db_with(
        empty_db(schema),
        [{":db/id": 1, "name": "Ivan", "profile": [3, 4] if many else 3}, {":db/id": 3, "email": "@3"}, {":db/id": 4, "email": "@4"}],
    )
    after = db_with(db, [[":db.fn/retractAttribute", 1, "profile"]])
    assert about(after, 3) == set()
    assert about(after, 1) == {(1, "name", "Ivan")}
    after = db_with(db, [[":db/retract", 1, "profile"]])
    assert about(after, 3) == set()


def test_cascade_goes_through_nested_components():
    db = db_with(
        empty_db({"profile": COMPONENT}),
        [{":db/id": 1, "name": "Ivan", "profile": {":db/id": 3, "email": "@3", "profile": {":db/id": 4, "email": "@4"}}}],
    )
    assert about(db, 1, 3, 4) == {
        (1, "name", "Ivan"), (1, "profile", 3), (3, "email", "@3"), (3, "profile", 4), (4, "email", "@4")
    }
    report = db.with_tx([[":db/retractEntity", 1]])
    assert facts(report.db_after) == set()
    assert all(not d.added for d in report.tx_data) and len(report.tx_data) == 5


def test_retracting_a_component_value_cascades():
    db = db_with(empty_db({"profile": COMPONENT}), [{":db/id": 1, "profile": {":db/id": 3, "email": "@3"}}])
    after = db_with(db, [[":db/retract", 1, "profile", 3]])
    assert facts(after) == set()


def test_non_component_refs_do_not_cascade():
    db = db_with(
        empty_db({"friend": {":db/valueType": ":db.type/ref"}}),
        [{":db/id": 1, "name": "Ivan", "friend": {":db/id": 2, "name": "Petr"}}],
    )
    assert facts(db_with(db, [[":db/retractEntity", 1]])) == {(2, "name", "Petr")}
