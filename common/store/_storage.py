"""The durable log behind a connection, as a small interface.

The store keeps an append-only log of transactions plus, now and then, a
checkpoint (a snapshot of the current datoms) so that opening a long history
is fast.  `Conn` talks only to `LogStorage`; SQLite (`_sqlite.py`) is the
default, memory (`_memory.py`) serves `":memory:"`, and a PostgreSQL log can
be added without touching query code.  docs/store.md documents the format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator, Protocol, Sequence

from ._datom import Datom


@dataclass(frozen=True, slots=True)
class TxRecord:
    """One committed transaction, as the log keeps it."""

    tx: int  # the transaction id (>= TX0), also its `t`
    instant: datetime  # wall-clock commit time, UTC
    datoms: tuple[Datom, ...]  # every datom the tx asserted or retracted, in order
    max_eid: int  # the highest entity id allocated once this tx is applied


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Every current datom as of `tx`, written so a reopen skips the log before it."""

    tx: int
    max_eid: int
    # Current (added) datoms only, in any order (`Db.all_datoms()` lists them
    # attribute by attribute, each in entity order).
    datoms: tuple[Datom, ...]


class LogStorage(Protocol):
    """Where transactions become durable.  One writer at a time."""

    def load_schema(self) -> dict[Any, Any] | None:
        """The stored schema data, or None for a new store."""
        ...

    def save_schema(self, schema_data: dict[Any, Any]) -> None:
        """Record the schema (as data) durably; called on first open and on change."""
        ...

    def latest_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint, or None."""
        ...

    def records(self, after_tx: int = 0, upto_tx: int | None = None) -> Iterator[TxRecord]:
        """Committed transactions with after_tx < tx <= upto_tx, oldest first."""
        ...

    def append(self, record: TxRecord) -> None:
        """Make one transaction durable, atomically: all of it or none of it.

        Raises StorageError if it could not; the caller then discards the tx.
        """
        ...

    def append_many(self, records: Sequence[TxRecord]) -> None:
        """Make consecutive transactions durable in one write (one fsync): all or none.

        `Conn.transact_many` commits a batch with it (group commit).
        """
        ...

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store a checkpoint; older ones may be dropped.

        Called from a background thread while `append` goes on in another.
        """
        ...

    def close(self) -> None: ...
