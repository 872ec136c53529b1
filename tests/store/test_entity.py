"""Entities, ported case by case from DataScript test/entity.cljc."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobstreamer.common.edn import K, loads
from jobstreamer.common.store import connect
from jobstreamer.common.store._entity import Entity, entity
from jobstreamer.common.store.errors import QueryError

from ._dbs import db_with, init_db


@pytest.fixture(scope="module")
def db():
    return init_db(
        loads("{:aka {:db/cardinality :db.cardinality/many}}"),
        [
            (1, "name", "Ivan"),
            (1, "age", 19),
            (1, "aka", "X"),
            (1, "aka", "Y"),
            (2, "name", "Ivan"),
            (2, "sex", "male"),
            (2, "aka", "Z"),
            (3, "huh?", False),
        ],
    )


def test_entity(db):
    e = entity(db, 1)
    assert e[":db/id"] == e.eid == 1
    assert e.db is db
    assert e[K("name")] == e["name"] == e[":name"] == "Ivan"
    assert e["age"] == 19
    assert e["aka"] == frozenset({"X", "Y"})
    assert "age" in e
    assert "not-found" not in e
    assert e.get("not-found") is None and e.get("not-found", 7) == 7
    with pytest.raises(KeyError):
        e["not-found"]
    assert dict(e) == {K("name"): "Ivan", K("age"): 19, K("aka"): frozenset({"X", "Y"})}
    assert dict(entity(db, 2)) == {K("name"): "Ivan", K("sex"): "male", K("aka"): frozenset({"Z"})}
    e3 = entity(db, 3)
    assert dict(e3) == {K("huh?"): False}  # force caching
    assert e3["huh?"] is False


def test_entity_repr_shows_what_was_read(db):
    assert repr(entity(db, 1)) == "Entity({:db/id 1})"
    e = entity(db, 1)
    e.get("unknown")
    assert repr(e) == "Entity({:db/id 1})"
    e["name"]
    assert repr(e) == 'Entity({:db/id 1, :name "Ivan"})'


def test_entity_is_a_read_only_mapping(db):
    e = entity(db, 1)
    assert len(e) == 3
    assert set(e) == set(e.keys()) == {K("name"), K("age"), K("aka")}
    with pytest.raises(TypeError):
        e["name"] = "Oleg"  # type: ignore[index]


@pytest.fixture(scope="module")
def refs_db():
    schema = loads(
        """{:father   {:db/valueType :db.type/ref}
            :children {:db/valueType :db.type/ref :db/cardinality :db.cardinality/many}}"""
    )
    return init_db(
        schema,
        [
            (1, "children", 10),
            (10, "father", 1),
            (10, "children", 100),
            (10, "children", 101),
            (100, "father", 10),
            (101, "father", 10),
        ],
    )


def test_entity_refs(refs_db):
    def e(eid: int) -> Entity:
        found = entity(refs_db, eid)
        assert found is not None
        return found

    assert e(1)["children"] == {e(10)}
    assert e(10)["children"] == {e(100), e(101)}
    # empty attribute
    assert e(100).get("children") is None
    # nested navigation
    assert next(iter(e(1)["children"]))["children"] == {e(100), e(101)}
    assert next(iter(e(10)["children"]))["father"] == e(10)
    assert e(10)["father"]["children"] == {e(10)}
    # after touch
    e1, e10 = e(1).touch(), e(10).touch()
    assert next(iter(e1["children"]))["children"] == {e(100), e(101)}
    assert next(iter(e10["children"]))["father"] == e(10)
    assert e10["father"]["children"] == {e(10)}
    # backward navigation
    assert e(1).get("_children") is None
    assert e(1)["_father"] == {e(10)}
    assert e(10)["_children"] == {e(1)}
    assert e(10)[":_father"] == {e(100), e(101)}
    assert next(iter(e(100)["_children"]))["_children"] == {e(1)}


def test_reverse_component_is_the_owner():
    schema = loads("{:part {:db/valueType :db.type/ref :db/isComponent true :db/cardinality :db.cardinality/many}}")
    db = init_db(schema, [(1, "part", 2), (1, "part", 3), (2, "name", "a"), (3, "name", "b")])
    owner = entity(db, 2)["_part"]
    assert isinstance(owner, Entity) and owner.eid == 1


def test_touch_reads_components_too():
    schema = loads(
        """{:part {:db/valueType :db.type/ref :db/isComponent true :db/cardinality :db.cardinality/many}
            :ref  {:db/valueType :db.type/ref}}"""
    )
    # 3 -> 1 closes a component cycle: touch must still end.
    db = init_db(schema, [(1, "part", 2), (2, "name", "a"), (2, "part", 3), (3, "part", 1), (1, "ref", 2)])
    e = entity(db, 1).touch()
    (part,) = e["part"]
    assert repr(part) == "Entity({:db/id 2, :name \"a\", :part #{Entity({:db/id 3, :part #{Entity({:db/id 1})}})}})"
    assert repr(e["ref"]) == "Entity({:db/id 2})"  # not a component: left lazy


def test_missing_refs():
    schema = loads(
        """{:ref       {:db/valueType :db.type/ref}
            :comp      {:db/valueType :db.type/ref :db/isComponent true}
            :multiref  {:db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
            :multicomp {:db/valueType :db.type/ref :db/isComponent true :db/cardinality :db.cardinality/many}}"""
    )
    db = init_db(schema, [(1, "other", True)])
    e = entity(db, 1).touch()  # does not throw
    for a in ("ref", "comp", "multiref", "multicomp"):
        assert e.get(a) is None


def test_entity_misses():
    db = init_db(loads("{:name {:db/unique :db.unique/identity}}"), [(1, "name", "Ivan"), (2, "name", "Oleg")])
    assert entity(db, None) is None
    assert entity(db, "abc") is None
    assert entity(db, K("keyword")) is None
    assert entity(db, (K("name"), "Petr")) is None
    assert entity(db, 777) is None
    with pytest.raises(QueryError, match="not-an-attr"):
        entity(db, (K("not-an-attr"), 777))
    assert entity(db, (K("name"), "Oleg")) == entity(db, 2)


def test_entity_equality_and_hash():
    db1 = init_db({}, [(1, "name", "Ivan")])
    e1 = entity(db1, 1)
    db2 = db_with(db1, "[]")
    db3 = db_with(db2, '[[:db/add 2 :name "Oleg"]]')
    # Two entities are equal (and hash alike) if they have the same id ...
    assert e1 == e1 and e1 == entity(db1, 1)
    assert hash(e1) == hash(entity(db1, 1))
    # ... and refer to the same database value: every transaction makes a new one
    for later in (db2, db3):
        assert e1 != entity(later, 1)
        assert hash(e1) != hash(entity(later, 1))
    assert e1 != {K("name"): "Ivan"}


def test_entities_of_one_value_reached_two_ways_are_equal():
    with connect(":memory:") as conn:
        first = conn.transact('[{:db/id 1 :name "Ivan"}]').db_after
        conn.transact('[{:db/id 2 :name "Oleg"}]')
        assert conn.db().as_of(first.basis_t).entity(1) == entity(first, 1)
        assert conn.db().entity(1) != entity(first, 1)


@given(st.lists(st.tuples(st.integers(1, 4), st.sampled_from(["name", "aka", "father", "children"]), st.integers(1, 4))))
def test_an_entity_shows_its_datoms(facts: list[tuple[int, str, int]]) -> None:
    schema = loads(
        """{:aka      {:db/cardinality :db.cardinality/many}
            :father   {:db/valueType :db.type/ref}
            :children {:db/valueType :db.type/ref :db/cardinality :db.cardinality/many}}"""
    )
    db = init_db(schema, facts)
    for e in range(1, 5):
        expected: dict[Any, Any] = {}
        for d in db.datoms("eavt", e):
            # A ref is an Entity even when its target has no datoms (Datomic's choice).
            v = Entity(db, d.v) if d.a in (K("father"), K("children")) else d.v
            if d.a in (K("aka"), K("children")):
                expected[d.a] = expected.get(d.a, frozenset()) | {v}
            else:
                expected[d.a] = v
        found = entity(db, e)
        assert (dict(found) if found is not None else {}) == expected
