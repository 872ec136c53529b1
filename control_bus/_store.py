"""`BusStore`: the datom store behind an asyncio facade, with one writer thread.

A SQLite commit with `synchronous=FULL` fsyncs and takes milliseconds, so no
transaction runs on the event loop.  As Datasette's `database.py` does, one
dedicated thread takes writes from a queue and resolves an asyncio future on
the caller's loop.  What queued while it committed goes into its next commit
together (group commit: `Conn.transact_many`, one fsync for the batch, each
transaction still atomic on its own).  Reads never wait: `db()` is the
current immutable snapshot.

One writer also makes read-modify-write safe without locks: a *transaction
function* (`transact_with(fn)`) is called on the writer thread with the
latest value and returns the tx data to apply, so nothing can commit between
its read and its write (Datomic's transaction functions, in-process).

Listeners get every `TxReport` on the event loop that opened the store, in
commit order, and before the transacting caller resumes.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

from jobstreamer.common.store import Conn, Db, StorageError, TxReport, connect

from ._callbacks import Callbacks
from .schema import SCHEMA

# The most writes one commit takes: more would delay the first one's answer.
# Group commit is worth +10-25% runs/s at 32 concurrent runs when an fsync
# takes 2 ms, and is neutral where it takes 0.1 ms (bus + agent, hello/greet).
MAX_BATCH = 64

TxData: TypeAlias = list[Any] | tuple[Any, ...] | str
TxFunction: TypeAlias = Callable[[Db], TxData | None]
Listener: TypeAlias = Callable[[TxReport], None]


@dataclass(frozen=True, slots=True)
class _Write:
    """One queued write: tx data or a transaction function, and where to answer."""

    tx: TxData | TxFunction
    future: asyncio.Future[TxReport | None]
    loop: asyncio.AbstractEventLoop


class BusStore:
    """The bus's store: `async with BusStore.open(url) as store:`.

    `await store.transact(tx_data)` and `await store.transact_with(fn)` run on
    the writer thread; `store.db()` returns the current snapshot at once;
    `store.listen(callback)` reports every transaction on the event loop.
    Errors raised by the store (`StoreError` and its subclasses) reach the
    caller unchanged, with their HTTP status.
    """

    def __init__(self, conn: Conn, loop: asyncio.AbstractEventLoop) -> None:
        """Use `BusStore.open`; this wraps an already open connection."""
        self._conn = conn
        self._loop = loop
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._listeners: Callbacks[TxReport] = Callbacks("bus store listener")
        self._closed = False
        conn.listen(self._on_report)
        self._thread = threading.Thread(target=self._run, name="bus-store-writer", daemon=True)
        self._thread.start()

    @classmethod
    @asynccontextmanager
    async def open(
        cls, url: str, *, schema: Mapping[Any, Any] | None = SCHEMA, **options: Any
    ) -> AsyncIterator[BusStore]:
        """Open the store at `url` (":memory:", a SQLite path) for this event loop.

        `options` go to `jobstreamer.common.store.connect` (e.g. `synchronous`).
        Opening rebuilds the indexes, which can take seconds: it runs off the loop.
        """
        conn = await asyncio.to_thread(connect, url, schema=schema, **options)
        store = cls(conn, asyncio.get_running_loop())
        try:
            yield store
        finally:
            await store._close()

    # -- reading --

    def db(self) -> Db:
        """The current database value; never blocks."""
        return self._conn.db()

    # -- writing --

    async def transact(self, tx_data: TxData) -> TxReport:
        """Commit `tx_data` on the writer thread; raises (changing nothing) on error.

        Cancelling the caller does not cancel a transaction already queued.
        """
        report = await self._submit(tx_data)
        assert report is not None  # only a transaction function may decline
        return report

    async def transact_with(self, fn: TxFunction) -> TxReport | None:
        """Commit what `fn(latest_db)` returns, with no other write in between.

        `fn` runs on the writer thread, so it must be quick and must not touch
        the event loop.  When it returns None or empty tx data nothing is
        written and the result is None.  An exception it raises reaches the caller.
        """
        return await self._submit(fn)

    async def _submit(self, tx: TxData | TxFunction) -> TxReport | None:
        if self._closed:
            raise StorageError("the bus store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[TxReport | None] = loop.create_future()
        self._queue.put(_Write(tx, future, loop))
        return await future

    # -- listening --

    def listen(self, callback: Listener) -> Callable[[], None]:
        """Call `callback(report)` on the event loop after every commit.

        Returns a function that removes the listener.  A listener that raises
        is logged and kept.
        """
        return self._listeners.add(callback)

    # -- the writer thread --

    def _run(self) -> None:
        closing = False
        while not closing and (write := self._queue.get()) is not None:
            batch = [write]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    closing = True  # after this batch: it was queued before the close
                    break
                batch.append(more)
            self._commit(batch)
        self._conn.close()

    def _commit(self, batch: list[_Write]) -> None:
        try:
            results = self._conn.transact_many([write.tx for write in batch])
        except Exception as exc:  # every failure belongs to the callers
            results = [exc] * len(batch)
        for write, result in zip(batch, results):
            if isinstance(result, Exception):
                _answer(write, None, result)
            else:
                _answer(write, result, None)

    def _on_report(self, report: TxReport) -> None:
        # Called on the writer thread inside the commit; the loop does the rest.
        try:
            self._loop.call_soon_threadsafe(self._listeners, report)
        except RuntimeError:
            pass  # the loop is closed: nobody is left to tell

    async def _close(self) -> None:
        # Writes queued before the close still commit; later ones are refused.
        self._closed = True
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)
        self._listeners.clear()


def _answer(write: _Write, result: TxReport | None, error: Exception | None) -> None:
    def settle() -> None:
        if write.future.done():  # the caller was cancelled
            return
        if error is None:
            write.future.set_result(result)
        else:
            write.future.set_exception(error)

    try:
        write.loop.call_soon_threadsafe(settle)
    except RuntimeError:
        pass  # the caller's loop is closed
