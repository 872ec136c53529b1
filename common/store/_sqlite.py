"""`LogStorage` in one SQLite file: the default durable store (issue #2, docs/store.md).

Tables: `meta` (format version, schema), `log` (one EDN row per transaction),
`checkpoints` + `checkpoint_chunks` (the current datoms at some tx, marshal).

One connection serves every thread (`check_same_thread=False`) behind a lock
held only for the SQL itself: encoding and decoding run outside it, so a
reader streaming `records()` or a background checkpoint never stalls the
writer for longer than one page or one checkpoint chunk.  Every write is `BEGIN IMMEDIATE ...
COMMIT`, so SQLite's journal guarantees a transaction is in the file whole or
not at all, whenever the process dies.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any, Iterator, Sequence

from sqlite_utils import Database

from ._codec import (
    CHECKPOINT_CODEC,
    CorruptData,
    decode_checkpoint,
    decode_datoms,
    encode_checkpoint,
    encode_datoms,
    row_crc,
)
from ._datom import TX0
from ._storage import Checkpoint, TxRecord
from .errors import StorageError, StoreError

log = logging.getLogger(__name__)

# Bumped whenever the tables or the encodings change; an older store is then
# migrated on open, a newer one refused (the HA issue needs versioned migrations).
FORMAT = 1

# records() fetches pages of about this much EDN at a time, so streaming a long
# log neither loads it whole nor runs one query per row.
_PAGE_BYTES = 4 << 20

_SQLITE_REASONS = {
    "SQLITE_BUSY": "it is locked by another writer beyond the busy timeout",
    "SQLITE_LOCKED": "it is locked by another writer beyond the busy timeout",
    "SQLITE_FULL": "the disk is full",
    "SQLITE_NOTADB": "it is not a SQLite database",
    "SQLITE_CORRUPT": "the file is corrupt",
    "SQLITE_CANTOPEN": "the file cannot be opened",
    "SQLITE_READONLY": "the file is read-only",
    "SQLITE_IOERR": "an I/O error occurred",
}


@dataclass(frozen=True, slots=True)
class SqliteOptions:
    """The settings `SqliteStorage(path, **options)` accepts, declared once."""

    # Seconds a write waits for another connection's lock before StorageError.
    busy_timeout: float = 5.0
    # FULL: a commit is fsynced before append() returns, so an acknowledged
    # transaction survives power loss; NORMAL survives only a process crash
    # (docs/store.md, "Why it is built this way", has the measured cost).
    synchronous: str = "FULL"

    def __post_init__(self) -> None:
        if str(self.synchronous).upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise StoreError(
                f"synchronous must be NORMAL, FULL or EXTRA, got {self.synchronous!r}",
                field="synchronous",
            )
        if not isinstance(self.busy_timeout, (int, float)) or not self.busy_timeout >= 0:
            raise StoreError(
                f"busy_timeout must be >= 0 seconds, got {self.busy_timeout!r}",
                field="busy_timeout",
            )


OPTION_NAMES = frozenset(f.name for f in fields(SqliteOptions))


class SqliteStorage:
    """A store file: append-only EDN log, schema as data, checkpoints."""

    def __init__(self, path: str, **options: Any) -> None:
        unknown = set(options) - OPTION_NAMES
        if unknown:
            raise StoreError(
                f"unknown SQLite store option {sorted(unknown)[0]!r}; "
                f"known: {', '.join(sorted(OPTION_NAMES))}",
                field=sorted(unknown)[0],
            )
        self.path = path
        self.options = SqliteOptions(**options)
        self._lock = threading.Lock()
        self._closed = False
        with self._sql("open"):
            # isolation_level=None: no implicit transactions, every write
            # below opens its own BEGIN IMMEDIATE.
            conn = sqlite3.connect(
                path,
                timeout=self.options.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        try:
            self._db = Database(conn, recursive_triggers=False, execute_plugins=False)
            self._setup()
        except BaseException:
            conn.close()
            raise

    # ----------------------------------------------------------- LogStorage

    def load_schema(self) -> dict[Any, Any] | None:
        with self._sql("read the schema from"):
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            return None
        schema = self._read_meta("schema", row[0])
        if not isinstance(schema, dict):
            raise StorageError(f"the schema stored in {self.path} is not a map: {row[0][:200]}")
        return schema

    def save_schema(self, schema_data: dict[Any, Any]) -> None:
        from ..edn import dumps

        text = dumps(schema_data)
        with self._write("save the schema to"):
            self._db["meta"].upsert({"key": "schema", "value": text}, pk="key")

    def latest_checkpoint(self) -> Checkpoint | None:
        with self._sql("read the checkpoint from"):
            self._db.execute("BEGIN")  # the header and its chunks from one snapshot
            try:
                header = self._db.execute(
                    "SELECT tx, max_eid, datoms, chunks, codec FROM checkpoints"
                    " ORDER BY tx DESC LIMIT 1"
                ).fetchone()
                chunks = [] if header is None else self._db.execute(
                    "SELECT chunk, data, crc FROM checkpoint_chunks WHERE tx = ? ORDER BY chunk",
                    [header[0]],
                ).fetchall()
            finally:
                self._db.execute("COMMIT")
        if header is None:
            return None
        tx, max_eid, count, n_chunks, codec = header
        try:
            if codec != CHECKPOINT_CODEC:
                raise CorruptData(f"it was written by codec {codec}, this is {CHECKPOINT_CODEC}")
            if [c[0] for c in chunks] != list(range(n_chunks)):
                raise CorruptData(f"expected chunks 0..{n_chunks - 1}, found {len(chunks)}")
            for chunk, data, crc in chunks:
                if zlib.crc32(data) != crc:
                    raise CorruptData(f"chunk {chunk} fails its checksum")
            datoms = decode_checkpoint(c[1] for c in chunks)
            if len(datoms) != count:
                raise CorruptData(f"expected {count} datoms, decoded {len(datoms)}")
        except CorruptData as e:
            # Derived data only: the log rebuilds the same state, just slower.
            log.warning(
                "ignoring the checkpoint at tx %s in %s: %s; opening from the log",
                tx, self.path, e,
            )
            return None
        return Checkpoint(tx=tx, max_eid=max_eid, datoms=tuple(datoms))

    def records(self, after_tx: int = 0, upto_tx: int | None = None) -> Iterator[TxRecord]:
        upto = (1 << 63) - 1 if upto_tx is None else upto_tx
        page, last = 64, after_tx
        previous: int | None = None
        while True:
            with self._sql("read the log of"):
                rows = self._db.execute(
                    "SELECT tx, instant, max_eid, datoms, data, crc FROM log"
                    " WHERE tx > ? AND tx <= ? ORDER BY tx LIMIT ?",
                    [last, upto, page],
                ).fetchall()
            if not rows:
                return
            for row in rows:
                record = self._decode_row(*row)
                if previous is not None and record.tx != previous + 1:
                    raise StorageError(
                        f"the log of {self.path} has no tx {previous + 1}"
                        f" (tx {record.tx} follows tx {previous}): rows are missing"
                    )
                previous = record.tx
                yield record
            last = rows[-1][0]
            size = sum(len(r[4]) for r in rows)
            page = max(1, min(4096, page * _PAGE_BYTES // max(size, 1)))

    def append(self, record: TxRecord) -> None:
        self.append_many((record,))

    def append_many(self, records: Sequence[TxRecord]) -> None:
        rows = [_log_row(record) for record in records]  # encoded outside the lock
        txs = f"tx {records[0].tx}" if len(records) == 1 else f"txs {records[0].tx}..{records[-1].tx}"
        with self._write(f"append {txs} to"):
            try:
                # Raw sqlite3 here: the hot path, 9 us instead of 41 us with Table.insert
                # (docs/store.md, "Why it is built this way").
                self._db.conn.executemany(
                    "INSERT INTO log (tx, instant, max_eid, datoms, data, crc)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except sqlite3.IntegrityError as e:
                which = "that tx" if len(records) == 1 else "one of them"
                raise StorageError(
                    f"cannot append {txs} to {self.path}: the log already holds"
                    f" {which} (is another process writing this store?)"
                ) from e

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store `checkpoint`; safe on a background thread while others append.

        Each chunk is encoded outside the lock and inserted in its own short
        transaction, so a writer waits for one chunk at most (~10 ms), never
        for the whole checkpoint.  The header goes in last: until then readers
        do not see the new checkpoint, and a writer killed midway leaves only
        unnamed chunks, which the next checkpoint sweeps away.
        """
        tx = checkpoint.tx
        if tx <= TX0 and not checkpoint.datoms:
            return  # the empty database: reopening it reads nothing anyway
        action = f"write the checkpoint at tx {tx} to"
        with self._write(action):
            if not self._checkpoint_wanted(tx):
                return
        self._drop_unnamed_chunks(tx, action)  # a previous attempt's, if it died midway
        chunks = 0
        for chunks, blob in enumerate(encode_checkpoint(checkpoint.datoms), 1):
            with self._write(action):
                if not self._checkpoint_wanted(tx):
                    break  # a newer checkpoint overtook this one
                self._db.conn.execute(
                    "INSERT INTO checkpoint_chunks (tx, chunk, data, crc) VALUES (?, ?, ?, ?)",
                    (tx, chunks - 1, blob, zlib.crc32(blob)),
                )
        else:
            with self._write(action):
                self._name_checkpoint(checkpoint, chunks)
        # The older checkpoints' chunks, or this one's if it was overtaken.
        self._drop_unnamed_chunks(tx, action)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __repr__(self) -> str:
        return f"SqliteStorage({self.path!r})"

    # ----------------------------------------------------------- internals

    def _setup(self) -> None:
        db = self._db
        with self._sql("open"):
            db.enable_wal()
            if db.journal_mode != "wal":
                raise StorageError(
                    f"cannot open {self.path}: SQLite refused WAL mode"
                    " (is it on a network file system?)"
                )
            db.execute(f"PRAGMA synchronous = {self.options.synchronous.upper()}")
        with self._write("create the tables of"):
            tables = set(db.table_names())
            if not tables:
                self._create_tables()
            elif "meta" not in tables:
                raise StorageError(
                    f"cannot open {self.path}: it is a SQLite database but not a jobstreamer"
                    f" store (it has tables {', '.join(sorted(tables))} and no meta)"
                )
        with self._sql("read the format of"):
            row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        version = row and self._read_meta("format", row[0])
        if type(version) is not int:
            raise StorageError(f"cannot open {self.path}: its meta table has no format version")
        if version > FORMAT:
            raise StorageError(
                f"cannot open {self.path}: its format {version} is newer than this"
                f" jobstreamer understands ({FORMAT}); upgrade jobstreamer"
            )
        # version < FORMAT would run the migrations here; format 1 is the first.

    def _create_tables(self) -> None:
        db = self._db
        db["meta"].create({"key": str, "value": str}, pk="key", not_null={"value"}, strict=True)
        db["log"].create(
            {"tx": int, "instant": str, "max_eid": int, "datoms": int, "data": str, "crc": int},
            pk="tx",
            not_null={"instant", "max_eid", "datoms", "data", "crc"},
            strict=True,
        )
        db["checkpoints"].create(
            {"tx": int, "max_eid": int, "datoms": int, "chunks": int, "codec": str, "written": str},
            pk="tx",
            not_null={"max_eid", "datoms", "chunks", "codec", "written"},
            strict=True,
        )
        db["checkpoint_chunks"].create(
            {"tx": int, "chunk": int, "data": bytes, "crc": int},
            pk=("tx", "chunk"),
            not_null={"data", "crc"},
            strict=True,
        )
        db["meta"].insert({"key": "format", "value": str(FORMAT)})

    def _name_checkpoint(self, checkpoint: Checkpoint, chunks: int) -> None:
        """Make a checkpoint whose chunks are written visible, replacing older ones."""
        execute = self._db.conn.execute
        written = execute("SELECT count(*) FROM checkpoint_chunks WHERE tx = ?", [checkpoint.tx])
        if not self._checkpoint_wanted(checkpoint.tx) or written.fetchone()[0] != chunks:
            return  # overtaken at the last moment
        self._db["checkpoints"].insert(
            {
                "tx": checkpoint.tx,
                "max_eid": checkpoint.max_eid,
                "datoms": len(checkpoint.datoms),
                "chunks": chunks,
                "codec": CHECKPOINT_CODEC,
                "written": _instant_text(datetime.now(timezone.utc)),
            }
        )
        execute("DELETE FROM checkpoints WHERE tx < ?", [checkpoint.tx])

    def _drop_unnamed_chunks(self, upto_tx: int, action: str) -> None:
        """Delete chunks no checkpoint names, up to `upto_tx`: one per transaction.

        Deleting a whole checkpoint's chunks at once held the write lock for
        ~110 ms (1M datoms); one at a time, ~10 ms each.
        """
        execute = self._db.conn.execute
        while True:
            with self._write(action):
                chunk = execute(
                    "SELECT tx, chunk FROM checkpoint_chunks"
                    " WHERE tx <= ? AND tx NOT IN (SELECT tx FROM checkpoints) LIMIT 1",
                    [upto_tx],
                ).fetchone()
                if chunk is None:
                    return
                execute("DELETE FROM checkpoint_chunks WHERE tx = ? AND chunk = ?", chunk)

    def _checkpoint_wanted(self, tx: int) -> bool:
        """Whether a checkpoint at `tx` is worth writing (inside a write transaction)."""
        execute = self._db.conn.execute
        if execute("SELECT 1 FROM log WHERE tx = ?", [tx]).fetchone() is None:
            raise StorageError(
                f"cannot write a checkpoint at tx {tx} to {self.path}: the log holds no such tx"
            )
        newest = execute("SELECT max(tx) FROM checkpoints").fetchone()[0]
        return newest is None or newest < tx  # else a newer one exists already

    def _read_meta(self, key: str, text: str) -> Any:
        from ..edn import loads

        try:
            return loads(text)
        except Exception as e:  # any reader failure means the stored text is damaged
            raise StorageError(f"the {key} stored in {self.path} is not EDN: {e}") from e

    def _decode_row(
        self, tx: int, instant: str, max_eid: int, count: int, data: str, crc: int
    ) -> TxRecord:
        try:
            if row_crc(tx, instant, max_eid, data) != crc:
                raise CorruptData("it fails its checksum")
            datoms = decode_datoms(tx, data)
            if len(datoms) != count:
                raise CorruptData(f"it should hold {count} datoms, holds {len(datoms)}")
            when = datetime.fromisoformat(instant)
        except (CorruptData, ValueError) as e:
            raise StorageError(f"the log row of tx {tx} in {self.path} is corrupt: {e}") from e
        return TxRecord(tx=tx, instant=when, datoms=datoms, max_eid=max_eid)

    @contextmanager
    def _sql(self, action: str) -> Iterator[None]:
        """Hold the connection and turn any SQLite failure into a StorageError."""
        with self._lock:
            if self._closed:
                raise StorageError(f"cannot {action} {self.path}: the store is closed")
            try:
                yield
            except sqlite3.Error as e:
                raise StorageError(f"cannot {action} {self.path}: {_reason(e)}") from e

    @contextmanager
    def _write(self, action: str) -> Iterator[None]:
        """One write transaction: all of it is committed, or none of it."""
        with self._sql(action):
            conn = self._db.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise


def _log_row(record: TxRecord) -> tuple[int, str, int, int, str, int]:
    data = encode_datoms(record.datoms)
    instant = _instant_text(record.instant)
    crc = row_crc(record.tx, instant, record.max_eid, data)
    return (record.tx, instant, record.max_eid, len(record.datoms), data, crc)


def _instant_text(instant: datetime) -> str:
    """ISO-8601 in UTC, so the column sorts and reads the same everywhere."""
    if instant.tzinfo is not None:
        instant = instant.astimezone(timezone.utc)
    return instant.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _reason(e: sqlite3.Error) -> str:
    # Extended codes (SQLITE_IOERR_WRITE) share their primary code's reason.
    primary = "_".join(getattr(e, "sqlite_errorname", "").split("_")[:2])
    reason = _SQLITE_REASONS.get(primary)
    return f"{reason} ({e})" if reason else str(e)
