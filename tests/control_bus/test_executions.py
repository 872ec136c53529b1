"""Executions: the state machine, agent replies, the API shape, waiting and listening."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobstreamer.common import edn
from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import BadRequest, NotFound
from jobstreamer.control_bus.executions import (
    ABANDONED,
    COMPLETED,
    EDGES,
    FAILED,
    INITIAL,
    QUEUED,
    STARTED,
    STARTING,
    STATES,
    STOPPED,
    STOPPING,
    TERMINAL,
    UNDISPATCHED,
    UNKNOWN,
    ExecutionChange,
    IllegalTransition,
    transition,
)
from tests.control_bus._domain import bus, hello_with_job, hello_zip, k

STATUS = Keyword("execution/batch-status")
STEPS = Keyword("execution/step-executions")
ID = Keyword("execution/id")
T0 = edn.loads('#inst "2024-05-01T12:00:00Z"')
T1 = edn.loads('#inst "2024-05-01T12:00:02Z"')


def reply(
    status: Keyword, *steps: dict[Keyword, object], **values: object
) -> dict[Keyword, object]:
    """An agent's GET /execution/:id reply."""
    return {STATUS: status, STEPS: list(steps), **k(**values)}


def step(name: str, status: Keyword, **values: object) -> dict[Keyword, object]:
    return {
        Keyword("step-execution/step-name"): name,
        Keyword("step-execution/batch-status"): status,
        **k(**values),
    }


# -- the state machine --


def test_the_edges() -> None:
    assert transition(None, QUEUED) == QUEUED
    assert transition(QUEUED, STARTING) == STARTING
    assert transition(STARTING, STARTED) == STARTED
    assert transition(STARTED, COMPLETED) == COMPLETED
    assert transition(STARTING, QUEUED) == QUEUED  # the agent was full
    assert transition(QUEUED, STARTED) == STARTED  # the agent's report overtook the dispatcher
    assert transition(STARTED, UNKNOWN) == UNKNOWN
    assert transition(UNKNOWN, COMPLETED) == COMPLETED  # the agent came back
    assert transition(STARTED, Keyword("started")) == STARTED
    assert transition(STARTED, "stopping") == STOPPING  # names are accepted, as JSON sends them


def test_late_reports_after_a_final_state_are_ignored() -> None:
    assert transition(COMPLETED, STARTED) == COMPLETED
    assert transition(ABANDONED, COMPLETED) == ABANDONED


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (None, STARTED),
        (STARTED, QUEUED),
        (STOPPING, STARTED),
        (UNKNOWN, QUEUED),
        (STARTED, STARTING),
    ],
)
def test_illegal_edges_are_conflicts(current: Keyword | None, new: Keyword) -> None:
    with pytest.raises(IllegalTransition) as refused:
        transition(current, new)
    assert refused.value.status == 409


def test_an_unknown_state_is_a_bad_request() -> None:
    with pytest.raises(BadRequest) as bad:
        transition(QUEUED, Keyword("exploded"))
    assert bad.value.field == "execution/batch-status"


def test_every_state_can_finish_every_way() -> None:
    assert set(EDGES) == STATES - TERMINAL
    for start in STATES - TERMINAL:
        reachable, todo = {start}, deque([start])
        while todo:
            for nxt in EDGES.get(todo.popleft(), frozenset()):
                if nxt not in reachable:
                    reachable.add(nxt)
                    todo.append(nxt)
        assert TERMINAL <= reachable, start


@given(st.sampled_from(sorted(INITIAL)), st.lists(st.sampled_from(sorted(STATES)), max_size=30))
def test_reports_in_any_order(initial: Keyword, reports: list[Keyword]) -> None:
    state = transition(None, initial)
    for new in reports:
        try:
            after = transition(state, new)
        except IllegalTransition:
            assert state not in TERMINAL and new not in EDGES[state] and new != state
            continue
        if state in TERMINAL:
            assert after == state  # never left
        else:
            assert after == new and (new == state or new in EDGES[state])
        state = after


# -- in the store --


