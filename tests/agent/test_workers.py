"""The warm worker pool: real worker processes importing from a real /code server."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from jobstreamer.agent.workers import Event, RunRequest, StepOutcome, WorkerPool, _Worker
from jobstreamer.common.edn import Keyword
from tests._apps import SECRET, Bundles, bundle, code_server

TASKS = '''\
import logging, os, subprocess, sys, time
from pathlib import Path

log = logging.getLogger(__name__)
VERSION = 1


def echo(value, batch_size, ctx):
    return {"value": value, "batch-size": batch_size, "pid": os.getpid(),
            "step": ctx.step_name, "execution": ctx.execution_id}


def chatty(ctx):
    print("to stdout")
    print("to stderr", file=sys.stderr)
    log.info("info record")
    log.warning("warning record")
    log.debug("not shown: the root level is INFO")
    ctx.log("from ctx", level="warning")
    for done in range(1, 4):
        ctx.progress(done, 3)
    return "done"


async def later(ctx):
    return ctx.execution_id


def boom():
    raise ValueError("kaboom")


def not_edn():
    return object()


def hang(ctx):
    child = subprocess.Popen(["sleep", "60"])
    ctx.log(f"child {child.pid}")
    time.sleep(60)


def die():
    os._exit(3)


def meet(directory):
    """Return only once two runs are inside this function at the same time."""
    Path(directory, str(os.getpid())).touch()
    deadline = time.monotonic() + 20
    while len(os.listdir(directory)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"version": VERSION, "pid": os.getpid(), "met": len(os.listdir(directory)) >= 2}
'''


def work(version: int = 1):  # type: ignore[no-untyped-def]
    return bundle({"work/__init__.py": "", "work/tasks.py": TASKS.replace("VERSION = 1", f"VERSION = {version}")})


@asynccontextmanager
async def pool_for(bundles: Bundles, size: int = 1, **options: Any) -> AsyncIterator[WorkerPool]:
    async with code_server(bundles) as url:
        async with WorkerPool(size=size, code_url=url, secret=SECRET, **options) as pool:
            yield pool
            pids = pool.pids
    assert all(gone(p) for p in pids), "pool exit left a worker behind"


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def until_gone(pid: int) -> bool:
    for _ in range(500):
        if gone(pid):
            return True
        await asyncio.sleep(0.01)
    return False


def request(execution_id: int, version: str, task: str, **params: Any) -> RunRequest:
    return RunRequest(execution_id, "step", app="work", version=version, task=f"work.tasks:{task}", params=params)


def run_async(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(main())  # type: ignore[arg-type]


def test_a_task_returns_its_value_and_the_next_run_reuses_the_warm_worker() -> None:
    bundles = Bundles()
    version = bundles.add("work", work())

    async def main() -> None:
        async with pool_for(bundles) as pool:
            (pid,) = pool.pids
            params = {Keyword("value"): [1, "two"], Keyword("batch-size"): 5, Keyword("unused"): True}
            first = await pool.run(RunRequest(7, "extract", app="work", version=version, task="work.tasks:echo", params=params))
            assert first == StepOutcome(
                "completed",
                result={"value": (1, "two"), "batch-size": 5, "pid": pid, "step": "extract", "execution": 7},
                pid=pid,
            )
            second = await pool.run(request(8, version, "echo", value=None, batch_size=1))
            assert second.status == "completed" and second.result["pid"] == pid
            assert (await pool.run(request(9, version, "later"))).result == 9  # an `async def` task
            assert pool.pids == {pid}

    run_async(main)


def test_prints_logging_ctx_and_progress_become_events_before_the_result() -> None:
    bundles = Bundles()
    version = bundles.add("work", work())
    events: list[Event] = []

    async def main() -> None:
        async with pool_for(bundles) as pool:
            outcome = await pool.run(request(1, version, "chatty"), on_event=events.append)
        assert outcome.status == "completed" and outcome.result == "done"

    run_async(main)
    lines = [(line.level, line.logger, line.message) for event in events if event.kind == "log" for line in event.lines]
    assert lines == [
        ("info", "stdout", "to stdout"),
        ("error", "stderr", "to stderr"),
        ("info", "work.tasks", "info record"),
        ("warning", "work.tasks", "warning record"),
        ("warning", "ctx", "from ctx"),
    ]
    progress = [(e.done, e.total) for e in events if e.kind == "progress"]
    assert progress[-1] == (3, 3)  # intermediate ones may be coalesced
    assert all(line.time.tzinfo is not None for e in events if e.kind == "log" for line in e.lines)


def test_failures_carry_the_app_traceback_and_keep_the_worker() -> None:
    bundles = Bundles()
    version = bundles.add("work", work())

    async def main() -> None:
        async with pool_for(bundles) as pool:
            (pid,) = pool.pids
            boom = await pool.run(request(1, version, "boom"))
            assert boom.status == "failed" and boom.failure is not None
            assert (boom.failure.type, boom.failure.message) == ("ValueError", "kaboom")
            line = TASKS.splitlines().index('    raise ValueError("kaboom")') + 1
            assert f'File "<app work@{version[:8]}>/work/tasks.py", line {line}, in boom' in boom.failure.traceback
            assert 'raise ValueError("kaboom")' in boom.failure.traceback
            assert "_worker.py" not in boom.failure.traceback

            not_edn = await pool.run(request(2, version, "not_edn"))
            assert not_edn.failure is not None and "not EDN" in not_edn.failure.message

            missing = await pool.run(request(3, version, "nope"))
            assert missing.failure is not None and missing.failure.type == "AttributeError"

            unknown = await pool.run(request(4, "0" * 64, "echo"))
            assert unknown.failure is not None and unknown.failure.type == "CodeFetchError"
            assert "no version" in unknown.failure.message
            assert pool.pids == {pid}

    run_async(main)


def test_kill_stops_the_task_and_its_children_and_a_fresh_worker_replaces_it() -> None:
    bundles = Bundles()
    version = bundles.add("work", work())
    children: list[int] = []

    async def main() -> None:
        child_seen = asyncio.Event()

        def record(event: Event) -> None:
            for line in getattr(event, "lines", ()):
                if line.message.startswith("child "):
                    children.append(int(line.message.split()[1]))
                    child_seen.set()

        async with pool_for(bundles, kill_grace=2.0) as pool:
            (pid,) = pool.pids
            running = asyncio.create_task(pool.run(request(1, version, "hang"), on_event=record))
            await child_seen.wait()
            assert pool.kill(1)
            assert not pool.kill(99)
            outcome = await running
            assert outcome == StepOutcome("stopped", pid=pid)
            assert await until_gone(pid) and await until_gone(children[0])
            after = await pool.run(request(2, version, "echo", value=1, batch_size=1))
            assert after.status == "completed" and after.pid != pid
            assert pool.pids == {after.pid}

    run_async(main)


def test_a_worker_that_dies_is_replaced() -> None:
    bundles = Bundles()
    version = bundles.add("work", work())

    async def main() -> None:
        async with pool_for(bundles) as pool:
            died = await pool.run(request(1, version, "die"))
            assert died.failure is not None and died.failure.type == "WorkerDied"
            assert "status 3" in died.failure.message
            after = await pool.run(request(2, version, "echo", value=1, batch_size=1))
            assert after.status == "completed" and after.pid != died.pid

    run_async(main)


def test_two_versions_of_one_app_run_side_by_side(tmp_path: Path) -> None:
    bundles = Bundles()
    v1 = bundles.add("work", work(1))
    v2 = bundles.add("work", work(2))

    async def main() -> None:
        async with pool_for(bundles, size=2) as pool:
            one, two = await asyncio.gather(
                pool.run(request(1, v1, "meet", directory=str(tmp_path))),
                pool.run(request(2, v2, "meet", directory=str(tmp_path))),
            )
        assert (one.result["version"], two.result["version"]) == (1, 2)
        assert one.result["met"] and two.result["met"]
        assert one.pid != two.pid

    run_async(main)


def test_shell_steps_run_in_the_agent_and_can_be_killed() -> None:
    async def main() -> None:
        events: list[Event] = []
        async with pool_for(Bundles()) as pool:
            ok = await pool.run(RunRequest(1, "say", shell=["sh", "-c", "echo out; echo err >&2"]), on_event=events.append)
            assert ok.status == "completed"
            lines = [(l.level, l.message) for e in events if e.kind == "log" for l in e.lines]
            assert sorted(lines) == [("error", "err"), ("info", "out")]
            failed = await pool.run(RunRequest(2, "fail", shell=["sh", "-c", "exit 4"]))
            assert failed.failure is not None and "status 4" in failed.failure.message
            missing = await pool.run(RunRequest(3, "missing", shell=["/nonexistent/command"]))
            assert missing.failure is not None and missing.failure.type == "FileNotFoundError"
            running = asyncio.create_task(pool.run(RunRequest(4, "sleep", shell=["sleep", "60"])))
            while not pool.kill(4):
                await asyncio.sleep(0.01)
            stopped = await running
            assert stopped.status == "stopped" and stopped.pid is not None
            assert await until_gone(stopped.pid)

    run_async(main)


def test_requests_are_checked() -> None:
    with pytest.raises(ValueError, match="either a task or a shell"):
        RunRequest(1, "s")
    with pytest.raises(ValueError, match="application and version"):
        RunRequest(1, "s", task="m:f")


def test_a_cancel_that_comes_as_a_worker_says_ready_is_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    # Python 3.11's wait_for returned the result then and dropped the cancel.
    started: list[_Worker] = []
    receive = _Worker.receive

    async def ready_and_cancelled(worker: _Worker) -> Any:
        message = await receive(worker)
        if not started:
            started.append(worker)
            starting.cancel()  # lands in the same step as the Ready
        return message

    async def main() -> bool:
        nonlocal starting
        monkeypatch.setattr(_Worker, "receive", ready_and_cancelled)
        starting = asyncio.ensure_future(_Worker.start(sys.executable, dict(os.environ), 30))
        await asyncio.wait([starting])
        for worker in started:
            await worker.close(timeout=5)
        return starting.cancelled()

    starting: asyncio.Future[_Worker]
    assert asyncio.run(main())
