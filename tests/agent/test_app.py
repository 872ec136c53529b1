"""A real agent (HTTP on port 0, warm workers) linked to a fake bus on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from jobstreamer.agent.app import Agent, run_agent
from jobstreamer.common.edn import K, Keyword
from jobstreamer.common.settings import AGENT_SETTINGS, SettingError, resolve
from jobstreamer.common.wire.link import Heartbeat, LogWaiting, Progress, Ready
from tests._apps import SECRET, Bundles
from tests.agent._bus import FakeBus, execution, jobs_app, shell, task, until_gone
from tests.test_serve import loopbacks


@asynccontextmanager
async def agent_for(bus: FakeBus, data: Path, **settings: Any) -> AsyncIterator[Agent]:
    options = {"max_executions": 1, "control_bus": bus.join_url, "interface": "127.0.0.1", **settings}
    async with Agent(secret=SECRET, data=data, port=0, heartbeat_interval=0.05, kill_grace=1.0, **options) as agent:
        yield agent


async def until_status(bus: FakeBus, agent: Agent, execution_id: int, status: str) -> dict[Keyword, Any]:
    """The execution once it reached `status`, fetched as the bus does: after each Progress."""
    while True:
        code, body = await bus.call("GET", f"{agent.url}/execution/{execution_id}")
        assert code == 200, body
        if body[K("execution/batch-status")] == Keyword(status):
            return body
        await bus.expect(Progress, execution_id=execution_id)


async def test_on_every_interface_the_port_it_reports_answers_on_each(tmp_path: Path) -> None:
    # With port 0, asyncio alone gives 0.0.0.0 and :: two different ports (common/serve.py).
    addresses = loopbacks()
    async with FakeBus() as bus, agent_for(bus, tmp_path, interface=None) as agent:
        ready = await bus.expect(Ready)
        host = {address: f"[{address}]" if ":" in address else address for address in addresses}
        answers = {a: await bus.call("GET", f"http://{host[a]}:{ready.port}/healthcheck") for a in addresses}
    assert ready.port == agent.port
    assert answers == {address: (200, {K("agent/instance-id"): agent.instance_id}) for address in addresses}


def test_an_agent_refuses_to_start_without_the_cluster_secret(tmp_path: Path) -> None:
    with pytest.raises(SettingError, match="JOBSTREAMER_SECRET") as refused:
        Agent(data=tmp_path)
    assert refused.value.field == "secret"


async def test_it_links_to_its_control_bus_heartbeats_and_keeps_its_identity(tmp_path: Path) -> None:
    async with FakeBus() as bus:
        async with agent_for(bus, tmp_path) as agent:
            ready = await bus.expect(Ready)
            assert (ready.instance_id, ready.host, ready.port) == (agent.instance_id, "127.0.0.1", agent.port)
            assert (ready.running, ready.finished) == ((), ())
            stats = (await bus.expect(Heartbeat)).stats
            assert stats[K("agent/max-executions")] == 1 and stats[K("agent/executions")] == ()
            assert stats[K("agent/memory")] >= stats[K("agent/memory-free")] > 0
            first = agent.instance_id
        async with agent_for(bus, tmp_path) as again:
            assert again.instance_id == first == (tmp_path / "instance-id").read_text().strip()


async def test_run_agent_serves_until_sigterm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with FakeBus() as bus:
        settings = resolve(
            AGENT_SETTINGS,
            cli={"port": "0", "data": str(tmp_path), "control_bus": bus.join_url, "max_executions": "1"},
            env={"JOBSTREAMER_SECRET": SECRET},
        )
        running = asyncio.create_task(run_agent(settings))
        ready = await bus.expect(Ready)
        assert f"listening on port {ready.port}" in capsys.readouterr().out
        os.kill(os.getpid(), signal.SIGTERM)  # run_agent's handler has it, not pytest
        await asyncio.wait_for(running, 10)


async def test_every_route_but_the_healthcheck_needs_a_signature(tmp_path: Path) -> None:
    async with FakeBus() as bus, agent_for(bus, tmp_path, name="alpha") as agent:
        assert await bus.call("GET", agent.url + "/healthcheck", secret=None) == (
            200, {K("agent/instance-id"): agent.instance_id}
        )
        for secret in (None, "not-the-cluster-secret"):
            code, body = await bus.call("GET", agent.url + "/spec", secret=secret)
            assert code == 401 and body[K("error/message")]
            code, _ = await bus.call("POST", agent.url + "/join-bus", {}, secret=secret)
            assert code == 401
        code, spec = await bus.call("GET", agent.url + "/spec")
        assert code == 200
        assert (spec[K("agent/instance-id")], spec[K("agent/name")], spec[K("agent/port")]) == (
            agent.instance_id, "alpha", agent.port
        )
        assert spec[K("agent/cores")] >= 1 and len(spec[K("agent/load")]) == 3


async def test_join_bus_links_to_the_bus_that_asked_and_falls_back_when_it_drops(tmp_path: Path) -> None:
    async with FakeBus() as home, FakeBus() as other, agent_for(home, tmp_path) as agent:
        await home.expect(Ready)
        join = {K("control-bus/url"): other.join_url, K("control-bus/token"): "nonce-7"}
        assert await home.call("POST", agent.url + "/join-bus", join) == (200, {K("agent/instance-id"): agent.instance_id})
        assert (await other.expect(Ready)).instance_id == agent.instance_id
        assert other.tokens == ["nonce-7"]
        await other.drop()
        await home.expect(Ready)  # back to --control-bus


@pytest.mark.netns
async def test_without_a_control_bus_it_announces_itself_and_waits_for_a_join(tmp_path: Path) -> None:
    bundles = Bundles()
    version = jobs_app(bundles)
    async with FakeBus(bundles) as bus, agent_for(bus, tmp_path, control_bus=None) as agent:
        code, body = await bus.call("POST", agent.url + "/executions", execution(1, version, task("d", "double", n=1)))
        assert code == 409 and "joined no bus" in body[K("error/message")]
        join = {K("control-bus/url"): bus.join_url, K("control-bus/token"): "nonce"}
        assert (await bus.call("POST", agent.url + "/join-bus", join))[0] == 200
        await bus.expect(Ready)
        assert (await bus.call("POST", agent.url + "/executions", execution(1, version, task("d", "double", n=4))))[0] == 202
        assert (await until_status(bus, agent, 1, "completed"))[K("execution/result")] == 8


async def test_an_execution_runs_once_however_often_it_is_posted(tmp_path: Path) -> None:
    bundles = Bundles()
    version = jobs_app(bundles)
    runs = tmp_path / "runs"
    runs.mkdir()
    job = execution(42, version, task("touch", "touch"), task("greet", "greet"), directory=str(runs), name="bus")
    async with FakeBus(bundles) as bus, agent_for(bus, tmp_path / "agent") as agent:
        code, body = await bus.call("POST", agent.url + "/executions", job)
        assert (code, body[K("execution/id")], body[K("execution/batch-status")]) == (202, 42, K("starting"))
        code, body = await bus.call("POST", agent.url + "/executions", job)
        assert code == 200 and body[K("execution/id")] == 42
        done = await until_status(bus, agent, 42, "completed")
        assert done[K("execution/result")]["greeting"] == "hello bus!"
        assert done[K("execution/exit-status")] == "COMPLETED"
        assert [s[K("step-execution/batch-status")] for s in done[K("execution/step-executions")]] == [
            K("completed"), K("completed")
        ]
        assert await bus.call("POST", agent.url + "/executions", job) == (200, done)
        assert len(list(runs.iterdir())) == 1
        await bus.drop()
        assert (await bus.expect(Ready)).finished == (42,)


async def test_a_full_agent_answers_503_and_stop_kills_the_worker(tmp_path: Path) -> None:
    bundles = Bundles()
    version = jobs_app(bundles)
    async with FakeBus(bundles) as bus, agent_for(bus, tmp_path) as agent:
        hang = execution(1, version, task("hang", "hang"))
        assert (await bus.call("POST", agent.url + "/executions", hang))[0] == 202
        await bus.expect(LogWaiting, execution_id=1)
        code, page = await bus.call("GET", agent.url + "/execution/1/log?offset=0")
        pids = [int(pid) for pid in page[K("log/lines")][0][K("log/message")].split()[1:]]

        code, body = await bus.call("POST", agent.url + "/executions", execution(2, version, task("d", "double", n=1)))
        assert code == 503 and "maximum" in body[K("error/message")]
        assert (await bus.call("GET", agent.url + "/spec"))[1][K("agent/executions")] == (1,)

        code, body = await bus.call("PUT", agent.url + "/execution/1/stop")
        assert code == 202 and body[K("execution/batch-status")] in (K("stopping"), K("stopped"))
        await until_status(bus, agent, 1, "stopped")
        await until_gone(*pids)
        assert (await bus.call("PUT", agent.url + "/execution/1/stop"))[0] == 200  # stopped already

        assert (await bus.call("POST", agent.url + "/executions", execution(2, version, shell("s", "true"))))[0] == 202
        await until_status(bus, agent, 2, "completed")


async def test_abandon_ends_an_execution_at_once(tmp_path: Path) -> None:
    bundles = Bundles()
    version = jobs_app(bundles)
    async with FakeBus(bundles) as bus, agent_for(bus, tmp_path) as agent:
        assert (await bus.call("POST", agent.url + "/executions", execution(3, version, task("hang", "hang"))))[0] == 202
        await bus.expect(LogWaiting, execution_id=3)
        code, body = await bus.call("PUT", agent.url + "/execution/3/abandon")
        assert (code, body[K("execution/batch-status")], body[K("execution/exit-status")]) == (
            200, K("abandoned"), "ABANDONED"
        )


async def test_log_lines_page_by_offset(tmp_path: Path) -> None:
    bundles = Bundles()
    version = jobs_app(bundles)
    async with FakeBus(bundles) as bus, agent_for(bus, tmp_path) as agent:
        assert (await bus.call("POST", agent.url + "/executions", execution(5, version, task("c", "chatty", lines=30))))[0] == 202
        assert (await until_status(bus, agent, 5, "completed"))[K("execution/log-lines")] == 30
        code, page = await bus.call("GET", agent.url + "/execution/5/log?offset=25")
        assert code == 200 and page[K("log/next-offset")] == 30
        assert [line[K("log/message")] for line in page[K("log/lines")]] == [f"line {n}" for n in range(25, 30)]
        assert {line[K("log/step")] for line in page[K("log/lines")]} == {"c"}
        assert len((await bus.call("GET", agent.url + "/execution/5/log"))[1][K("log/lines")]) == 30
        for offset in ("-1", "abc", "1.5"):
            code, body = await bus.call("GET", agent.url + f"/execution/5/log?offset={offset}")
            assert (code, body[K("error/field")]) == (400, "offset")


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/executions", None, "must be a map"),
        ("/executions", [1, 2], "must be a map"),
        ("/executions", {K("job/name"): "j", K("job/steps"): [{K("step/name"): "s", K("step/shell"): ["true"]}]},
         ":execution/id"),
        ("/executions", {K("execution/id"): 1, K("job/name"): "j", K("job/steps"): []}, ":job/steps"),
        ("/executions", {K("execution/id"): "one", K("job/name"): "j", K("job/steps"): []}, ":execution/id"),
        ("/executions", {K("execution/id"): 1, K("job/name"): "j", K("job/steps"): [{K("step/name"): "s"}]},
         "either :step/task or :step/shell"),
        ("/executions", {K("execution/id"): 1, K("job/name"): "j",
                         K("job/steps"): [{K("step/name"): "s", K("step/task"): "nocolon"}]}, "module:function"),
        ("/executions", {K("execution/id"): 1, K("job/name"): "j",
                         K("job/steps"): [{K("step/name"): "s", K("step/task"): "m:f"}]}, ":application/name"),
        ("/executions", {K("execution/id"): 1, K("job/name"): "j", K("execution/parameters"): [1],
                         K("job/steps"): [{K("step/name"): "s", K("step/shell"): ["true"]}]}, ":execution/parameters"),
        ("/join-bus", {K("control-bus/url"): "ftp://bus/join", K("control-bus/token"): "t"}, ":control-bus/url"),
        ("/join-bus", {K("control-bus/url"): "ws://bus:1/join"}, ":control-bus/token"),
    ],
)
async def test_bad_bodies_are_refused_with_400(tmp_path: Path, path: str, body: Any, message: str) -> None:
    async with FakeBus() as bus, agent_for(bus, tmp_path) as agent:
        code, answer = await bus.call("POST", agent.url + path, body)
        assert code == 400 and message in answer[K("error/message")], answer


async def test_malformed_edn_and_unknown_executions(tmp_path: Path) -> None:
    async with FakeBus() as bus, agent_for(bus, tmp_path) as agent:
        code, answer = await bus.call("POST", agent.url + "/executions", raw=b"{:execution/id")
        assert code == 400 and "malformed EDN" in answer[K("error/message")]
        for method, path in [("GET", "/execution/9"), ("GET", "/execution/9/log"), ("PUT", "/execution/9/stop"),
                             ("PUT", "/execution/9/abandon"), ("GET", "/execution/nine")]:
            code, answer = await bus.call(method, agent.url + path)
            assert code == 404, (path, answer)
