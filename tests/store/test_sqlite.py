"""SqliteStorage: the log, schema and checkpoints as a store file keeps them (docs/store.md)."""

from __future__ import annotations

import logging
import marshal
import math
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator
from uuid import UUID
from zlib import crc32

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobstreamer.common.edn import Char, FrozenMap, K, List, Symbol, TaggedLiteral, Vector
from jobstreamer.common.store import _codec, _sqlite, connect
from jobstreamer.common.store._datom import TX0, Datom
from jobstreamer.common.store._sqlite import SqliteStorage
from jobstreamer.common.store._storage import Checkpoint, TxRecord
from jobstreamer.common.store.errors import StorageError, StoreError

from ._dbs import observed

NOW = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)

# Every value type EDN can carry, as the EDN reader gives it back.
EDN_VALUES: list[Any] = [
    K("status/ok"),
    K("plain"),
    Symbol("my.ns/sym"),
    "text with \"quotes\", a \\ backslash,\na newline and ünïcödé ✓",
    "",
    0,
    42,
    -7,
    2**80,
    -(2**70),
    1.5,
    -0.25,
    1e300,
    Decimal("3.14159"),
    True,
    False,
    None,
    UUID("12345678-1234-5678-1234-567812345678"),
    NOW,
    datetime(1999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=2))),
    Char("x"),
    Char("\n"),
    Vector([1, K("a/b"), "s", Vector([])]),
    List([1, 2, List([])]),
    {K("k/a"): 1, "s": Vector([2, 3]), 7: None},
    frozenset({1, "a", K("k")}),
]
# A checkpoint keeps Python values exactly, including shapes EDN has no syntax for.
CHECKPOINT_VALUES: list[Any] = EDN_VALUES + [
    (1, (2, "x")),
    [1, [2]],
    {3, 4},
    FrozenMap({K("a"): Vector([1])}),
    TaggedLiteral(Symbol("my/tag"), Vector([1, K("b")])),
    math.inf,
    -0.0,
    datetime(2020, 1, 1, 0, 0),  # naive
]


def assert_same(got: Any, expected: Any) -> None:
    """Equal, and of the very same types all the way down."""
    assert type(got) is type(expected), (got, expected)
    assert got == expected
    if isinstance(expected, dict):
        for k, v in expected.items():
            assert_same(got[k], v)
    elif isinstance(expected, (tuple, list)):
        for g, x in zip(got, expected):
            assert_same(g, x)
    elif isinstance(expected, datetime):
        assert got.utcoffset() == expected.utcoffset()


def datoms_with(values: list[Any], tx: int) -> tuple[Datom, ...]:
    return tuple(Datom(i + 1, K(f"t/a{i % 3}"), v, tx) for i, v in enumerate(values))


def record(tx: int, n: int = 3) -> TxRecord:
    """A transaction of `n` assertions (so its datoms also make a valid checkpoint)."""
    datoms = tuple(Datom(tx - TX0 + i, K("t/n"), i, tx) for i in range(n))
    return TxRecord(tx=tx, instant=NOW, datoms=datoms, max_eid=tx - TX0 + n)


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "bus.db")


Reopen = Callable[..., SqliteStorage]


@pytest.fixture
def reopen(path: str) -> Iterator[Reopen]:
    """(Re)opens the test's store file, closing the store it opened before."""
    opened: list[SqliteStorage] = []

    def reopen_(**options: Any) -> SqliteStorage:
        for s in opened:
            s.close()
        opened.append(SqliteStorage(path, **options))
        return opened[-1]

    yield reopen_
    for s in opened:
        s.close()


@pytest.fixture
def store(reopen: Reopen) -> SqliteStorage:
    return reopen()


# ------------------------------------------------------------------- the log


def test_a_new_store_is_empty(store: SqliteStorage) -> None:
    assert store.load_schema() is None
    assert store.latest_checkpoint() is None
    assert list(store.records()) == []


