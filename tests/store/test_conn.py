"""Connections: opening, schema, atomicity, snapshots, concurrency (DataScript's conn.cljc and more)."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from jobstreamer.common.edn import K
from jobstreamer.common.store import (
    TX0,
    Conn,
    Db,
    Schema,
    SchemaError,
    StorageError,
    StoreError,
    TransactionError,
    UniqueConflict,
    connect,
)
from jobstreamer.common.store._memory import MemoryStorage
from jobstreamer.common.store._storage import TxRecord

from .conftest import facts, schema_of

AKA = {"aka": {":db/cardinality": ":db.cardinality/many"}}
NOW = datetime(2024, 5, 1, tzinfo=timezone.utc)


def test_new_conn_is_empty():
    with connect() as conn:
        assert facts(conn.db()) == set()
        assert conn.db().basis_t == TX0
        assert conn.db().max_eid == 0
        assert conn.schema == Schema()


@pytest.mark.parametrize(
    "schema",
    [
        schema_of(AKA),
        {K("aka"): {K("db/cardinality"): K("db.cardinality/many")}},
        {"aka": {":db/cardinality": K("db.cardinality/many")}},
        {"aka": {":db/cardinality": ":db.cardinality/many"}},  # enum values as text too
        "{:aka {:db/cardinality :db.cardinality/many}}",
    ],
)
def test_schema_as_schema_dict_or_edn(schema):
    with connect(":memory:", schema=schema) as conn:
        assert conn.schema == schema_of(AKA)
        conn.transact([[":db/add", 1, "aka", "a"], [":db/add", 1, "aka", "b"]])
        assert {d.v for d in conn.db().datoms("eavt", 1, "aka")} == {"a", "b"}


def test_bad_schema_is_rejected():
    with pytest.raises(SchemaError):
        connect(schema=[1, 2])
    with pytest.raises(SchemaError):
        connect(schema={"a": {":db/cardinality": K("db.cardinality/several")}})


def test_postgresql_is_not_there_yet():
    with pytest.raises(StorageError, match="PostgreSQL storage arrives with the failover issue"):
        connect("postgresql://localhost/jobs")


def test_memory_takes_no_options():
    with pytest.raises(StoreError, match="unknown option"):
        connect(":memory:", journal="wal")


def test_sqlite_urls_and_paths_open_the_same_file(tmp_path):
    path = tmp_path / "bus.db"
    with connect(str(path), schema=schema_of(AKA)) as conn:
        conn.transact([{"name": "Ivan", "aka": ["a", "b"]}])
    with connect(f"sqlite://{path}") as conn:
        assert facts(conn.db()) == {(1, "name", "Ivan"), (1, "aka", "a"), (1, "aka", "b")}
        assert conn.schema == schema_of(AKA)


def test_reopen_rebuilds_from_checkpoint_and_log():
    storage = MemoryStorage()
    conn = Conn(storage, schema_of({"email": {":db/unique": ":db.unique/identity"}}), checkpoint_every=None)
    conn.transact([{"email": "a", "n": 1}, {"email": "b", "n": 2}])
    conn.checkpoint()
    conn.transact([{"email": "a", "n": 10}, [":db/retractEntity", ["email", "b"]], {"email": "c"}])
    before = conn.db()
    reopened = Conn(storage)  # the stored schema is used
    db = reopened.db()
    assert facts(db) == facts(before) == {(1, "email", "a"), (1, "n", 10), (3, "email", "c")}
    assert (db.basis_t, db.max_eid, db.datom_count) == (before.basis_t, before.max_eid, 3)
    assert db.entid(["email", "c"]) == 3
    assert reopened.transact([{"email": "d"}]).tempids == {K("db/current-tx"): TX0 + 3}
    assert reopened.db().entid(["email", "d"]) == 4


def test_history_source_reads_the_log(make_conn):
    conn = make_conn()
    conn.transact([{"n": 1}])
    conn.transact([{"n": 2}])
    db = conn.db()
    assert [r.tx for r in db.history_source(db.basis_t)] == [TX0 + 1, TX0 + 2]
    assert [r.tx for r in db.history_source(TX0 + 1)] == [TX0 + 1]
    assert [len(r.datoms) for r in db.history_source(db.basis_t)] == [1, 1]


def test_failing_transaction_changes_nothing(make_conn):
    conn = make_conn({"email": {":db/unique": ":db.unique/value"}})
    conn.transact([{":db/id": 1, "email": "@1"}])
    before = conn.db()
    with pytest.raises(UniqueConflict):
        conn.transact([{":db/id": 2, "name": "x"}, {":db/id": 3, "email": "@1"}])
    assert conn.db() is before
    assert [r.tx for r in before.history_source(TX0 + 10)] == [TX0 + 1]
    assert conn.transact([{"name": "y"}]).tx == TX0 + 2


class _FailingStorage(MemoryStorage):
    fail = False

    def append(self, record):
        if self.fail:
            raise StorageError("disk full")
        super().append(record)


def test_storage_failure_changes_nothing():
    storage = _FailingStorage()
    conn = Conn(storage)
    seen = []
    conn.listen(seen.append)
    conn.transact([{"name": "a"}])
    before = conn.db()
    storage.fail = True
    with pytest.raises(StorageError, match="disk full"):
        conn.transact([{"name": "b"}])
    assert conn.db() is before
    assert len(seen) == 1
    storage.fail = False
    assert conn.transact([{"name": "c"}]).tx == TX0 + 2


class _CountingStorage(_FailingStorage):
    def __init__(self):
        super().__init__()
        self.writes = []

    def append_many(self, records):
        if self.fail:
            raise StorageError("disk full")
        super().append_many(records)
        self.writes.append([r.tx for r in records])


def test_transact_many_commits_in_one_write_each_atomic_on_its_own():
    storage = _CountingStorage()
    conn = Conn(storage)
    seen = []
    conn.listen(lambda report: seen.append(report.tx))
    arguments = []

    def named_after_the_first(db):
        arguments.append(db)
        return [{"name": f"after {db.entity(1)['name']}"}]

    results = conn.transact_many(
        [
            [{":db/id": 1, "name": "first"}],
            [[":db/add"]],  # refused: changes nothing, the others go on
            named_after_the_first,  # a function sees what the items before it made
            lambda db: None,  # declines: writes nothing
            "[{:name \"edn\"}]",
        ]
    )
    first, refused, named, declined, edn = results
    assert isinstance(refused, TransactionError) and declined is None
    assert [first.tx, named.tx, edn.tx] == [TX0 + 1, TX0 + 2, TX0 + 3]
    assert storage.writes == [[TX0 + 1, TX0 + 2, TX0 + 3]]  # one write for the batch
    assert seen == [TX0 + 1, TX0 + 2, TX0 + 3]  # every report, in order
    assert arguments[0] is first.db_after
    assert conn.db() is edn.db_after
    assert {v for _, a, v in facts(conn.db()) if a == "name"} == {"first", "after first", "edn"}


def test_a_failed_group_write_changes_nothing():
    storage = _CountingStorage()
    conn = Conn(storage)
    conn.transact([{"name": "a"}])
    before = conn.db()
    storage.fail = True
    results = conn.transact_many([[{"name": "b"}], [[":db/add"]], [{"name": "c"}]])
    assert [type(r) for r in results] == [StorageError, TransactionError, StorageError]
    assert conn.db() is before
    storage.fail = False
    assert [r.tx for r in conn.transact_many([[{"name": "d"}], [{"name": "e"}]])] == [TX0 + 2, TX0 + 3]


def test_memory_storage_checks_a_batch_before_appending_any():
    storage = MemoryStorage()
    storage.append(TxRecord(TX0 + 1, NOW, (), 0))
    with pytest.raises(StorageError):
        storage.append_many([TxRecord(TX0 + 2, NOW, (), 0), TxRecord(TX0 + 2, NOW, (), 0)])
    assert [r.tx for r in storage.records()] == [TX0 + 1]


def test_snapshots_are_immutable(make_conn):
    conn = make_conn(AKA)
    conn.transact([{":db/id": 1, "name": "Ivan", "aka": ["x"]}])
    snapshot = conn.db()
    datoms = list(snapshot.datoms("eavt"))
    conn.transact([{":db/id": 1, "name": "Petr", "aka": ["y"]}, [":db/retract", 1, "aka", "x"]])
    conn.transact([[":db/retractEntity", 1]])
    assert list(snapshot.datoms("eavt")) == datoms
    assert facts(conn.db()) == set()


def test_with_tx_does_not_touch_the_conn(make_conn):
    conn = make_conn()
    db = conn.db()
    report = db.with_tx([{"name": "Ivan"}])
    assert facts(report.db_after) == {(1, "name", "Ivan")}
    assert conn.db() is db
    assert report.db_after.history_source(report.tx) is not None


def test_closed_conn_refuses_writes():
    conn = connect()
    conn.transact([{"name": "a"}])
    db = conn.db()
    conn.close()
    conn.close()  # idempotent
    assert conn.closed
    with pytest.raises(StorageError, match="closed"):
        conn.transact([{"name": "b"}])
    assert facts(db) == {(1, "name", "a")}


async def _use_async(conn):
    async with conn as c:
        c.transact([{"name": "a"}])


def test_async_context_manager():
    import asyncio

    conn = connect()
    asyncio.run(_use_async(conn))
    assert conn.closed


def test_readers_never_see_half_a_transaction(make_conn):
    """Each transaction moves 10 units between two counters: every snapshot sums to 100."""
    conn = make_conn()
    conn.transact([{":db/id": 1, "balance": 100}, {":db/id": 2, "balance": 0}])
    stop = threading.Event()
    bad: list[int] = []
    reads = [0]

    def reader():
        while not stop.is_set():
            db = conn.db()
            total = sum(d.v for d in db.datoms("aevt", "balance"))
            if total != 100:
                bad.append(total)
            reads[0] += 1

    def writer():
        for i in range(200):
            db = conn.db()
            a = next(db.datoms("eavt", 1, "balance")).v
            b = next(db.datoms("eavt", 2, "balance")).v
            step = 10 if a >= 10 else -b
            conn.transact([[":db/add", 1, "balance", a - step], [":db/add", 2, "balance", b + step]])

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    writers = [threading.Thread(target=writer) for _ in range(2)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert bad == []
    assert reads[0] > 0
    assert conn.db().basis_t == TX0 + 401


def test_concurrent_writers_are_serialised(make_conn):
    conn = make_conn({"n": {":db/unique": ":db.unique/identity"}})
    errors: list[Exception] = []

    def write(k):
        try:
            for i in range(50):
                conn.transact([{"n": k * 1000 + i}])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db = conn.db()
    assert db.datom_count == 200 and db.max_eid == 200
    assert sorted(d.e for d in db.datoms("aevt", "n")) == list(range(1, 201))


def test_db_is_a_dbview(make_conn):
    db = make_conn().db()
    assert isinstance(db, Db)
    assert db.is_history is False
    assert db.attr(K("anything")).many is False


def test_transaction_error_names_the_item(make_conn):
    conn = make_conn()
    with pytest.raises(TransactionError, match=r"\[:db/add 1 :name nil\]"):
        conn.transact('[[:db/add 1 :name nil]]')
