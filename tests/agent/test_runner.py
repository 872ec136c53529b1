"""Executions run on a real WorkerPool that imports from a real /code server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from jobstreamer.agent._bodies import Submission, parse
from jobstreamer.agent._channel import LogLine
from jobstreamer.agent._log import LogBuffer
from jobstreamer.agent import runner
from jobstreamer.agent.runner import Execution, next_step
from jobstreamer.agent.workers import StepOutcome, WorkerPool
from jobstreamer.common.edn import K, Keyword
from jobstreamer.common.wire.link import LogWaiting, Progress
from tests._apps import SECRET, Bundles, code_server
from tests.agent._bus import execution, jobs_app, shell, task, until_gone


@asynccontextmanager
async def pool_of(bundles: Bundles, size: int = 1) -> AsyncIterator[WorkerPool]:
    async with code_server(bundles) as url, WorkerPool(size=size, code_url=url, secret=SECRET, kill_grace=1.0) as pool:
        yield pool


def submission(execution_id: int, version: str, *steps: dict[Keyword, Any], **parameters: Any) -> Submission:
    return parse(Submission, execution(execution_id, version, *steps, **parameters))


class Notes(list[Any]):
    """The notifications an execution raised, with a way to wait for one."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def __call__(self, message: Any) -> None:
        self.append(message)
        self.changed.set()

    async def wait_for(self, message: Any) -> None:
        async with asyncio.timeout(10):
            while message not in self:
                self.changed.clear()
                await self.changed.wait()


async def test_steps_run_in_order_and_the_last_result_is_the_executions() -> None:
    bundles = Bundles()
    version = jobs_app(bundles)
    notes = Notes()
    async with pool_of(bundles) as pool:
        execution = Execution(
            submission(1, version, task("double", "double"), task("greet", "greet", punctuation="?"),
                       name="bus", n=21, punctuation="."),
            pool=pool,
            notify=notes,
        )
        assert execution.to_edn()[K("execution/batch-status")] == K("starting")
        await execution.run()
    edn = execution.to_edn()
    assert edn[K("execution/batch-status")] == K("completed")
    assert edn[K("execution/exit-status")] == "COMPLETED"
    assert edn[K("execution/result")]["greeting"] == "hello bus?"  # the step's own params win
    steps = edn[K("execution/step-executions")]
    assert [s[K("step-execution/step-name")] for s in steps] == ["double", "greet"]
    assert all(s[K("step-execution/batch-status")] == K("completed") for s in steps)
    assert all(K("step-execution/exception") not in s for s in steps)  # nil is left out
    assert edn[K("execution/start-time")] <= steps[0][K("step-execution/start-time")]
    assert steps[-1][K("step-execution/end-time")] <= edn[K("execution/end-time")] <= datetime.now(UTC)
    assert notes and set(notes) == {Progress(1)}


async def test_a_failing_step_fails_the_execution_and_skips_the_rest() -> None:
    bundles = Bundles()
    version = jobs_app(bundles)
    async with pool_of(bundles) as pool:
        execution = Execution(submission(2, version, task("boom", "boom"), task("never", "double", n=1)),
                              pool=pool, notify=Notes())
        await execution.run()
    edn = execution.to_edn()
    assert (edn[K("execution/batch-status")], edn[K("execution/exit-status")]) == (K("failed"), "FAILED")
    assert K("execution/result") not in edn
    (step,) = edn[K("execution/step-executions")]
    assert step[K("step-execution/batch-status")] == K("failed")
    assert step[K("step-execution/exception")].rstrip().endswith("ValueError: kaboom")


async def test_shell_steps_log_their_lines_and_fail_on_a_nonzero_exit() -> None:
    notes = Notes()
    async with pool_of(Bundles()) as pool:
        ok = Execution(submission(3, "v", shell("say", "echo one; echo two >&2")), pool=pool, notify=notes)
        await ok.run()
        failed = Execution(submission(4, "v", shell("fail", "exit 3")), pool=pool, notify=Notes())
        await failed.run()
    assert ok.batch_status == K("completed")
    page = ok.log.page(0)
    lines = sorted((line[K("log/level")], line[K("log/message")], line[K("log/step")]) for line in page[K("log/lines")])
    assert lines == [(K("error"), "two", "say"), (K("info"), "one", "say")]
    assert page[K("log/next-offset")] == 2 == ok.to_edn()[K("execution/log-lines")]
    assert notes.count(LogWaiting(3)) == 1
    assert failed.batch_status == K("failed")
    assert "status 3" in failed.steps[0].exception  # type: ignore[operator]


async def test_log_lines_are_announced_once_until_the_bus_reads_them() -> None:
    bundles = Bundles()
    version = jobs_app(bundles)
    notes = Notes()
    async with pool_of(bundles) as pool:
        execution = Execution(submission(5, version, task("talk", "chatty", lines=300)), pool=pool, notify=notes)
        await execution.run()
        assert execution.log.next_offset == 300
        assert notes.count(LogWaiting(5)) == 1
        execution.announce_log_again()
        again = Execution(submission(6, version, task("talk", "chatty", lines=1)), pool=pool, notify=notes)
        await again.run()
    assert notes.count(LogWaiting(6)) == 1


