"""Running jobs over REST against a real agent: ?wait, history, one execution, its log."""

from __future__ import annotations

from pathlib import Path

from jobstreamer.common.edn import Keyword
from jobstreamer.common.wire.content import JSON
from tests.control_bus._bus import Client, eventually, k, linked_agents, real_agent, running_bus
from tests.control_bus._domain import greet_job, hello_zip

TASKS = (
    "def run(n=1):\n"
    "    print('running with', n)\n"
    "    return {'doubled': n * 2}\n"
    "\n"
    "def boom():\n"
    "    raise ValueError('kaboom')\n"
)


async def with_jobs(client: Client) -> None:
    reply = await client.call("POST", "/apps?name=hello", body=hello_zip(tasks=TASKS), content_type="application/zip")
    assert reply.status == 201
    await client.call("POST", "/hello/jobs", greet_job("greet"))
    failing = k(**{"job/name": "fail", "job/steps": [k(**{"step/name": "boom", "step/task": "hello.tasks:boom"})]})
    await client.call("POST", "/hello/jobs", failing)


async def test_run_and_wait_on_a_real_agent(tmp_path: Path) -> None:
    async with running_bus(tmp_path / "bus") as (bus, client), real_agent(bus, tmp_path / "agent"):
        await with_jobs(client)
        await linked_agents(client)
        done = await client.call("POST", "/hello/job/greet/executions?wait=30", k(n=3))
        execution_id = done["execution/id"]
        as_json = await client.call(
            "POST", "/hello/job/greet/executions?wait=30", {"n": 4}, content_type=JSON, accept=JSON
        )
        failed = await client.call("POST", "/hello/job/fail/executions?wait=30")
        one = await client.call("GET", f"/hello/job/greet/execution/{execution_id}")
        one_json = await client.call("GET", f"/hello/job/greet/execution/{execution_id}", accept=JSON)
        history = await client.call("GET", "/hello/job/greet/executions")
        job = await client.call("GET", "/hello/job/greet")

        async def logged() -> object:
            reply = await client.call("GET", f"/hello/job/greet/execution/{execution_id}/log")
            return reply.data[Keyword("log/lines")] and reply

        log = await eventually(logged)
        tail = await client.call("GET", f"/hello/job/greet/execution/{execution_id}/log?offset=1")
    assert done.status == 201
    assert done.headers["Location"] == f"/hello/job/greet/execution/{execution_id}"
    assert done["execution/batch-status"] == Keyword("completed")
    assert done["execution/result"] == {"doubled": 6}
    assert done["execution/agent"][Keyword("agent/instance-id")]
    (step,) = done["execution/step-executions"]
    assert step[Keyword("step-execution/batch-status")] == Keyword("completed")
    assert as_json.status == 201
    assert as_json.data["execution/batch-status"] == "completed" and as_json.data["execution/result"] == {"doubled": 8}
    assert failed.status == 201 and failed["execution/batch-status"] == Keyword("failed")
    (failed_step,) = failed["execution/step-executions"]
    assert "kaboom" in failed_step[Keyword("step-execution/exception")]
    assert one.data == done.data
    assert one_json.data["execution/id"] == execution_id and one_json.data["application/name"] == "hello"
    assert [e[Keyword("execution/id")] for e in history["results"]] == [as_json.data["execution/id"], execution_id]
    assert job["job/stats"][Keyword("success")] == 2
    (line,) = log["log/lines"]
    assert line[Keyword("log/message")] == "running with 3" and line[Keyword("log/offset")] == 0
    assert log["log/next-offset"] == 1
    assert list(tail["log/lines"]) == [] and tail["log/next-offset"] == 1


async def test_without_an_agent_an_execution_waits_in_the_queue(tmp_path: Path) -> None:
    async with running_bus(tmp_path / "bus") as (bus, client):
        await with_jobs(client)
        queued = await client.call("POST", "/hello/job/greet/executions", k(n=1))
        waited = await client.call("POST", "/hello/job/greet/executions?wait=0.05", k(n=2))
        assert (queued.status, waited.status) == (202, 202)
        assert queued["execution/batch-status"] == Keyword("queued")
        async with real_agent(bus, tmp_path / "agent"):

            async def finished() -> bool:
                history = await client.call("GET", "/hello/job/greet/executions")
                statuses = {e[Keyword("execution/batch-status")] for e in history["results"]}
                return statuses == {Keyword("completed")}

            await eventually(finished)


async def test_bad_runs_are_4xx(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (_, client):
        await with_jobs(client)
        not_a_map = await client.call("POST", "/hello/job/greet/executions", [1, 2])
        bad_wait = await client.call("POST", "/hello/job/greet/executions?wait=soon")
        too_long = await client.call("POST", "/hello/job/greet/executions?wait=86400")
        no_job = await client.call("POST", "/hello/job/nope/executions")
        no_app = await client.call("POST", "/nope/job/greet/executions")
        made = await client.call("POST", "/hello/job/greet/executions")
        execution_id = made["execution/id"]
        other_job = await client.call("GET", f"/hello/job/fail/execution/{execution_id}")
        no_execution = await client.call("GET", "/hello/job/greet/execution/999999")
        not_an_id = await client.call("GET", "/hello/job/greet/execution/abc")
        follow = await client.call("GET", f"/hello/job/greet/execution/{execution_id}/log?follow=1")
        bad_offset = await client.call("GET", f"/hello/job/greet/execution/{execution_id}/log?offset=-1")
        history = await client.call("GET", "/hello/job/greet/executions")
    assert (not_a_map.status, not_a_map["error/field"]) == (400, "execution/parameters")
    assert (bad_wait.status, bad_wait["error/field"]) == (400, "wait")
    assert too_long.status == 400
    assert (no_job.status, no_app.status) == (404, 404)
    assert other_job.status == 404 and no_execution.status == 404 and not_an_id.status == 404
    assert (follow.status, follow["error/field"]) == (400, "follow")
    assert (bad_offset.status, bad_offset["error/field"]) == (400, "offset")
    assert history["hits"] == 1