async def test_create_queues_pinned_to_the_current_version(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        first = await hello_with_job(b)
        old = await b.executions.create("hello", "greet", k(n=2))
        await b.apps.register(hello_zip(tasks="def run():\n    return 2\n"), name="hello")
        new = await b.executions.create("hello", "greet", {})
        assert b.executions.view(old)[Keyword("application/version")] == first
        assert (
            b.executions.view(new)[Keyword("application/version")]
            == b.apps.current_version("hello")
            != first
        )
        assert b.executions.view(old)[Keyword("execution/parameters")] == k(n=2)
        assert b.executions.queued() == [old, new] == b.executions.unfinished()
        assert b.executions.agent_request(old) == {
            ID: old,
            Keyword("application/name"): "hello",
            Keyword("application/version"): first,
            Keyword("job/name"): "greet",
            Keyword("job/steps"): (k(**{"step/name": "run", "step/task": "hello.tasks:run"}),),
            Keyword("execution/parameters"): k(n=2),
        }


async def test_create_refuses_unknown_apps_jobs_and_bad_parameters(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        await hello_with_job(b)
        for app, job in (("nope", "greet"), ("hello", "nope")):
            with pytest.raises(NotFound):
                await b.executions.create(app, job, {})
        with pytest.raises(BadRequest) as bad:
            await b.executions.create("hello", "greet", [1, 2])  # type: ignore[arg-type]
        assert bad.value.field == "execution/parameters"


async def test_queue_order_survives_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "bus.db")
    async with bus(tmp_path, path) as b:
        await hello_with_job(b)
        first = await b.executions.create("hello", "greet", {})
        second = await b.executions.create("hello", "greet", {})
        await b.executions.mark(second, STARTING, agent="agent-1")
        await b.executions.mark(second, QUEUED)  # refused by the agent: back in the queue
    async with bus(tmp_path, path) as b:
        third = await b.executions.create("hello", "greet", {})
        assert b.executions.queued() == [first, second, third]
        assert Keyword("execution/agent") not in b.executions.view(second)


async def test_mark(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        await hello_with_job(b)
        execution = await b.executions.create("hello", "greet", {})
        assert await b.executions.mark(execution, STARTING, agent="agent-1") == STARTING
        assert b.executions.view(execution)[Keyword("execution/agent")] == {
            Keyword("agent/instance-id"): "agent-1"
        }
        with pytest.raises(IllegalTransition):
            await b.executions.mark(execution, UNDISPATCHED)
        assert await b.executions.mark(execution, ABANDONED) == ABANDONED
        assert Keyword("execution/end-time") in b.executions.view(execution)
        basis = b.store.db().basis_t
        assert await b.executions.mark(execution, STARTED) == ABANDONED  # final: ignored
        assert b.store.db().basis_t == basis
        with pytest.raises(NotFound):
            await b.executions.mark(execution + 1000, STARTED)


async def test_agent_state_is_applied_once_whatever_the_order(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        await hello_with_job(b)
        execution = await b.executions.create("hello", "greet", {})
        await b.executions.mark(execution, STARTING, agent="agent-1")
        running = reply(
            STARTED,
            step("run", STARTED, **{"step-execution/start-time": T0}),
            **{"execution/start-time": T0},
        )
        assert await b.executions.apply_agent_state(execution, running)
        done = reply(
            COMPLETED,
            step(
                "run",
                COMPLETED,
                **{
                    "step-execution/start-time": T0,
                    "step-execution/end-time": T1,
                    "step-execution/exit-status": "COMPLETED",
                    "step-execution/exception": None,
                },
            ),
            **{
                "execution/start-time": T0,
                "execution/end-time": T1,
                "execution/exit-status": "COMPLETED",
                "execution/result": {Keyword("doubled"): [2, {Keyword("x"): True}]},
                "execution/log-lines": 3,
                "execution/id": execution,
            },
        )
        assert await b.executions.apply_agent_state(execution, done)
        basis = b.store.db().basis_t
        assert not await b.executions.apply_agent_state(execution, done)  # idempotent
        assert not await b.executions.apply_agent_state(execution, running)  # late: ignored
        assert b.store.db().basis_t == basis

        shown = b.executions.get("hello", "greet", execution)
        assert shown[STATUS] == COMPLETED
        assert shown[Keyword("execution/result")] == {Keyword("doubled"): (2, {Keyword("x"): True})}
        assert (shown[Keyword("execution/start-time")], shown[Keyword("execution/end-time")]) == (
            T0,
            T1,
        )
        assert shown[STEPS] == [
            {
                Keyword("step-execution/step-name"): "run",
                Keyword("step-execution/batch-status"): COMPLETED,
                Keyword("step-execution/exit-status"): "COMPLETED",
                Keyword("step-execution/start-time"): T0,
                Keyword("step-execution/end-time"): T1,
            }
        ]


async def test_a_stale_state_still_brings_step_progress(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        await hello_with_job(b)
        execution = await b.executions.create("hello", "greet", {})
        await b.executions.mark(execution, STARTED)
        await b.executions.mark(execution, STOPPING)
        # The agent had not seen the stop yet: its state is stale, its steps are news.
        assert await b.executions.apply_agent_state(execution, reply(STARTED, step("run", STARTED)))
        shown = b.executions.view(execution)
        assert (
            shown[STATUS] == STOPPING
            and shown[STEPS][0][Keyword("step-execution/batch-status")] == STARTED
        )
        await b.executions.apply_agent_state(execution, reply(STOPPED, step("run", STOPPED)))
        assert b.executions.view(execution)[STATUS] == STOPPED
        assert Keyword("execution/end-time") in b.executions.view(
            execution
        )  # set by the bus when missing


@pytest.mark.parametrize(
    ("state", "field"),
    [
        ({ID: 999}, "execution/id"),
        ({STATUS: Keyword("exploded")}, "execution/batch-status"),
        ({STEPS: [{}]}, "execution/step-executions[0].step-execution/step-name"),
        ({Keyword("execution/end-time"): "yesterday"}, "execution.execution/end-time"),
    ],
)
async def test_a_malformed_agent_state_is_refused(
    tmp_path: Path, state: dict[Keyword, object], field: str
) -> None:
    async with bus(tmp_path) as b:
        await hello_with_job(b)
        execution = await b.executions.create("hello", "greet", {})
        with pytest.raises(BadRequest) as bad:
            await b.executions.apply_agent_state(execution, state)
        assert bad.value.field == field


async def test_get_and_history(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        await hello_with_job(b)
        await b.jobs.put(
            "hello",
            k(
                **{
                    "job/name": "other",
                    "job/steps": [k(**{"step/name": "s", "step/shell": ["true"]})],
                }
            ),
        )
        ids = [await b.executions.create("hello", "greet", {}) for _ in range(3)]
        elsewhere = await b.executions.create("hello", "other", {})
        shown = b.executions.get("hello", "greet", ids[0])
        assert shown[ID] == ids[0] and shown[STATUS] == QUEUED and shown[STEPS] == []
        assert (
            shown[Keyword("application/name")] == "hello" and shown[Keyword("job/name")] == "greet"
        )
        with pytest.raises(NotFound):
            b.executions.get("hello", "greet", elsewhere)  # another job's
        with pytest.raises(NotFound):
            b.executions.get("hello", "greet", 10**6)
        page = b.executions.history("hello", "greet", limit=2, offset=0)
        assert [e[ID] for e in page[Keyword("results")]] == ids[::-1][:2]
        assert page[Keyword("hits")] == 3
        assert [
            e[ID]
            for e in b.executions.history("hello", "greet", limit=2, offset=2)[Keyword("results")]
        ] == [ids[0]]


# -- waiting and listening --


async def test_wait_resolves_when_the_execution_finishes(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        await hello_with_job(b)
        execution = await b.executions.create("hello", "greet", {})
        assert await b.executions.wait(execution, 0.01) is None  # timed out

        async def finish() -> None:
            await b.executions.mark(execution, STARTED)
            await b.executions.apply_agent_state(
                execution, reply(COMPLETED, step("run", COMPLETED))
            )

        start = time.perf_counter()
        waiting = asyncio.ensure_future(b.executions.wait(execution, 10))
        await asyncio.sleep(0)
        await finish()
        done = await waiting
        assert time.perf_counter() - start < 1  # pushed, not polled
        assert done is not None and done[STATUS] == COMPLETED and done[STEPS]
        final = await b.executions.wait(execution, 0)
        assert final is not None and final[STATUS] == COMPLETED  # already final
        with pytest.raises(NotFound):
            await b.executions.wait(10**6, 1)


async def test_subscribers_hear_every_change(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        await hello_with_job(b)
        changes: list[ExecutionChange] = []
        unsubscribe = b.executions.subscribe(changes.append)
        execution = await b.executions.create("hello", "greet", {})
        await b.executions.mark(execution, STARTED)
        await b.executions.apply_agent_state(
            execution, reply(STARTED, step("run", STARTED))
        )  # steps only
        await b.executions.apply_agent_state(execution, reply(FAILED))
        seen = [(c.execution_id, c.previous, c.batch_status, c.finished) for c in changes]
        assert seen == [
            (execution, None, QUEUED, False),
            (execution, QUEUED, STARTED, False),
            (execution, STARTED, STARTED, False),
            (execution, STARTED, FAILED, True),
        ]
        assert changes[-1].db.entity(execution)[STATUS] == FAILED
        unsubscribe()
        await b.executions.create("hello", "greet", {})
        assert len(changes) == 4
