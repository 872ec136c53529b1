"""The dispatcher with fake agents: FIFO, the least busy agent, 503s, and no polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from jobstreamer.common.edn import Keyword, Vector
from jobstreamer.common.errors import NotFound
from jobstreamer.control_bus.agent_client import AgentUnreachable, Reply
from jobstreamer.control_bus.dispatch import Dispatcher, choose
from jobstreamer.control_bus.executions import ABANDONED, COMPLETED, ExecutionChange, Executions
from jobstreamer.control_bus.agent_link import AgentLink
from tests.control_bus._domain import Bus, bus, hello_with_job

_ID, _STATUS, _AGENT = Keyword("execution/id"), Keyword("execution/batch-status"), Keyword("execution/agent")


def agent(name: str, *, max_executions: int = 2, load: float = 0.0, running: set[int] | None = None) -> AgentLink:
    stats = {Keyword("agent/max-executions"): max_executions, Keyword("agent/load"): Vector([load, load, load])}
    link = AgentLink(name, name, URL(f"http://{name}.test:4510"), ready=True, stats=stats, running=running or set())
    link.ws = object()  # type: ignore[assignment]  # linked, as far as eligibility goes
    return link


class FakeRegistry:
    """The part of AgentRegistry dispatch uses, freeing a slot when an execution finishes."""

    def __init__(self, executions: Executions, *agents: AgentLink) -> None:
        self.agents = list(agents)
        self.asked = 0  # how often dispatch looked for an agent
        self.on_available: Any = lambda: None
        self.on_lost: Any = None
        executions.subscribe(self._freed)

    def eligible(self) -> list[AgentLink]:
        self.asked += 1
        return [a for a in self.agents if a.eligible]

    def _freed(self, change: ExecutionChange) -> None:
        for link in self.agents:
            if change.finished and link.release(change.execution_id):
                link.full = False
                self.on_available()


class FakeAgents:
    """POST /executions on every fake agent: 202 unless `replies[name]` says otherwise."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.replies: dict[str, int | Exception] = {}
        self.arrived: asyncio.Queue[tuple[str, int]] = asyncio.Queue()

    async def start(self, url: URL, payload: Mapping[Any, Any]) -> Reply:
        call = ((url.host or "").removesuffix(".test"), payload[_ID])
        self.calls.append(call)
        self.arrived.put_nowait(call)
        reply = self.replies.get(call[0], 202)
        if isinstance(reply, Exception):
            raise reply
        return reply, {_ID: call[1], _STATUS: Keyword("starting")}

    async def next(self) -> tuple[str, int]:
        return await asyncio.wait_for(self.arrived.get(), 2)


@asynccontextmanager
async def dispatching(
    tmp_path: Path, *agents: AgentLink, queued: int = 0
) -> AsyncIterator[tuple[Bus, FakeAgents, FakeRegistry, list[int]]]:
    """A dispatcher over the real domain; `queued` executions exist before it starts."""
    async with bus(tmp_path) as b:
        await hello_with_job(b)
        ids = [await b.executions.create("hello", "greet", {}) for _ in range(queued)]
        fakes = FakeAgents()
        registry = FakeRegistry(b.executions, *agents)
        async with Dispatcher(b.store, b.executions, registry, fakes):
            yield b, fakes, registry, ids


def status(b: Bus, execution_id: int) -> tuple[Keyword, str | None]:
    view = b.executions.view(execution_id)
    return view[_STATUS], view.get(_AGENT, {}).get(Keyword("agent/instance-id"))


def test_choose_prefers_the_fewest_running_then_the_lowest_load() -> None:
    idle, busy = agent("idle", load=3.0), agent("busy", load=0.1, running={1})
    calm = agent("calm", load=1.0)
    assert choose([busy, idle, calm]) is calm
    assert choose([busy]) is busy
    assert choose([]) is None


