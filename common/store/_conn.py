"""A connection: the current database value, the log behind it, and listeners.

One writer at a time (a lock); readers take `db()` snapshots without locking.
A transaction is resolved against the current value, made durable with
`storage.append`, and only then published and reported to listeners, so a
failure anywhere leaves the connection exactly as it was.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from typing import Any, Callable, Iterable, Mapping

from ._index import Db, build_db
from ._memory import MemoryStorage
from ._schema import Schema
from ._storage import Checkpoint, LogStorage, TxRecord
from ._transact import TxReport, transact
from .errors import SchemaError, StorageError, StoreError

log = logging.getLogger(__name__)

Listener = Callable[[TxReport], Any]

# Datoms logged since the last checkpoint before an automatic one is written.
# The threshold also grows with the database (see `_maybe_checkpoint`), so
# the cost of checkpoints stays proportional to what is transacted.
DEFAULT_CHECKPOINT_EVERY = 100_000


def _records_upto(storage: LogStorage, t: int) -> Iterable[TxRecord]:
    return storage.records(0, t)


class Conn:
    """A connection to one store.  Use `connect()` to make one."""

    def __init__(
        self,
        storage: LogStorage,
        schema: Schema | None = None,
        *,
        checkpoint_every: int | None = DEFAULT_CHECKPOINT_EVERY,
    ) -> None:
        self._storage = storage
        self._lock = threading.RLock()  # re-entrant: a listener may transact
        self._listeners: dict[Any, Listener] = {}
        self._checkpoint_every = checkpoint_every
        self._closed = False
        self._db, self._since_checkpoint = self._open(self._settle_schema(schema))

    def _settle_schema(self, schema: Schema | None) -> Schema:
        """The schema to use: the one given (stored if new or changed), else the stored one."""
        stored = self._storage.load_schema()
        if schema is None:
            schema = Schema(stored) if stored is not None else Schema()
        if stored is None or Schema(stored) != schema:
            self._storage.save_schema(schema.data())
        return schema

    def _open(self, schema: Schema) -> tuple[Db, int]:
        """Rebuild the current value: the latest checkpoint plus the log after it."""
        history = functools.partial(_records_upto, self._storage)
        checkpoint = self._storage.latest_checkpoint()
        if checkpoint is None:
            db = Db.empty(schema, history)
        else:
            db = build_db(
                schema,
                checkpoint.datoms,
                basis_t=checkpoint.tx,
                max_eid=checkpoint.max_eid,
                history_source=history,
            )
        records = list(self._storage.records(db.basis_t))
        if not records:
            return db, 0
        # One editor for the whole tail: per-record publishing would dominate
        # when the log holds many small transactions.
        datoms = list(itertools.chain.from_iterable(r.datoms for r in records))
        last = records[-1]
        return db.with_datoms(datoms, last.tx, last.max_eid), len(datoms)

    # -- reading --

    def db(self) -> Db:
        """The current database value: an immutable snapshot."""
        return self._db

    @property
    def schema(self) -> Schema:
        return self._db.schema

    # -- writing --

    def transact(self, tx_data: Any) -> TxReport:
        """Apply `tx_data` (EDN text or Python data) atomically; raises and changes nothing on error."""
        with self._lock:
            self._check_open()
            report = transact(self._db, tx_data)
            db = report.db_after
            self._storage.append(
                TxRecord(
                    tx=report.tx,
                    instant=report.tx_instant,
                    datoms=tuple(report.tx_data),
                    max_eid=db.max_eid,
                )
            )
            self._db = db
            self._since_checkpoint += len(report.tx_data)
            self._maybe_checkpoint()
            self._notify(report)
        return report

    def _maybe_checkpoint(self) -> None:
        if self._checkpoint_every is None:
            return
        # Waiting for as many logged datoms as the database holds keeps the
        # checkpoint cost amortised O(1) per transacted datom.
        if self._since_checkpoint >= max(self._checkpoint_every, self._db.datom_count):
            try:
                self.checkpoint()
            except StorageError:
                # The transaction is committed; a missing checkpoint only slows the next open.
                log.exception("automatic checkpoint failed")

    def checkpoint(self) -> None:
        """Write a checkpoint of the current value now, so a reopen skips the log before it."""
        with self._lock:
            self._check_open()
            db = self._db
            self._storage.write_checkpoint(
                Checkpoint(tx=db.basis_t, max_eid=db.max_eid, datoms=tuple(db.all_datoms()))
            )
            self._since_checkpoint = 0

    # -- listeners --

    def listen(self, callback: Listener, key: Any = None) -> Any:
        """Call `callback(report)` after every transaction; returns the key for `unlisten`."""
        if key is None:
            key = object()
        with self._lock:
            self._listeners[key] = callback
        return key

    def unlisten(self, key: Any) -> None:
        with self._lock:
            self._listeners.pop(key, None)

    def _notify(self, report: TxReport) -> None:
        for callback in list(self._listeners.values()):
            try:
                callback(report)
            except Exception:
                log.exception("transaction listener %r failed", callback)

    # -- lifecycle --

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._listeners.clear()
                self._storage.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the connection is closed")

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Conn:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Conn {self._storage!r} basis_t={self._db.basis_t}>"


def _schema_of(schema: Any) -> Schema | None:
    if schema is None or isinstance(schema, Schema):
        return schema
    if isinstance(schema, str):
        from .. import edn

        schema = edn.loads(schema)
    if not isinstance(schema, Mapping):
        raise SchemaError(f"a schema must be a map, got {type(schema).__name__}", field="schema")
    return Schema(schema)


def _storage_for(url: str, options: dict[str, Any]) -> LogStorage:
    if not isinstance(url, str) or not url:
        raise StoreError(f"expected a store URL or path, got {url!r}", field="url")
    if url == ":memory:":
        if options:
            raise StoreError(f"unknown option(s) for :memory: {sorted(options)}", field="options")
        return MemoryStorage()
    if url.startswith(("postgresql://", "postgres://")):
        raise StorageError("PostgreSQL storage arrives with the failover issue", field="url")
    from ._sqlite import SqliteStorage

    path = url[len("sqlite://"):] if url.startswith("sqlite:///") else url
    return SqliteStorage(path, **options)


def connect(
    url: str = ":memory:",
    *,
    schema: Any = None,
    checkpoint_every: int | None = DEFAULT_CHECKPOINT_EVERY,
    **options: Any,
) -> Conn:
    """Open a store: `":memory:"`, a SQLite file path (or `sqlite:///abs/path`).

    `schema` is a dict, EDN text or a `Schema`; without one the stored schema
    is used.  Other keyword options go to the storage.
    """
    parsed = _schema_of(schema)
    storage = _storage_for(url, options)
    try:
        return Conn(storage, parsed, checkpoint_every=checkpoint_every)
    except BaseException:
        storage.close()
        raise
