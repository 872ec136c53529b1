"""`":memory:"` storage: the log as a Python list, gone when the process ends."""

from __future__ import annotations

import bisect
import threading
from typing import Any, Iterator, Sequence

from ._storage import Checkpoint, TxRecord
from .errors import StorageError


class MemoryStorage:
    """A `LogStorage` that keeps everything in memory (tests, scratch stores)."""

    def __init__(self) -> None:
        self._schema: dict[Any, Any] | None = None
        self._records: list[TxRecord] = []
        self._txs: list[int] = []  # the tx of each record, for bisecting
        self._checkpoint: Checkpoint | None = None
        self._lock = threading.Lock()
        self._closed = False

    def load_schema(self) -> dict[Any, Any] | None:
        return self._schema

    def save_schema(self, schema_data: dict[Any, Any]) -> None:
        self._check_open()
        self._schema = schema_data

    def latest_checkpoint(self) -> Checkpoint | None:
        return self._checkpoint

    def records(self, after_tx: int = 0, upto_tx: int | None = None) -> Iterator[TxRecord]:
        with self._lock:
            start = bisect.bisect_right(self._txs, after_tx)
            end = len(self._txs) if upto_tx is None else bisect.bisect_right(self._txs, upto_tx)
            found = self._records[start:end]
        return iter(found)

    def append(self, record: TxRecord) -> None:
        self._check_open()
        with self._lock:
            if self._txs and record.tx <= self._txs[-1]:
                raise StorageError(
                    f"tx {record.tx} is not after the last logged tx {self._txs[-1]}", field="tx"
                )
            self._records.append(record)
            self._txs.append(record.tx)

    def append_many(self, records: Sequence[TxRecord]) -> None:
        # Checked whole first, so appending one by one cannot stop halfway.
        self._check_open()
        txs = [record.tx for record in records]
        if any(later <= earlier for earlier, later in zip(txs, txs[1:])):
            raise StorageError(f"the txs {txs} are not in increasing order", field="tx")
        for record in records:
            self.append(record)

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._check_open()
        self._checkpoint = checkpoint

    def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the store is closed")