async def test_executions_go_out_in_submission_order(tmp_path: Path) -> None:
    solo = agent("solo", max_executions=1)
    solo.ready = False  # the queue fills first, and some of it before dispatch starts
    async with dispatching(tmp_path, solo, queued=3) as (b, fakes, registry, ids):
        later = await b.executions.create("hello", "greet", {})
        solo.ready = True
        registry.on_available()
        for _ in range(4):
            _, execution_id = await fakes.next()
            await b.executions.mark(execution_id, COMPLETED)
    assert [execution_id for _, execution_id in fakes.calls] == [*ids, later]


async def test_the_least_busy_agent_gets_each_execution(tmp_path: Path) -> None:
    a = agent("a", max_executions=5, load=0.1, running={900, 901})
    b_ = agent("b", max_executions=5, load=0.5, running={902})
    c = agent("c", max_executions=5, load=0.9, running={903})
    async with dispatching(tmp_path, a, b_, c) as (b, fakes, _, _):
        for _ in range(3):
            await b.executions.create("hello", "greet", {})
            await fakes.next()
    assert [name for name, _ in fakes.calls] == ["b", "c", "a"]


async def test_a_503_puts_the_execution_back_until_a_slot_frees(tmp_path: Path) -> None:
    a = agent("a", max_executions=2)
    async with dispatching(tmp_path, a) as (b, fakes, _, _):
        first = await b.executions.create("hello", "greet", {})
        await fakes.next()
        fakes.replies["a"] = 503
        second = await b.executions.create("hello", "greet", {})
        await fakes.next()
        await asyncio.sleep(0.05)
        refused = status(b, second)
        assert a.full and a.running == {first}
        fakes.replies["a"] = 202
        await b.executions.mark(first, COMPLETED)
        assert await fakes.next() == ("a", second)
        await asyncio.sleep(0.01)
    assert refused == (Keyword("queued"), None)
    assert fakes.calls == [("a", first), ("a", second), ("a", second)]
    assert status(b, second) == (Keyword("starting"), "a")


async def test_a_freed_slot_dispatches_at_once_and_nothing_polls(tmp_path: Path) -> None:
    solo = agent("solo", max_executions=1)
    async with dispatching(tmp_path, solo, queued=2) as (b, fakes, _, ids):
        await fakes.next()
        await asyncio.sleep(0.2)
        assert len(fakes.calls) == 1
        started = time.monotonic()
        await b.executions.mark(ids[0], COMPLETED)
        assert await fakes.next() == ("solo", ids[1])
        elapsed = time.monotonic() - started
    assert elapsed < 0.1  # woken by the change, not by a timer


