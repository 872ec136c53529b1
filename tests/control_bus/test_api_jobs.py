"""Job definitions over REST: create, replace, list, validation errors with their field."""

from __future__ import annotations

from pathlib import Path

from jobstreamer.common.edn import Keyword
from jobstreamer.common.wire.content import JSON
from tests.control_bus._bus import Client, k, running_bus
from tests.control_bus._domain import greet_job, hello_zip


async def with_hello(client: Client) -> None:
    reply = await client.call("POST", "/apps?name=hello", body=hello_zip(), content_type="application/zip")
    assert reply.status == 201


async def test_create_replace_get_list_delete(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (_, client):
        await with_hello(client)
        created = await client.call("POST", "/hello/jobs", greet_job("greet"))
        replaced = await client.call("POST", "/hello/jobs", {**greet_job("greet"), Keyword("job/exclusive?"): True})
        await client.call("POST", "/hello/jobs", greet_job("other"))
        one = await client.call("GET", "/hello/job/greet")
        everything = await client.call("GET", "/hello/jobs")
        found = await client.call("GET", "/hello/jobs?q=OTH")
        paged = await client.call("GET", "/hello/jobs?limit=1&offset=1")
        deleted = await client.call("DELETE", "/hello/job/other")
        gone = await client.call("GET", "/hello/job/other")
    assert (created.status, replaced.status) == (201, 200)
    assert created.headers["Location"] == "/hello/job/greet"
    assert one["job/exclusive?"] is True and one["job/stats"][Keyword("total")] == 0
    assert [j[Keyword("job/name")] for j in everything["results"]] == ["greet", "other"]
    assert [j[Keyword("job/name")] for j in found["results"]] == ["other"]
    assert (paged["hits"], paged["limit"], paged["offset"]) == (2, 1, 1)
    assert [j[Keyword("job/name")] for j in paged["results"]] == ["other"]
    assert deleted.status == 204 and gone.status == 404


async def test_put_names_the_job_by_its_path(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (_, client):
        await with_hello(client)
        body = greet_job("greet")
        del body[Keyword("job/name")]
        created = await client.call("PUT", "/hello/job/greet", body)
        replaced = await client.call("PUT", "/hello/job/greet", greet_job("greet"))
        mismatch = await client.call("PUT", "/hello/job/greet", greet_job("other"))
    assert (created.status, replaced.status) == (201, 200)
    assert created["job/name"] == "greet"
    assert (mismatch.status, mismatch["error/field"]) == (400, "job/name")


async def test_bad_definitions_are_400_with_the_field(tmp_path: Path) -> None:
    step = {Keyword("step/name"): "run", Keyword("step/task"): "not a task"}
    async with running_bus(tmp_path) as (_, client):
        await with_hello(client)
        bad_task = await client.call("POST", "/hello/jobs", k(**{"job/name": "x", "job/steps": [step]}))
        no_steps = await client.call("POST", "/hello/jobs", k(**{"job/name": "x", "job/steps": []}))
        bad_name = await client.call("POST", "/hello/jobs", greet_job("no spaces"))
        not_a_map = await client.call("POST", "/hello/jobs", "a string")
        empty = await client.call("POST", "/hello/jobs", body=b"", content_type="application/edn")
        malformed_edn = await client.call("POST", "/hello/jobs", body=b"{:job/name", content_type="application/edn")
        malformed_json = await client.call("POST", "/hello/jobs", body=b'{"job/name": ', content_type=JSON)
        unsupported = await client.call("POST", "/hello/jobs", body=b"<job/>", content_type="application/xml")
        bad_limit = await client.call("GET", "/hello/jobs?limit=lots")
        listed = await client.call("GET", "/hello/jobs")
    assert (bad_task.status, bad_task["error/field"]) == (400, "job/steps[0].step/task")
    assert (no_steps.status, no_steps["error/field"]) == (400, "job/steps")
    assert (bad_name.status, bad_name["error/field"]) == (400, "job/name")
    assert not_a_map.status == 400 and empty.status == 400
    assert malformed_edn.status == 400 and malformed_json.status == 400
    assert unsupported.status == 415
    assert (bad_limit.status, bad_limit["error/field"]) == (400, "limit")
    assert listed["hits"] == 0


async def test_json_in_and_out(tmp_path: Path) -> None:
    definition = {
        "job/name": "greet",
        "job/steps": [{"step/name": "run", "step/task": "hello.tasks:run"}],
        "job/time-monitor": {"time-monitor/duration": 60, "time-monitor/action": "stop"},
    }
    async with running_bus(tmp_path) as (_, client):
        await with_hello(client)
        created = await client.call("POST", "/hello/jobs", definition, content_type=JSON, accept=JSON)
        as_edn = await client.call("GET", "/hello/job/greet")
    assert created.status == 201
    assert created.data["job/name"] == "greet"
    assert created.data["job/time-monitor"] == {"time-monitor/duration": 60, "time-monitor/action": "stop"}
    assert as_edn["job/time-monitor"][Keyword("time-monitor/action")] == Keyword("stop")


async def test_unknown_app_or_job_is_404(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (_, client):
        await with_hello(client)
        no_app = await client.call("POST", "/nope/jobs", greet_job())
        no_app_list = await client.call("GET", "/nope/jobs")
        no_job = await client.call("GET", "/hello/job/nope")
        no_job_delete = await client.call("DELETE", "/hello/job/nope")
    assert (no_app.status, no_app["error/field"]) == (404, "application/name")
    assert no_app_list.status == 404
    assert (no_job.status, no_job["error/field"]) == (404, "job/name")
    assert no_job_delete.status == 404