def test_records_round_trip_every_value_type(store: SqliteStorage, reopen: Reopen) -> None:
    datoms = datoms_with(EDN_VALUES, TX0 + 1)
    datoms += (Datom(1, K("t/gone"), "old", TX0 + 1, False),)
    store.append(TxRecord(TX0 + 1, NOW, datoms, max_eid=len(datoms)))
    (got,) = reopen().records()
    assert got == TxRecord(TX0 + 1, NOW, datoms, max_eid=len(datoms))
    for g, d in zip(got.datoms, datoms):
        assert_same(g.v, d.v)
        assert type(g.added) is bool


def test_instants_are_kept_in_utc(store: SqliteStorage) -> None:
    paris = datetime(2024, 5, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    store.append(TxRecord(TX0 + 1, paris, (), 0))
    store.append(TxRecord(TX0 + 2, datetime(2024, 5, 1, 12, 30, 15, 123456), (), 0))
    first, naive = store.records()
    assert first.instant == NOW and first.instant.tzinfo == timezone.utc
    assert naive.instant == NOW  # a naive instant is taken to be UTC already


def test_records_stream_in_tx_order_within_bounds(store: SqliteStorage) -> None:
    for tx in range(TX0 + 1, TX0 + 11):
        store.append(record(tx))

    def txs(**bounds: int) -> list[int]:
        return [r.tx for r in store.records(**bounds)]

    assert txs() == list(range(TX0 + 1, TX0 + 11))
    assert txs(after_tx=TX0 + 3) == list(range(TX0 + 4, TX0 + 11))
    assert txs(after_tx=TX0 + 3, upto_tx=TX0 + 5) == [TX0 + 4, TX0 + 5]
    assert txs(upto_tx=TX0 + 1) == [TX0 + 1]
    assert txs(after_tx=TX0 + 10) == []
    assert [r.datoms for r in store.records(upto_tx=TX0 + 1)] == [record(TX0 + 1).datoms]


def test_records_reads_a_long_log_in_pages(
    store: SqliteStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    for tx in range(TX0 + 1, TX0 + 301):
        store.append(record(tx, n=20))
    monkeypatch.setattr(_sqlite, "_PAGE_BYTES", 1000)  # a few rows per page
    stream = store.records()
    first = next(stream)
    store.append(record(TX0 + 301))  # the writer is not blocked by an open stream
    assert [first.tx] + [r.tx for r in stream] == list(range(TX0 + 1, TX0 + 302))


def test_append_many_writes_all_or_nothing(store: SqliteStorage, reopen: Reopen) -> None:
    store.append(record(TX0 + 1))
    store.append_many([record(TX0 + 2), record(TX0 + 3, n=5)])
    with pytest.raises(StorageError, match="already holds one of them"):
        store.append_many([record(TX0 + 4), record(TX0 + 3)])
    assert [(r.tx, len(r.datoms)) for r in reopen().records()] == [(TX0 + 1, 3), (TX0 + 2, 3), (TX0 + 3, 5)]


def test_a_duplicate_tx_is_refused(store: SqliteStorage) -> None:
    store.append(record(TX0 + 1))
    with pytest.raises(StorageError, match="already holds that tx") as e:
        store.append(record(TX0 + 1, n=5))
    assert e.value.status == 503
    assert [len(r.datoms) for r in store.records()] == [3]


@given(st.lists(st.sampled_from(EDN_VALUES), max_size=8), st.booleans())
def test_any_values_round_trip_through_a_log_row(values: list[Any], added: bool) -> None:
    datoms = tuple(Datom(i, K("t/v"), v, TX0 + 9, added) for i, v in enumerate(values))
    got = _codec.decode_datoms(TX0 + 9, _codec.encode_datoms(datoms))
    assert got == datoms
    for g, d in zip(got, datoms):
        assert_same(g.v, d.v)


# ---------------------------------------------------------------- corruption


def tamper(path: str, sql: str, *params: Any) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql, params)
    conn.close()


@pytest.mark.parametrize(
    "sql, error",
    [
        ("UPDATE log SET data = replace(data, '1', '7') WHERE tx = ?", "it fails its checksum"),
        ("UPDATE log SET max_eid = 0 WHERE tx = ?", "it fails its checksum"),
        ("UPDATE log SET datoms = 4 WHERE tx = ?", "it should hold 4 datoms, holds 3"),
        ("DELETE FROM log WHERE tx = ?", "has no tx 536870914 .*rows are missing"),
    ],
)
def test_a_damaged_log_is_reported_not_skipped(
    store: SqliteStorage, reopen: Reopen, sql: str, error: str
) -> None:
    for tx in (TX0 + 1, TX0 + 2, TX0 + 3):
        store.append(record(tx))
    store.close()
    tamper(store.path, sql, TX0 + 2)
    with pytest.raises(StorageError, match=error) as e:
        list(reopen().records())
    assert e.value.status == 503


def test_a_row_with_a_valid_checksum_but_bad_edn_is_reported(
    store: SqliteStorage, reopen: Reopen
) -> None:
    store.append(record(TX0 + 1))
    store.close()
    for data, error in (("[[1 :t/n", "does not parse"), ('[[1 "t/n" 2 true]]', "expected")):
        crc = _codec.row_crc(TX0 + 1, "2024-05-01T12:30:15.123456Z", 4, data)
        tamper(store.path, "UPDATE log SET data = ?, crc = ?, max_eid = 4", data, crc)
        with pytest.raises(StorageError, match=error):
            list(reopen().records())


def test_a_file_that_is_not_a_database_is_refused(path: str) -> None:
    Path(path).write_bytes(b"this is not SQLite at all" * 100)
    with pytest.raises(StorageError, match="not a SQLite database") as e:
        SqliteStorage(path)
    assert e.value.status == 503


def test_another_applications_database_is_refused(path: str) -> None:
    tamper(path, "CREATE TABLE users (id INTEGER PRIMARY KEY)")
    with pytest.raises(StorageError, match="not a jobstreamer store .* users"):
        SqliteStorage(path)


def test_a_store_of_a_newer_format_is_refused(store: SqliteStorage) -> None:
    store.close()
    tamper(store.path, "UPDATE meta SET value = ? WHERE key = 'format'", str(_sqlite.FORMAT + 1))
    with pytest.raises(StorageError, match="newer than this jobstreamer"):
        SqliteStorage(store.path)


# ---------------------------------------------------------------- schema


def test_schema_round_trips_and_can_change(store: SqliteStorage, reopen: Reopen) -> None:
    schema = {
        K("user/email"): {K("db/unique"): K("db.unique/identity")},
        K("user/roles"): {K("db/cardinality"): K("db.cardinality/many")},
        K("job/steps"): {K("db/valueType"): K("db.type/ref"), K("db/isComponent"): True},
    }
    store.save_schema(schema)
    store = reopen()
    assert store.load_schema() == schema
    store.save_schema({K("a/b"): {K("db/index"): True}})
    assert reopen().load_schema() == {K("a/b"): {K("db/index"): True}}


# ---------------------------------------------------------------- checkpoints


def test_checkpoints_round_trip_every_value_type(store: SqliteStorage, reopen: Reopen) -> None:
    store.append(record(TX0 + 1))
    datoms = datoms_with(CHECKPOINT_VALUES, TX0 + 1)
    store.write_checkpoint(Checkpoint(TX0 + 1, max_eid=99, datoms=datoms))
    got = reopen().latest_checkpoint()
    assert got == Checkpoint(TX0 + 1, max_eid=99, datoms=datoms)
    assert got is not None
    for g, d in zip(got.datoms, datoms):
        assert type(g) is Datom
        assert_same(g.v, d.v)


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.decimals(allow_nan=False)
    | st.uuids()
    | st.datetimes(timezones=st.none() | st.just(timezone.utc))
    | st.sampled_from([K("a/b"), K("c"), Symbol("s/t"), Char("z")]),
    lambda inner: st.lists(inner, max_size=3).map(Vector)
    | st.lists(inner, max_size=3).map(List)
    | st.frozensets(st.integers() | st.text(), max_size=3)
    | st.dictionaries(st.integers() | st.sampled_from([K("k/a"), K("k/b")]), inner, max_size=3),
    max_leaves=8,
)