async def test_nothing_runs_while_idle(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        await hello_with_job(b)
        registry = FakeRegistry(b.executions, agent("a"))
        async with Dispatcher(b.store, b.executions, registry, FakeAgents()):
            await asyncio.sleep(0.05)
            asked = registry.asked
            await asyncio.sleep(0.3)
            assert registry.asked == asked  # no timer looks for work


@pytest.mark.parametrize(
    "sent, calls, final",
    [
        (False, ["a", "c"], "c"),  # never reached a: safe to send elsewhere
        (True, ["a"], "a"),  # may have reached a: left :starting there for its Ready to settle
    ],
)
async def test_an_unreachable_agent_is_suspect(tmp_path: Path, sent: bool, calls: list[str], final: str) -> None:
    a, c = agent("a", load=0.1), agent("c", load=0.9)
    async with dispatching(tmp_path, a, c) as (b, fakes, _, _):
        fakes.replies["a"] = AgentUnreachable("connection failed", sent=sent)
        execution_id = await b.executions.create("hello", "greet", {})
        for _ in calls:
            await fakes.next()
        await asyncio.sleep(0.05)
        assert status(b, execution_id) == (Keyword("starting"), final)
    assert fakes.calls == [(name, execution_id) for name in calls]
    assert a.suspect


async def test_no_execution_is_sent_twice(tmp_path: Path) -> None:
    agents = [agent(name, max_executions=3) for name in "abc"]
    async with bus(tmp_path) as b:
        await hello_with_job(b)
        fakes = FakeAgents()
        registry = FakeRegistry(b.executions, *agents)
        async with Dispatcher(b.store, b.executions, registry, fakes) as dispatcher:
            ids = []
            for _ in range(9):
                ids.append(await b.executions.create("hello", "greet", {}))
                for _ in range(5):
                    dispatcher.wake()
            for _ in range(9):
                await fakes.next()
            await asyncio.sleep(0.05)
    assert sorted(execution_id for _, execution_id in fakes.calls) == ids
    assert [len(a.running) for a in agents] == [3, 3, 3]


async def test_refused_and_abandoned_executions(tmp_path: Path) -> None:
    a = agent("a")
    a.ready = False
    async with dispatching(tmp_path, a, queued=2) as (b, fakes, registry, ids):
        await b.executions.mark(ids[0], ABANDONED)
        execution_id = await b.executions.create("hello", "greet", {})
        fakes.replies["a"] = 400
        a.ready = True
        registry.on_available()
        calls = [await fakes.next(), await fakes.next()]
        await asyncio.sleep(0.05)
        final = [status(b, i)[0] for i in (*ids, execution_id)]
    assert calls == [("a", ids[1]), ("a", execution_id)]  # the abandoned one never went out
    assert final == [Keyword("abandoned"), Keyword("failed"), Keyword("failed")]
    assert not a.running


@asynccontextmanager
async def submitting(tmp_path: Path, *agents: AgentLink) -> AsyncIterator[tuple[Bus, FakeAgents, Dispatcher, list[int]]]:
    """A dispatcher to submit to; the list collects the tx of every commit touching an execution."""
    async with bus(tmp_path) as b:
        await hello_with_job(b)
        fakes = FakeAgents()
        commits: list[int] = []
        b.executions.subscribe(lambda change: commits.append(change.db.basis_t))
        async with Dispatcher(b.store, b.executions, FakeRegistry(b.executions, *agents), fakes) as dispatcher:
            yield b, fakes, dispatcher, commits


async def test_submit_places_an_execution_on_a_free_agent_in_one_write(tmp_path: Path) -> None:
    a = agent("a", max_executions=1)
    async with submitting(tmp_path, a) as (b, fakes, dispatcher, commits):
        execution_id = await dispatcher.submit("hello", "greet", {Keyword("n"): 1})
        stored = status(b, execution_id)
        assert await fakes.next() == ("a", execution_id)
        await asyncio.sleep(0.01)
    assert stored == (Keyword("starting"), "a")  # before the POST, which then writes nothing
    assert len(commits) == 1 and a.running == {execution_id}


async def test_submit_queues_when_no_agent_is_free_or_others_wait(tmp_path: Path) -> None:
    a = agent("a", max_executions=3)
    a.ready = False
    async with submitting(tmp_path, a) as (b, fakes, dispatcher, _):
        waiting = await dispatcher.submit("hello", "greet", {})
        a.ready = True  # eligible, but the queue is not empty: FIFO
        behind = await dispatcher.submit("hello", "greet", {})
        queued = [status(b, waiting), status(b, behind)]
        dispatcher.wake()
        calls = [await fakes.next(), await fakes.next()]
    assert queued == [(Keyword("queued"), None)] * 2
    assert calls == [("a", waiting), ("a", behind)]


async def test_a_refused_submit_frees_the_slot_it_held(tmp_path: Path) -> None:
    a = agent("a", max_executions=1)
    async with submitting(tmp_path, a) as (_, fakes, dispatcher, _):
        with pytest.raises(NotFound):
            await dispatcher.submit("hello", "nope", {})
        assert a.running == set() and a.eligible
        execution_id = await dispatcher.submit("hello", "greet", {})
        assert await fakes.next() == ("a", execution_id)
