"""When checkpoints are written: automatically in the background, or on request.

An automatic checkpoint must never stall the writer (docs/store.md,
"Checkpoints"), so these tests hold one at a gate and check the order of
events: a transaction finishes while the checkpoint waits, and `close()`
closes the storage only after the checkpoint is written.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Any

import pytest

from jobstreamer.common.edn import K
from jobstreamer.common.store import TX0, Conn, StorageError, connect
from jobstreamer.common.store import _conn
from jobstreamer.common.store._memory import MemoryStorage
from jobstreamer.common.store._sqlite import SqliteStorage
from jobstreamer.common.store._storage import Checkpoint

from .conftest import facts


class GatedStorage(MemoryStorage):
    """Holds every checkpoint at a gate until the test opens it, recording what happens."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = threading.Event()
        self.gate = threading.Event()
        self.events: list[Any] = []

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        self.events.append(("checkpoint started", checkpoint.tx))
        self.writing.set()
        if not self.gate.wait(10):
            self.events.append("the gate stayed shut")
            return
        super().write_checkpoint(checkpoint)
        self.events.append(("checkpoint written", checkpoint.tx))

    def close(self) -> None:
        self.events.append("closed")
        super().close()


def test_a_checkpoint_is_due_once_enough_datoms_are_logged() -> None:
    storage = MemoryStorage()
    conn = Conn(storage, checkpoint_every=10)
    conn.transact([{"n": i} for i in range(4)])
    conn.transact([{"n": i} for i in range(8)])
    conn.close()  # waits for the background checkpoint
    checkpoint = storage.latest_checkpoint()
    assert checkpoint is not None and checkpoint.tx == TX0 + 2 and len(checkpoint.datoms) == 12


def test_a_transaction_returns_while_a_checkpoint_is_being_written() -> None:
    storage = GatedStorage()
    conn = Conn(storage, checkpoint_every=10)
    conn.transact([{"n": i} for i in range(12)])
    assert storage.writing.wait(10)
    report = conn.transact([{"n": 99}])  # must not wait for the gate
    storage.events.append(("transacted", report.tx))
    storage.gate.set()
    conn.close()
    assert storage.events == [
        ("checkpoint started", TX0 + 1),
        ("transacted", TX0 + 2),
        ("checkpoint written", TX0 + 1),
        "closed",
    ]
    assert storage.latest_checkpoint().datoms == tuple(conn.db().as_of(TX0 + 1).all_datoms())


def test_close_waits_for_the_checkpoint_being_written() -> None:
    storage = GatedStorage()
    conn = Conn(storage, checkpoint_every=10)
    conn.transact([{"n": i} for i in range(12)])
    assert storage.writing.wait(10)
    closer = threading.Thread(target=conn.close)
    closer.start()
    while not conn.closed:  # close() has begun: it now waits for the checkpoint
        time.sleep(0.001)
    storage.gate.set()
    closer.join()
    assert storage.events == [
        ("checkpoint started", TX0 + 1),
        ("checkpoint written", TX0 + 1),
        "closed",
    ]
    with pytest.raises(StorageError, match="closed"):
        conn.transact([{"n": 1}])


def test_one_checkpoint_at_a_time_and_the_next_when_it_is_done() -> None:
    storage = GatedStorage()
    conn = Conn(storage, checkpoint_every=10)
    conn.transact([{"n": i} for i in range(12)])
    assert storage.writing.wait(10)
    for k in range(1, 4):  # each would be due, but one is being written
        conn.transact([{":db/id": e, "n": k} for e in range(1, 13)])
    storage.gate.set()
    while any(t.name == "store-checkpoint" for t in threading.enumerate()):
        time.sleep(0.001)  # the first checkpoint is written and its thread gone
    conn.transact([[":db/add", 1, "n", 0]])  # still due: the count went on meanwhile
    conn.close()
    assert storage.events == [
        ("checkpoint started", TX0 + 1),
        ("checkpoint written", TX0 + 1),
        ("checkpoint started", TX0 + 5),
        ("checkpoint written", TX0 + 5),
        "closed",
    ]


class FailingCheckpoints(MemoryStorage):
    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        raise StorageError("the disk is full")


def test_a_failed_automatic_checkpoint_is_logged_and_the_store_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = Conn(FailingCheckpoints(), checkpoint_every=10)
    with caplog.at_level(logging.ERROR):
        conn.transact([{"n": i} for i in range(12)])
        conn.transact([{"n": 12}])
        conn.close()
    assert f"automatic checkpoint at tx {TX0 + 1} failed" in caplog.text
    assert conn.db().datom_count == 13


def test_a_requested_checkpoint_is_stored_when_it_returns_and_raises_on_failure() -> None:
    storage = MemoryStorage()
    with Conn(storage, checkpoint_every=None) as conn:
        conn.transact([{"n": 1}])
        conn.checkpoint()
        assert storage.latest_checkpoint().tx == TX0 + 1
    with Conn(FailingCheckpoints(), checkpoint_every=None) as conn:
        conn.transact([{"n": 1}])
        with pytest.raises(StorageError, match="disk is full"):
            conn.checkpoint()


def test_a_background_checkpoint_reopens_the_same_store(tmp_path: Any) -> None:
    path = str(tmp_path / "bus.db")
    with connect(path, checkpoint_every=100) as conn:
        for i in range(30):
            conn.transact([{"n": i, "tag": K(f"t/x{i % 3}")} for i in range(10)])
        expected = facts(conn.db())
    storage = SqliteStorage(path)
    checkpoint = storage.latest_checkpoint()
    storage.close()
    assert checkpoint is not None and checkpoint.tx > TX0
    with connect(path) as conn:
        assert facts(conn.db()) == expected


def test_opening_a_large_store_freezes_what_it_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """So the collector never rescans the indexes (`_conn.FREEZE_AT`)."""
    storage = MemoryStorage()
    with Conn(storage, checkpoint_every=None) as conn:
        conn.transact([{"n": i} for i in range(20)])
        conn.checkpoint()
    monkeypatch.setattr(_conn, "FREEZE_AT", 10)
    try:
        Conn(storage).close()
        assert gc.get_freeze_count() > 0 and gc.isenabled()
    finally:
        gc.unfreeze()