@given(st.lists(values, max_size=20))
def test_any_values_round_trip_through_a_checkpoint(vs: list[Any]) -> None:
    datoms = datoms_with(vs, TX0 + 5)
    got = _codec.decode_checkpoint(_codec.encode_checkpoint(datoms))
    assert tuple(got) == datoms
    for g, d in zip(got, datoms):
        assert_same(g.v, d.v)


def test_a_large_checkpoint_is_split_into_chunks(
    store: SqliteStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_codec, "CHUNK_DATOMS", 100)
    store.append(record(TX0 + 1))
    datoms = tuple(Datom(e, K("t/n"), e * 2, TX0 + 1) for e in range(1, 1051))
    store.write_checkpoint(Checkpoint(TX0 + 1, 1050, datoms))
    assert store._db["checkpoint_chunks"].count == 11
    assert store.latest_checkpoint() == Checkpoint(TX0 + 1, 1050, datoms)


def test_only_the_newest_checkpoint_is_kept(store: SqliteStorage) -> None:
    for tx in (TX0 + 1, TX0 + 2):
        store.append(record(tx))
    one, two = (Checkpoint(tx, 7, record(tx).datoms) for tx in (TX0 + 1, TX0 + 2))
    store.write_checkpoint(one)
    store.write_checkpoint(two)
    store.write_checkpoint(one)  # late, from a slow background thread: ignored
    assert store.latest_checkpoint() == two
    assert store._db["checkpoints"].count == 1


