"""Reopening a store with another schema: the data is checked and reindexed, or nothing changes.

`connect(path, schema=new)` refuses a schema the stored data breaks, naming
the attribute, and saves nothing; a schema the data fits takes effect at
once, indexes included.
"""

from __future__ import annotations

from typing import Any

import pytest

from jobstreamer.common.edn import K
from jobstreamer.common.store import TX0, Conn, QueryError, SchemaError, connect
from jobstreamer.common.store._memory import MemoryStorage

from .conftest import facts, schema_of

TAGS = {"tags": {":db/cardinality": ":db.cardinality/many"}}


def stored_with(schema: dict[str, Any], tx_data: Any, checkpoint: bool = False) -> MemoryStorage:
    storage = MemoryStorage()
    with Conn(storage, schema_of(schema), checkpoint_every=None) as conn:
        conn.transact(tx_data)
        if checkpoint:
            conn.checkpoint()
            conn.transact([{"other": 1}])  # and a log tail after it
    return storage


def reopen(storage: MemoryStorage, schema: dict[str, Any] | None = None) -> Conn:
    storage._closed = False  # MemoryStorage outlives its conns, as a file does
    return Conn(storage, schema_of(schema) if schema is not None else None)


@pytest.mark.parametrize("checkpoint", [False, True])
@pytest.mark.parametrize(
    "old, new, tx_data, message",
    [
        (
            {},
            {"email": {":db/unique": ":db.unique/identity"}},
            [{"email": "a@x"}, {"email": "b@x"}, {"email": "a@x"}],
            "cannot make :email :db/unique: entities 1 and 3 both have the value \"a@x\"",
        ),
        (
            TAGS,
            {"tags": {":db/unique": ":db.unique/value", ":db/cardinality": ":db.cardinality/many"}},
            [{"tags": ["x", "y"]}, {"tags": ["y"]}],
            "cannot make :tags :db/unique: entities 1 and 2 both have the value \"y\"",
        ),
        (
            TAGS,
            {},
            [{"tags": ["x"]}, {"tags": ["x", "y"]}],
            "cannot make :tags :db.cardinality/one: entity 2 has several values (\"x\", \"y\")",
        ),
        (
            {},
            {"boss": {":db/valueType": ":db.type/ref"}},
            [{"name": "Ann"}, {"boss": 1}, {"boss": "Ann"}],
            "cannot make :boss :db.type/ref: entity 3 has the value \"Ann\","
            " which is not an entity id",
        ),
    ],
)
def test_a_schema_the_data_breaks_is_refused_and_nothing_changes(
    old: dict[str, Any], new: dict[str, Any], tx_data: Any, message: str, checkpoint: bool
) -> None:
    storage = stored_with(old, tx_data, checkpoint)
    before = reopen(storage).db()
    with pytest.raises(SchemaError) as e:
        reopen(storage, new)
    assert str(e.value) == message
    assert e.value.field == message.split()[2]
    after = reopen(storage).db()  # the stored schema is still the old one
    assert after.schema == schema_of(old)
    assert facts(after) == facts(before)


def test_a_new_unique_attribute_is_indexed_at_once() -> None:
    storage = stored_with({}, [{"email": "a@x", "n": 1}, {"email": "b@x", "n": 2}])
    conn = reopen(storage, {"email": {":db/unique": ":db.unique/identity"}})
    db = conn.db()
    assert db.entid(["email", "b@x"]) == 2
    assert [d.e for d in db.datoms("avet", "email")] == [1, 2]
    conn.transact([{"email": "a@x", "n": 10}])  # an upsert now
    assert facts(conn.db()) == {(1, "email", "a@x"), (1, "n", 10), (2, "email", "b@x"), (2, "n", 2)}
    assert reopen(storage).schema == conn.schema  # saved


def test_many_to_one_when_every_entity_has_one_value() -> None:
    storage = stored_with(TAGS, [{"tags": ["x"]}, {"tags": ["y"]}])
    conn = reopen(storage, {})
    conn.transact([[":db/add", 1, "tags", "z"]])  # replaces, as card-one
    assert facts(conn.db()) == {(1, "tags", "z"), (2, "tags", "y")}
    assert conn.db().pull("[:tags]", 2) == {K("tags"): "y"}


def test_an_attribute_made_a_ref_is_followed() -> None:
    storage = stored_with({}, [{"name": "Ann"}, {"name": "Bob", "boss": 1}])
    conn = reopen(storage, {"boss": {":db/valueType": ":db.type/ref"}})
    db = conn.db()
    assert [d.e for d in db.datoms("vaet", 1, "boss")] == [2]
    bob = {K("name"): "Bob", K("boss"): {K("name"): "Ann"}}
    assert db.pull("[:name {:boss [:name]}]", 2) == bob
    assert db.q("[:find ?n . :where [?b :name \"Bob\"] [?b :boss ?a] [?a :name ?n]]") == "Ann"


def test_changes_any_data_fits() -> None:
    storage = stored_with(
        {"email": {":db/unique": ":db.unique/identity"}, "age": {}},
        [{"email": "a@x", "age": 3, "tags": "t"}],
    )
    new = {"email": {}, "age": {":db/index": True}, **TAGS}
    conn = reopen(storage, new)
    db = conn.db()
    with pytest.raises(QueryError, match="should be marked as :db/unique"):
        db.entid(["email", "a@x"])
    assert [d.v for d in db.datoms("avet", "age")] == [3]
    conn.transact([[":db/add", 1, "tags", "u"]])
    assert {d.v for d in conn.db().datoms("eavt", 1, "tags")} == {"t", "u"}
    assert conn.transact([{"email": "a@x"}]).tempids[K("db/current-tx")] == TX0 + 3  # no upsert
    assert len(list(conn.db().datoms("aevt", "email"))) == 2


def test_a_doc_change_is_saved(tmp_path: Any) -> None:
    path = str(tmp_path / "bus.db")
    with connect(path, schema="{:n {:db/doc \"old\"}}"):
        pass
    with connect(path, schema="{:n {:db/doc \"new\"}}"):
        pass
    with connect(path) as conn:
        assert conn.schema.data() == {K("n"): {K("db/doc"): "new"}}


def test_a_refused_schema_leaves_the_file_as_it_was(tmp_path: Any) -> None:
    path = str(tmp_path / "bus.db")
    with connect(path) as conn:
        conn.transact([{"email": "a@x"}, {"email": "a@x"}])
    with pytest.raises(SchemaError, match="cannot make :email :db/unique"):
        connect(path, schema="{:email {:db/unique :db.unique/value}}")
    with connect(path) as conn:
        assert conn.schema.data() == {}
        assert len(list(conn.db().datoms("aevt", "email"))) == 2