def test_log_pages_keep_their_offsets_when_old_lines_are_dropped() -> None:
    log = LogBuffer(keep=5)
    log.append("s", [LogLine(datetime.now(UTC), "info", "stdout", str(n)) for n in range(8)])

    def page(offset: int, limit: int = 100) -> tuple[list[int], int]:
        got = log.page(offset, limit)
        return [line[K("log/offset")] for line in got[K("log/lines")]], got[K("log/next-offset")]

    assert page(0) == ([3, 4, 5, 6, 7], 8)
    assert page(6, limit=1) == ([6], 7)
    assert page(8) == ([], 8)
    assert page(100) == ([], 8)


async def test_stop_kills_the_worker_and_the_tasks_children() -> None:
    bundles = Bundles()
    version = jobs_app(bundles)
    notes = Notes()
    async with pool_of(bundles) as pool:
        execution = Execution(submission(7, version, task("hang", "hang"), task("never", "double", n=1)),
                              pool=pool, notify=notes)
        running = asyncio.create_task(execution.run())
        await notes.wait_for(LogWaiting(7))
        pids = [int(pid) for pid in execution.log.page(0)[K("log/lines")][0][K("log/message")].split()[1:]]
        execution.stop()
        assert execution.batch_status == K("stopping")
        await running
        await until_gone(*pids)
    assert execution.batch_status == K("stopped")
    assert [s.batch_status for s in execution.steps] == [K("stopped")]


async def test_stop_and_abandon_before_and_during_a_run() -> None:
    bundles = Bundles()
    version = jobs_app(bundles)
    notes = Notes()
    async with pool_of(bundles, size=1) as pool:
        busy = Execution(submission(8, version, task("hang", "hang")), pool=pool, notify=notes)
        busy_run = asyncio.create_task(busy.run())
        await notes.wait_for(LogWaiting(8))
        # The only worker is busy: this one waits for it, and is stopped while waiting.
        waiting = Execution(submission(9, version, task("double", "double", n=1)), pool=pool, notify=notes)
        waiting_run = asyncio.create_task(waiting.run())
        await notes.wait_for(Progress(9))
        waiting.stop()
        await asyncio.wait_for(waiting_run, 5)
        assert waiting.batch_status == K("stopped")

        busy.abandon()
        assert busy.batch_status == K("abandoned") and busy.end_time is not None
        await asyncio.wait_for(busy_run, 5)
        busy.stop()
        assert busy.batch_status == K("abandoned")  # terminal: never left


def test_steps_run_in_order_until_one_does_not_complete() -> None:
    steps = submission(1, "v", task("a", "double"), task("b", "double")).steps
    assert next_step(steps, 0, StepOutcome("completed")) == 1
    assert next_step(steps, 1, StepOutcome("completed")) is None
    assert next_step(steps, 0, StepOutcome("failed")) is None
    assert next_step(steps, 0, StepOutcome("stopped")) is None


async def test_changes_short_of_the_end_wait_out_the_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    # So a run that ends within the hold costs the bus one fetch (runner.PROGRESS_HOLD).
    quick_notes, slow_notes = Notes(), Notes()
    async with pool_of(Bundles()) as pool:
        monkeypatch.setattr(runner, "PROGRESS_HOLD", 30.0)
        quick = Execution(submission(10, "v", shell("s", "true")), pool=pool, notify=quick_notes)
        await quick.run()
        monkeypatch.setattr(runner, "PROGRESS_HOLD", 0.05)
        slow = Execution(submission(11, "v", shell("s", "sleep 0.5")), pool=pool, notify=slow_notes)
        running = asyncio.ensure_future(slow.run())
        await slow_notes.wait_for(Progress(11))
        seen_while_running = slow.batch_status
        await running
    assert quick_notes == [Progress(10)] and quick.batch_status == K("completed")
    assert seen_while_running == K("started")
    assert slow_notes == [Progress(11), Progress(11)]



async def test_lines_a_full_page_left_out_are_announced_again() -> None:
    # The bus fetches one page per LogWaiting (control_bus/links.py).
    notes = Notes()
    async with pool_of(Bundles()) as pool:
        execution = Execution(submission(12, "v", shell("s", "true")), pool=pool, notify=notes)
    lines = [LogLine(datetime.now(UTC), "info", "stdout", str(n)) for n in range(1500)]
    execution.log.append("s", lines)
    first = execution.read_log(0)
    announced_after_the_first = notes.count(LogWaiting(12))
    rest = execution.read_log(first[K("log/next-offset")])
    assert (len(first[K("log/lines")]), len(rest[K("log/lines")])) == (1000, 500)
    assert announced_after_the_first == 1 and notes.count(LogWaiting(12)) == 1