def test_a_checkpoint_written_halfway_is_invisible_and_swept_by_the_next(
    store: SqliteStorage,
) -> None:
    for tx in (TX0 + 1, TX0 + 2, TX0 + 3):
        store.append(record(tx))
    one = Checkpoint(TX0 + 1, 3, record(TX0 + 1).datoms)
    store.write_checkpoint(one)
    # What a writer killed between two chunks of the tx-2 checkpoint leaves behind:
    tamper(store.path, "INSERT INTO checkpoint_chunks VALUES (?, 0, x'00', 0)", TX0 + 2)
    assert store.latest_checkpoint() == one
    three = Checkpoint(TX0 + 3, 3, record(TX0 + 3).datoms)
    store.write_checkpoint(three)
    assert store.latest_checkpoint() == three
    assert {r["tx"] for r in store._db["checkpoint_chunks"].rows} == {TX0 + 3}


def test_a_checkpoint_overtaken_while_written_gives_way_to_the_newer_one(
    store: SqliteStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    for tx in (TX0 + 1, TX0 + 2):
        store.append(record(tx))
    newer = Checkpoint(TX0 + 2, 3, record(TX0 + 2).datoms)
    encode = _codec.encode_checkpoint

    def encode_slowly(datoms: Any) -> Iterator[bytes]:
        monkeypatch.setattr(_sqlite, "encode_checkpoint", encode)
        for blob in encode(datoms):
            yield blob
            store.write_checkpoint(newer)  # another thread, between two chunks

    monkeypatch.setattr(_codec, "CHUNK_DATOMS", 1)
    monkeypatch.setattr(_sqlite, "encode_checkpoint", encode_slowly)
    store.write_checkpoint(Checkpoint(TX0 + 1, 3, record(TX0 + 1).datoms))
    assert store.latest_checkpoint() == newer
    assert {r["tx"] for r in store._db["checkpoint_chunks"].rows} == {TX0 + 2}


def test_a_checkpoint_of_the_empty_database_writes_nothing(store: SqliteStorage) -> None:
    store.write_checkpoint(Checkpoint(TX0, 0, ()))
    assert store.latest_checkpoint() is None


def test_a_checkpoint_must_name_a_logged_tx(store: SqliteStorage) -> None:
    with pytest.raises(StorageError, match=f"checkpoint at tx {TX0 + 1}.*no such tx"):
        store.write_checkpoint(Checkpoint(TX0 + 1, 0, ()))


def test_a_value_a_checkpoint_cannot_hold_is_named(store: SqliteStorage) -> None:
    store.append(record(TX0 + 1))
    with pytest.raises(TypeError, match="cannot hold a value of type bytes"):
        store.write_checkpoint(Checkpoint(TX0 + 1, 0, (Datom(1, K("a/b"), b"raw", TX0 + 1),)))


NOT_MARSHAL, AN_INT = b"\x00\xff\x00\xff", marshal.dumps(233)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE checkpoints SET codec = 'columns-1/marshal-4/py2.7'",
        "UPDATE checkpoint_chunks SET data = x'00ff00ff'",  # fails its checksum
        f"UPDATE checkpoint_chunks SET data = x'{NOT_MARSHAL.hex()}', crc = {crc32(NOT_MARSHAL)}",
        f"UPDATE checkpoint_chunks SET data = x'{AN_INT.hex()}', crc = {crc32(AN_INT)}",
        "DELETE FROM checkpoint_chunks WHERE chunk = 1",
        "UPDATE checkpoints SET datoms = 4",
    ],
)
def test_a_checkpoint_that_cannot_be_decoded_is_ignored_with_a_warning(
    store: SqliteStorage,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    sql: str,
    reopen: Reopen,
) -> None:
    monkeypatch.setattr(_codec, "CHUNK_DATOMS", 2)
    store.append(record(TX0 + 1))
    store.write_checkpoint(Checkpoint(TX0 + 1, 3, record(TX0 + 1).datoms))
    store.close()
    tamper(store.path, sql)
    with caplog.at_level(logging.WARNING):
        assert reopen().latest_checkpoint() is None
    assert f"ignoring the checkpoint at tx {TX0 + 1}" in caplog.text
    assert "opening from the log" in caplog.text


