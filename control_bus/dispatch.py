"""The dispatcher: queued executions go to agents, in submission order.

Event-driven (SPINE.md): nothing sleeps and polls.  It wakes when an
execution enters `:queued` (a new one, or one an agent refused), when an
agent becomes eligible, and when an execution finishes (a slot frees).

The head of the queue goes to the eligible agent with the fewest running
executions, then the lowest load.  Before the `POST /executions` the
execution is marked `:starting` with its agent, so a bus that dies mid-call
finds it assigned on restart and asks that agent instead of sending it
elsewhere.  `submit` skips the queue when it is empty and an agent has a
free slot: the execution is created `:starting` on that agent, one durable
write where queueing and marking take two (a SQLite commit with
synchronous=FULL is most of a millisecond, on the round trip of every run).

A 503 puts it back in the queue (`:queued`, agent forgotten); an agent that
cannot be connected to is marked suspect and the execution goes back in the
queue for another; a call that failed after it may have reached the agent
leaves it `:starting`, and the agent's next Ready reconciles it (`lost` when
the agent does not know it).  One execution is never in two calls at once.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Coroutine, Mapping
from typing import Any, Protocol, Self, TypeVar

from yarl import URL

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import JobstreamerError, NotFound

from ._store import BusStore
from .agent_client import AgentUnreachable, Reply
from .executions import FAILED, QUEUED, STARTED, STARTING, STOPPING, UNKNOWN, ExecutionChange, Executions
from .agent_link import AgentLink

log = logging.getLogger(__name__)

T = TypeVar("T")

_SEQ = Keyword("execution/seq")
_STATUS = Keyword("execution/batch-status")
_MESSAGE = Keyword("error/message")


class Registry(Protocol):
    """What the dispatcher needs of `links.AgentRegistry`."""

    on_available: Any
    on_lost: Any

    def eligible(self) -> list[AgentLink]: ...


class Starter(Protocol):
    """What the dispatcher needs of `agent_client.AgentClient`."""

    async def start(self, agent: URL, payload: Mapping[Any, Any]) -> Reply: ...


def choose(agents: list[AgentLink]) -> AgentLink | None:
    """The agent with the fewest running executions, then the lowest load."""
    return min(agents, key=lambda agent: (len(agent.running), agent.load), default=None)


class Dispatcher:
    """`async with Dispatcher(store, executions, registry, client):` dispatches until closed."""

    def __init__(self, store: BusStore, executions: Executions, registry: Registry, client: Starter) -> None:
        self._store = store
        self._executions = executions
        self._registry = registry
        self._client = client
        self._queue: list[tuple[int, int]] = []  # (seq, id): a heap in submission order
        self._queued: set[int] = set()
        self._in_flight: set[int] = set()
        self._calls: set[asyncio.Task[Any]] = set()
        self._placeholders = itertools.count(1)  # negated: slots held while `submit` stores
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        registry.on_available = self.wake
        registry.on_lost = self.lost
        self._unsubscribe = executions.subscribe(self._on_change)

    async def __aenter__(self) -> Self:
        # After a restart: what was queued goes out first, in its old order.
        db = self._store.db()
        for execution_id in self._executions.queued():
            self._enqueue(execution_id, db.entity(execution_id)[_SEQ])
        self._task = asyncio.create_task(self._run(), name="dispatcher")
        self.wake()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._unsubscribe()
        tasks = [t for t in (self._task, *self._calls) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def wake(self) -> None:
        self._wakeup.set()

    async def submit(self, app: str, job: str, params: Mapping[Any, Any]) -> int:
        """Create an execution of `job` and dispatch it; returns its id.

        Errors are those of `Executions.create`.  The execution is created
        `:starting` on an agent when nothing waits in the queue (FIFO) and an
        agent has a free slot, else `:queued`.
        """
        agent = None if self._queue else choose(self._registry.eligible())
        if agent is None:
            return await self._executions.create(app, job, params)
        # The slot is held at once, before the id is known, so the next submit
        # or drain sees it taken.  A task: once the execution is stored its
        # call goes out even if this caller is cancelled.
        placeholder = -next(self._placeholders)
        agent.reserve(placeholder)
        placing = self._start(self._place(agent, placeholder, app, job, params), "place")
        return await asyncio.shield(placing)

    async def _place(self, agent: AgentLink, placeholder: int, app: str, job: str, params: Mapping[Any, Any]) -> int:
        try:
            execution_id = await self._executions.create(app, job, params, agent=agent.instance_id)
        except BaseException:
            agent.release(placeholder)
            self.wake()  # the slot is free again
            raise
        agent.release(placeholder)
        agent.reserve(execution_id)
        self._in_flight.add(execution_id)
        self._start(self._send(execution_id, agent, marked=True), f"dispatch {execution_id}")
        return execution_id

    def _start(self, call: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        task = asyncio.create_task(call, name=name)
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)
        return task

    def _on_change(self, change: ExecutionChange) -> None:
        if change.batch_status is QUEUED and change.previous is not QUEUED:
            self._enqueue(change.execution_id, change.db.entity(change.execution_id)[_SEQ])
            self.wake()
        elif change.finished:
            self.wake()  # the registry frees the slot, and wakes us too if it counted one

    def _enqueue(self, execution_id: int, seq: int) -> None:
        if execution_id in self._queued or execution_id in self._in_flight:
            return
        self._queued.add(execution_id)
        heapq.heappush(self._queue, (seq, execution_id))

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            self._drain()

    def _drain(self) -> None:
        """Start a call for each queued execution an agent can take now.

        Synchronous, so reservations and the queue change with no await in between.
        """
        while self._queue:
            agent = choose(self._registry.eligible())
            if agent is None:
                return
            _, execution_id = heapq.heappop(self._queue)
            self._queued.discard(execution_id)
            agent.reserve(execution_id)
            self._in_flight.add(execution_id)
            self._start(self._send(execution_id, agent), f"dispatch {execution_id}")

    async def _send(self, execution_id: int, agent: AgentLink, *, marked: bool = False) -> None:
        try:
            await self._call(execution_id, agent, marked=marked)
        except Exception:
            log.exception("dispatching execution %d to agent %s failed", execution_id, agent.instance_id)
            self._in_flight.discard(execution_id)
        finally:
            self.wake()

    async def _call(self, execution_id: int, agent: AgentLink, *, marked: bool) -> None:
        """POST the execution to `agent`; `marked` when it is stored `:starting` there already."""
        if not marked:
            try:
                status = await self._executions.mark(execution_id, STARTING, agent=agent.instance_id)
            except JobstreamerError as exc:  # deleted, or moved on meanwhile
                status = None
                log.info("execution %d is no longer dispatchable: %s", execution_id, exc)
            if status is not STARTING:
                self._give_up(execution_id, agent)
                return
        try:
            code, body = await self._client.start(agent.url, self._executions.agent_request(execution_id))
        except AgentUnreachable as exc:
            agent.suspect = True
            log.warning("agent %s: %s", agent.instance_id, exc)
            if exc.sent:
                # It may run there: leave it :starting for the agent's next Ready to settle.
                self._in_flight.discard(execution_id)
                return
            await self._requeue(execution_id, agent)
            return
        if code in (200, 202):
            self._in_flight.discard(execution_id)
            if code == 200:  # known there already, so its state may be ahead; a 202 is :starting, as stored
                await self._executions.apply_agent_state(execution_id, body)
        elif code == 503 or code == 409:
            # Full, or not ready to run tasks yet (409: it has no /code URL): not the execution's fault.
            agent.full = True
            await self._requeue(execution_id, agent)
        else:
            self._give_up(execution_id, agent)
            message = body.get(_MESSAGE, body) if isinstance(body, Mapping) else body
            log.error("agent %s refused execution %d (%d): %s", agent.instance_id, execution_id, code, message)
            await self._executions.mark(execution_id, FAILED, exit_status="FAILED")

    def _give_up(self, execution_id: int, agent: AgentLink) -> None:
        agent.release(execution_id)
        self._in_flight.discard(execution_id)

    async def _requeue(self, execution_id: int, agent: AgentLink) -> None:
        # Out of flight first, so the :queued change enqueues it again.
        self._give_up(execution_id, agent)
        await self._executions.mark(execution_id, QUEUED)

    async def lost(self, agent: AgentLink, execution_id: int) -> None:
        """The agent does not know an execution the bus sent it."""
        if execution_id in self._in_flight:
            return  # the POST is still on its way
        agent.release(execution_id)
        try:
            status = self._executions.view(execution_id)[_STATUS]
        except NotFound:
            return  # deleted, or never the bus's
        if status is STARTING:
            log.info("agent %s never got execution %d: queued again", agent.instance_id, execution_id)
            await self._executions.mark(execution_id, QUEUED)
        elif status in (STARTED, STOPPING):
            # It ran there and the agent forgot it (restarted): issue #6 decides more.
            log.warning("agent %s lost execution %d", agent.instance_id, execution_id)
            await self._executions.mark(execution_id, UNKNOWN)
