"""BusStore: transactions on one writer thread, snapshots at once, listeners on the loop."""

from __future__ import annotations

import asyncio
import logging
import statistics
import threading
import time
from pathlib import Path

import pytest

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import NotFound
from jobstreamer.common.store import CasFailed, Conn, Db, StorageError, TransactionError, TxReport
from jobstreamer.control_bus._store import BusStore

NAME = Keyword("application/name")
COUNT = Keyword("test/count")


@pytest.fixture(params=["memory", "file"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return ":memory:" if request.param == "memory" else str(tmp_path / "bus.db")


async def test_transact_then_read_the_snapshot(url: str) -> None:
    async with BusStore.open(url) as store:
        before = store.db()
        report = await store.transact([{NAME: "hello"}])
        assert isinstance(report, TxReport)
        assert store.db().entid([NAME, "hello"]) is not None
        assert before.entid([NAME, "hello"]) is None  # snapshots never change


async def test_a_file_store_keeps_what_was_transacted(tmp_path: Path) -> None:
    path = str(tmp_path / "bus.db")
    async with BusStore.open(path) as store:
        pending = [asyncio.ensure_future(store.transact([{NAME: f"app{i}"}])) for i in range(5)]
        await asyncio.sleep(0)  # queued before the close: they still commit
    await asyncio.gather(*pending)
    async with BusStore.open(path) as store:
        assert sorted(store.db().q("[:find [?n ...] :where [_ :application/name ?n]]")) == [
            f"app{i}" for i in range(5)
        ]


async def test_writes_run_on_the_writer_thread_and_never_block_the_loop(url: str) -> None:
    threads = []

    def slow(db: Db) -> list[object]:
        threads.append(threading.current_thread())
        time.sleep(0.2)
        return [{NAME: "slow"}]

    async with BusStore.open(url) as store:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.ensure_future(ticker())
        await store.transact_with(slow)
        ticking.cancel()
    assert threads and threads[0] is not threading.main_thread()
    assert ticks >= 5  # the loop kept running while the writer slept (about 20 ticks)


async def test_transaction_functions_serialise_read_modify_write(url: str) -> None:
    async with BusStore.open(url) as store:
        counter = (await store.transact([{COUNT: 0}])).tx_data[0].e

        def increment(db: Db) -> list[object]:
            return [[Keyword("db/add"), counter, COUNT, db.entity(counter)[COUNT] + 1]]

        await asyncio.gather(*(store.transact_with(increment) for _ in range(50)))
        assert store.db().entity(counter)[COUNT] == 50


async def test_a_function_that_returns_nothing_writes_nothing() -> None:
    async with BusStore.open(":memory:") as store:
        basis = store.db().basis_t
        assert await store.transact_with(lambda db: None) is None
        assert await store.transact_with(lambda db: []) is None
        assert store.db().basis_t == basis


async def test_errors_reach_the_caller_with_their_status(url: str) -> None:
    async with BusStore.open(url) as store:
        ann = (await store.transact([{COUNT: 1}])).tx_data[0].e
        with pytest.raises(TransactionError) as bad:
            await store.transact([[Keyword("db/add")]])
        assert bad.value.status == 400
        with pytest.raises(CasFailed) as conflict:
            await store.transact([[Keyword("db/cas"), ann, COUNT, 2, 3]])
        assert conflict.value.status == 409

        def missing(db: Db) -> list[object]:
            raise NotFound("no such thing")

        with pytest.raises(NotFound):
            await store.transact_with(missing)
        # The writer survives errors.
        await store.transact([{NAME: "after"}])


async def test_listeners_hear_every_commit_in_order_before_the_caller_resumes() -> None:
    heard: list[tuple[int, threading.Thread]] = []
    async with BusStore.open(":memory:") as store:
        unlisten = store.listen(
            lambda report: heard.append((report.tx, threading.current_thread()))
        )
        reports = [await store.transact([{NAME: f"a{i}"}]) for i in range(3)]
        assert [tx for tx, _ in heard] == [r.tx for r in reports]
        assert {thread for _, thread in heard} == {threading.current_thread()}
        unlisten()
        await store.transact([{NAME: "unheard"}])
        assert len(heard) == 3


async def test_a_failing_listener_is_logged_and_the_others_still_hear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heard: list[int] = []

    def broken(report: TxReport) -> None:
        raise RuntimeError("listener bug")

    async with BusStore.open(":memory:") as store:
        store.listen(broken)
        store.listen(lambda report: heard.append(report.tx))
        with caplog.at_level(logging.ERROR):
            await store.transact([{NAME: "x"}])
    assert len(heard) == 1
    assert "listener" in caplog.text


async def test_a_cancelled_caller_does_not_cancel_its_transaction() -> None:
    async with BusStore.open(":memory:") as store:
        gate = threading.Event()

        def blocked(db: Db) -> None:
            gate.wait()

        blocker = asyncio.ensure_future(store.transact_with(blocked))
        queued = asyncio.ensure_future(store.transact([{NAME: "committed"}]))
        await asyncio.sleep(0.01)
        queued.cancel()
        gate.set()
        await blocker
        await store.transact([])  # everything before it has been applied
        assert store.db().entid([NAME, "committed"]) is not None


async def test_a_closed_store_refuses_writes() -> None:
    async with BusStore.open(":memory:") as store:
        pass
    with pytest.raises(StorageError) as closed:
        await store.transact([{NAME: "late"}])
    assert closed.value.status == 503


async def test_a_round_trip_through_the_writer_thread_is_cheap() -> None:
    # The spine's run round trip targets p50 < 10 ms; a few store writes are on it.
    async with BusStore.open(":memory:") as store:
        samples = []
        for _ in range(200):
            start = time.perf_counter()
            await store.transact([])
            samples.append(time.perf_counter() - start)
    assert statistics.median(samples) < 0.002



async def test_writes_queued_during_a_commit_share_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Group commit: what queued meanwhile goes into one storage write (one fsync).
    batches: list[int] = []
    transact_many = Conn.transact_many

    def counted(self: Conn, txs: list[object]) -> list[object]:
        batches.append(len(txs))
        return transact_many(self, txs)

    monkeypatch.setattr(Conn, "transact_many", counted)
    async with BusStore.open(str(tmp_path / "bus.db")) as store:
        gate = threading.Event()
        heard: list[int] = []
        store.listen(lambda report: heard.append(report.tx))
        blocker = asyncio.ensure_future(store.transact_with(lambda db: gate.wait() and None))
        await asyncio.sleep(0.01)  # the writer waits in `blocker`: the next ones queue
        seen: list[int | None] = []

        def after_the_others(db: Db) -> list[object]:
            seen.append(db.entid([NAME, "a2"]))  # what the earlier items of the batch made
            return [{NAME: "a3"}]

        pending = [
            asyncio.ensure_future(store.transact([{NAME: "a1"}])),
            asyncio.ensure_future(store.transact([[Keyword("db/add")]])),  # refused on its own
            asyncio.ensure_future(store.transact([{NAME: "a2"}])),
            asyncio.ensure_future(store.transact_with(after_the_others)),
        ]
        await asyncio.sleep(0.01)
        gate.set()
        assert await blocker is None
        results = await asyncio.gather(*pending, return_exceptions=True)
    async with BusStore.open(str(tmp_path / "bus.db")) as reopened:
        names = reopened.db().q("[:find [?n ...] :where [_ :application/name ?n]]")
    assert batches == [1, 4]
    assert isinstance(results[1], TransactionError)
    reports = [results[0], results[2], results[3]]
    assert heard == [report.tx for report in reports]  # type: ignore[union-attr]  # in order
    assert seen == [reports[1].tx_data[0].e]  # type: ignore[union-attr]
    assert sorted(names) == ["a1", "a2", "a3"]