# ---------------------------------------------------------------- the file


def test_the_file_is_in_wal_mode_with_the_chosen_sync_level(path: str, reopen: Reopen) -> None:
    store = reopen()
    other = sqlite3.connect(path)
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    other.close()
    assert store._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    store = reopen(synchronous="normal")
    assert store._db.execute("PRAGMA synchronous").fetchone() == (1,)


@pytest.mark.parametrize(
    "options, field",
    [
        ({"synchronous": "OFF"}, "synchronous"),
        ({"busy_timeout": -1}, "busy_timeout"),
        ({"cache": 1}, "cache"),
    ],
)
def test_bad_options_are_named(path: str, options: dict[str, Any], field: str) -> None:
    with pytest.raises(StoreError, match=field) as e:
        SqliteStorage(path, **options)
    assert e.value.field == field


def test_a_writer_locked_out_beyond_the_busy_timeout_gets_a_storage_error(
    path: str, reopen: Reopen
) -> None:
    store = reopen(busy_timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StorageError, match=f"cannot append tx {TX0 + 1} to .*locked") as e:
        store.append(record(TX0 + 1))
    assert e.value.status == 503
    other.execute("ROLLBACK")
    other.close()
    store.append(record(TX0 + 2))  # usable again, and the failed tx left nothing
    assert [r.tx for r in store.records()] == [TX0 + 2]


