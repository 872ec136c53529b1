"""A connection: the current database value, the log behind it, and listeners.

One writer at a time (a lock); readers take `db()` snapshots without locking.
A transaction is resolved against the current value, made durable with
`storage.append`, and only then published and reported to listeners, so a
failure anywhere leaves the connection exactly as it was.  `transact_many`
commits several in one storage write (group commit: one fsync for all).

Checkpoints are written from an immutable snapshot, so an automatic one runs
on a background thread while transactions go on (docs/store.md, "Checkpoints").
"""

from __future__ import annotations

import functools
import gc
import itertools
import logging
import threading
from typing import Any, Callable, Iterable, Mapping, Sequence

from ._build import build_db, gc_paused
from ._index import Db
from ._memory import MemoryStorage
from ._migrate import rebuild
from ._schema import Schema
from ._storage import Checkpoint, LogStorage, TxRecord
from ._transact import TxReport, transact
from .errors import SchemaError, StorageError, StoreError

log = logging.getLogger(__name__)

Listener = Callable[[TxReport], Any]
# A transaction function: called with the latest value, returns the tx data to apply.
TxFunction = Callable[[Db], Any]

# Datoms logged since the last checkpoint before an automatic one is written.
# The threshold also grows with the database (see `_maybe_checkpoint`), so
# the cost of checkpoints stays proportional to what is transacted.
DEFAULT_CHECKPOINT_EVERY = 100_000

# From this many datoms, opening moves what it built out of the cyclic GC's
# reach (gc.freeze): otherwise the collector's next passes rescan every
# datom, 0.65-1.1 s per pass for 1M (docs/store.md, "Performance").
FREEZE_AT = 100_000


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
        self._checkpointer: threading.Thread | None = None
        # Held while a checkpoint is written, by the background thread or by
        # `checkpoint()`: two writers of one checkpoint would collide.
        self._checkpoint_lock = threading.Lock()
        self._closed = False
        self._db, self._since_checkpoint = self._open(schema)

    def _open(self, schema: Schema | None) -> tuple[Db, int]:
        """The current value under `schema` (None: the stored one), which is checked and saved.

        The log holds datoms resolved under the stored schema, so they are
        replayed under it; a different schema then gets the data rebuilt and
        checked against it, and is saved only if the data fits it.
        """
        data = self._storage.load_schema()
        stored = Schema(data) if data is not None else Schema()
        with gc_paused():  # until frozen, or the first collection rescans all that was built
            db, logged = self._replay(stored)
            if schema is not None and schema != stored:
                db = rebuild(db, schema)
            if db.datom_count >= FREEZE_AT:
                gc.freeze()
        if data is None or (schema is not None and schema != stored):
            self._storage.save_schema(db.schema.data())
        return db, logged

    def _replay(self, schema: Schema) -> tuple[Db, int]:
        """The latest checkpoint plus the log after it, and how many datoms that log tail holds."""
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
            self._append([report])
            self._publish([report])
        return report

    def transact_many(self, txs: Sequence[Any | TxFunction]) -> list[TxReport | None | Exception]:
        """Apply several transactions in order, made durable in one storage write.

        Each item is tx data, or a transaction function `fn(db)` returning the
        tx data, called with the value the items before it made.  Each is
        atomic on its own: one that raises changes nothing, its exception is
        its result, and the rest go on; a function that returns None or empty
        data writes nothing and its result is None.  The others' reports are
        published and reported to listeners, in order, once all of them are
        durable; if that write fails, each of them gets its StorageError and
        nothing changes.
        """
        with self._lock:
            self._check_open()
            db = self._db
            results: list[TxReport | None | Exception] = []
            for tx in txs:
                try:
                    tx_data = tx(db) if callable(tx) else tx
                    report = None if callable(tx) and not tx_data else transact(db, tx_data)
                except Exception as e:  # the item's own failure, reported to its caller
                    results.append(e)
                    continue
                results.append(report)
                if report is not None:
                    db = report.db_after
            reports = [r for r in results if isinstance(r, TxReport)]
            if reports:
                try:
                    self._append(reports)
                except StorageError as e:
                    return [e if isinstance(r, TxReport) else r for r in results]
                self._publish(reports)
        return results

    def _append(self, reports: list[TxReport]) -> None:
        """Make consecutive reports durable (under the lock); raises and changes nothing on error."""
        records = [
            TxRecord(
                tx=report.tx,
                instant=report.tx_instant,
                datoms=tuple(report.tx_data),
                max_eid=report.db_after.max_eid,
            )
            for report in reports
        ]
        if len(records) == 1:
            self._storage.append(records[0])
        else:
            self._storage.append_many(records)

    def _publish(self, reports: list[TxReport]) -> None:
        """Make durable reports current and tell the listeners, in order (under the lock)."""
        self._db = reports[-1].db_after
        self._since_checkpoint += sum(len(report.tx_data) for report in reports)
        self._maybe_checkpoint()
        for report in reports:
            self._notify(report)

    def _maybe_checkpoint(self) -> None:
        """Start a background checkpoint when one is due (under the lock)."""
        if self._checkpoint_every is None:
            return
        # Waiting for as many logged datoms as the database holds keeps the
        # checkpoint cost amortised O(1) per transacted datom.
        if self._since_checkpoint < max(self._checkpoint_every, self._db.datom_count):
            return
        if self._checkpointer is not None and self._checkpointer.is_alive():
            return  # one at a time: a later transaction starts the next one
        db = self._db  # immutable, so the thread may read it while transactions go on
        self._since_checkpoint = 0
        # A daemon: a process that never closes its conn exits anyway, and a
        # checkpoint cut short is invisible (docs/store.md, "Checkpoints").
        self._checkpointer = threading.Thread(
            target=self._background_checkpoint, args=(db,), name="store-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _background_checkpoint(self, db: Db) -> None:
        try:
            self._write_checkpoint(db)
        except Exception:
            # The transactions are committed; a missing checkpoint only slows the next open.
            log.exception("automatic checkpoint at tx %s failed", db.basis_t)

    def _write_checkpoint(self, db: Db) -> None:
        with self._checkpoint_lock:
            # Copying 1M datoms takes ~0.2 s: done here, off the writer's lock.
            datoms = tuple(db.all_datoms())
            checkpoint = Checkpoint(tx=db.basis_t, max_eid=db.max_eid, datoms=datoms)
            self._storage.write_checkpoint(checkpoint)

    def checkpoint(self) -> None:
        """Write a checkpoint of the current value; returns once it is stored.

        Transactions go on meanwhile (from other threads): only taking the
        snapshot holds the writer's lock.  Raises what the storage raises.
        """
        with self._lock:
            self._check_open()
            db = self._db
            self._since_checkpoint = 0
        self._write_checkpoint(db)

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
        """Close the store, once any checkpoint being written is done."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._listeners.clear()
            if self._checkpointer is not None:
                self._checkpointer.join()  # it never takes self._lock
            with self._checkpoint_lock:  # a `checkpoint()` running on another thread
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