def test_a_full_disk_gets_a_storage_error_and_writes_nothing(store: SqliteStorage) -> None:
    store.append(record(TX0 + 1))
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages + 2}")  # a tiny "disk"
    with pytest.raises(StorageError, match="disk is full"):
        store.append(record(TX0 + 2, n=5000))
    store.append(record(TX0 + 2))
    assert [(r.tx, len(r.datoms)) for r in store.records()] == [(TX0 + 1, 3), (TX0 + 2, 3)]


def test_a_closed_store_says_so(store: SqliteStorage) -> None:
    store.close()
    store.close()  # idempotent
    with pytest.raises(StorageError, match="the store is closed"):
        store.append(record(TX0 + 1))


def test_an_unopenable_path_gets_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot open .*missing"):
        SqliteStorage(str(tmp_path / "missing" / "bus.db"))


def test_readers_on_other_threads_see_whole_transactions(store: SqliteStorage) -> None:
    errors: list[BaseException] = []
    seen: list[list[int]] = [[], [], []]
    done = threading.Event()

    def follow(txs: list[int]) -> None:
        # Tails the log the way an as_of/history view would, while it grows.
        try:
            while True:
                finished = done.is_set()
                for r in store.records(after_tx=txs[-1] if txs else 0):
                    assert len(r.datoms) == 50
                    txs.append(r.tx)
                if finished:
                    return
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    readers = [threading.Thread(target=follow, args=(txs,)) for txs in seen]
    for t in readers:
        t.start()
    for tx in range(TX0 + 1, TX0 + 101):
        store.append(record(tx, n=50))
    done.set()
    for t in readers:
        t.join()
    assert errors == []
    assert seen == [list(range(TX0 + 1, TX0 + 101))] * 3


# ---------------------------------------------------------------- through connect

SCHEMA = """
{:user/email {:db/unique :db.unique/identity}
 :user/roles {:db/cardinality :db.cardinality/many}
 :user/boss  {:db/valueType :db.type/ref}
 :user/age   {:db/index true}}
"""


def test_connect_transact_close_reopen_gives_the_same_datoms(path: str) -> None:
    with connect(path, schema=SCHEMA) as conn:
        conn.transact('[{:user/email "ann@x" :user/roles [:admin :ops] :user/age 41}]')
        conn.transact(
            [{"user/email": "bob@x", "user/boss": ["user/email", "ann@x"], "user/age": 30,
              "user/since": NOW, "user/id": UUID(int=7), "user/score": Decimal("9.5")}]
        )
        conn.transact('[[:db/retract [:user/email "ann@x"] :user/roles :ops]]')
        before = conn.db()
        expected = observed(before)  # history reads the log: while it is open
    with connect(path) as conn:  # the schema comes from the store
        assert conn.schema == before.schema
        assert (conn.db().basis_t, conn.db().max_eid) == (before.basis_t, before.max_eid)
        assert observed(conn.db()) == expected


def test_reopen_from_a_checkpoint_and_the_log_tail_gives_the_same_datoms(path: str) -> None:
    with connect(path, schema=SCHEMA, checkpoint_every=None) as conn:
        for i in range(20):
            conn.transact([{"user/email": f"u{i}@x", "user/age": i, "user/roles": [K("r")]}])
        conn.checkpoint()
        checkpoint_t = conn.db().basis_t
        for i in range(0, 20, 3):
            conn.transact([[K("db/retractEntity"), ["user/email", f"u{i}@x"]]])
            conn.transact([{"user/email": f"u{i + 1}@x", "user/age": 100 + i}])
        expected = observed(conn.db())
        expected_then = list(conn.db().as_of(checkpoint_t).datoms("eavt"))
    storage = SqliteStorage(path)
    checkpoint = storage.latest_checkpoint()
    storage.close()
    assert checkpoint is not None and checkpoint.tx == checkpoint_t
    with connect(path) as conn:
        assert observed(conn.db()) == expected
        assert list(conn.db().as_of(checkpoint_t).datoms("eavt")) == expected_then
