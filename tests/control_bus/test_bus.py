"""The bus process as a whole: settings it refuses, restart on the same data, discovery."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from jobstreamer.agent.app import Agent
from jobstreamer.common.edn import Keyword
from jobstreamer.common.settings import SettingError
from jobstreamer.control_bus.app import ControlBus, run_bus
from jobstreamer.control_bus.users import NoAdminPassword
from tests._apps import SECRET
from tests.control_bus._bus import ADMIN_PASSWORD, Client, eventually, k, linked_agents, real_agent, running_bus
from tests.control_bus._domain import greet_job, hello_zip

SLOW_TASKS = "import time\n\ndef run(n=1):\n    print('sleeping')\n    time.sleep(n)\n    return n\n"


def test_refuses_to_start_without_a_secret_or_with_tls(tmp_path: Path) -> None:
    with pytest.raises(SettingError) as no_secret:
        ControlBus(data=tmp_path)
    with pytest.raises(SettingError, match="not yet supported") as tls:
        ControlBus(data=tmp_path, secret=SECRET, tls_cert=tmp_path / "c.pem", tls_key=tmp_path / "k.pem")
    assert (no_secret.value.field, tls.value.field) == ("secret", "tls_cert")


async def test_refuses_to_start_without_any_user(tmp_path: Path) -> None:
    with pytest.raises(NoAdminPassword):
        async with ControlBus(data=tmp_path, secret=SECRET, port=0, host="127.0.0.1", discovery=False):
            pass
    # Once a user exists, the admin password is no longer needed.
    async with running_bus(tmp_path):
        pass
    async with ControlBus(data=tmp_path, secret=SECRET, port=0, host="127.0.0.1", discovery=False) as bus:
        assert bus.port > 0


async def test_urls_of_a_bus_on_every_interface(tmp_path: Path) -> None:
    async with running_bus(tmp_path, host="0.0.0.0") as (bus, client):
        health = await client.call("GET", "/healthcheck")
    assert bus.url == f"http://127.0.0.1:{bus.port}"
    assert bus.join_url == f"ws://127.0.0.1:{bus.port}/join"
    assert health.status == 200


async def test_run_bus_prints_its_url_and_stops_on_sigterm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = {"host": "127.0.0.1", "port": 0, "data": tmp_path, "secret": SECRET, "admin_password": "x",
                "store": None, "apps_dir": None, "interface": None, "tls_cert": None, "tls_key": None}
    bus = asyncio.create_task(run_bus({**settings, "discovery": False}))

    async def printed() -> str:
        await asyncio.sleep(0)
        return capsys.readouterr().out

    out = await eventually(printed)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(bus, 10)
    assert "listening on http://127.0.0.1:" in out


async def test_queued_executions_survive_a_restart_and_go_out_in_order(tmp_path: Path) -> None:
    async with running_bus(tmp_path / "bus") as (_, client):
        await client.call("POST", "/apps?name=hello", body=hello_zip(), content_type="application/zip")
        await client.call("POST", "/hello/jobs", greet_job("greet"))
        ids = [(await client.call("POST", "/hello/job/greet/executions", k(n=n)))["execution/id"] for n in range(3)]
    async with running_bus(tmp_path / "bus") as (bus, client), real_agent(bus, tmp_path / "agent", max_executions=1):

        async def finished() -> list[object] | None:
            history = (await client.call("GET", "/hello/job/greet/executions")).data[Keyword("results")]
            done = all(e[Keyword("execution/batch-status")] == Keyword("completed") for e in history)
            return history if done and len(history) == 3 else None

        history = await eventually(finished)
    by_start = sorted(history, key=lambda e: e[Keyword("execution/start-time")])
    assert [e[Keyword("execution/id")] for e in by_start] == ids


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def start_bus_process(data: Path, port: int) -> asyncio.subprocess.Process:
    """`run_bus` in a process of its own, as the CLI runs it; returns once it listens."""
    script = (
        "import asyncio, os, sys\n"
        "from jobstreamer.common.settings import BUS_SETTINGS, resolve\n"
        "from jobstreamer.control_bus.app import run_bus\n"
        "cli = {'host': '127.0.0.1', 'port': sys.argv[1], 'data': sys.argv[2]}\n"
        "asyncio.run(run_bus({**resolve(BUS_SETTINGS, cli=cli, env=os.environ), 'discovery': False}))\n"
    )
    env = {**os.environ, "JOBSTREAMER_SECRET": SECRET, "JOBSTREAMER_ADMIN_PASSWORD": ADMIN_PASSWORD}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, str(port), str(data), stdout=asyncio.subprocess.PIPE, env=env
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    assert b"listening on" in line, line
    return process


@pytest.mark.slow
async def test_kill_9_the_bus_and_restart_it_on_the_same_data(tmp_path: Path) -> None:
    port = free_port()
    bus = await start_bus_process(tmp_path / "bus", port)
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(session, f"http://127.0.0.1:{port}")
            await client.login()
            slow_app = hello_zip(tasks=SLOW_TASKS)
            await client.call("POST", "/apps?name=hello", body=slow_app, content_type="application/zip")
            await client.call("POST", "/hello/jobs", greet_job("greet"))
            join = f"ws://127.0.0.1:{port}/join"
            agent = Agent(secret=SECRET, data=tmp_path / "agent", port=0, control_bus=join, interface="127.0.0.1")
            async with agent:
                await linked_agents(client)
                quick = await client.call("POST", "/hello/job/greet/executions?wait=30", k(n=0))
                slow = (await client.call("POST", "/hello/job/greet/executions", k(n=2)))["execution/id"]

                async def sleeping() -> bool:
                    # Its code is loaded (from the bus) once it logs.
                    log = await client.call("GET", f"/hello/job/greet/execution/{slow}/log")
                    return bool(log["log/lines"])

                await eventually(sleeping)
                bus.kill()  # SIGKILL: no goodbye, no flush beyond what was committed
                await bus.wait()
                bus = await start_bus_process(tmp_path / "bus", port)
                # The agent links again on its own; its Ready makes the bus fetch the slow one.
                await linked_agents(client)

                async def slow_done() -> object:
                    one = await client.call("GET", f"/hello/job/greet/execution/{slow}")
                    return one["execution/batch-status"] == Keyword("completed") and one

                finished = await eventually(slow_done)
                again = await client.call("POST", "/hello/job/greet/executions?wait=30", k(n=0))
                history = await client.call("GET", "/hello/job/greet/executions")
    finally:
        bus.kill()
        await bus.wait()
    assert quick["execution/batch-status"] == Keyword("completed")
    assert finished["execution/result"] == 2
    assert again.status == 201 and again["execution/batch-status"] == Keyword("completed")
    assert history["hits"] == 3


@pytest.mark.netns
async def test_discovered_agents_join_by_themselves(tmp_path: Path) -> None:
    async with running_bus(tmp_path / "bus", discovery=True, interface="127.0.0.1") as (_, client):
        await client.call("POST", "/apps?name=hello", body=hello_zip(), content_type="application/zip")
        await client.call("POST", "/hello/jobs", greet_job("greet"))
        async with Agent(secret=SECRET, data=tmp_path / "agent", port=0, interface="127.0.0.1", max_executions=1):
            (found,) = await linked_agents(client)
            done = await client.call("POST", "/hello/job/greet/executions?wait=30", k(n=5))
    assert found[Keyword("agent/host")] == "127.0.0.1"
    assert done["execution/result"] == {"doubled": 10, "depth": 42, "version": 1}


def test_nothing_blocks_the_event_loop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Start, upload, run on a real agent, restart: no callback holds the loop for 200 ms."""

    async def scenario() -> None:
        async with running_bus(tmp_path / "bus") as (bus, client), real_agent(bus, tmp_path / "agent"):
            await client.call("POST", "/apps?name=hello", body=hello_zip(), content_type="application/zip")
            await client.call("POST", "/hello/jobs", greet_job("greet"))
            await linked_agents(client)
            for n in range(5):
                done = await client.call("POST", "/hello/job/greet/executions?wait=30", k(n=n))
                assert done["execution/batch-status"] == Keyword("completed")
        async with running_bus(tmp_path / "bus") as (_, client):
            assert (await client.call("GET", "/hello/job/greet/executions"))["hits"] == 5

    with caplog.at_level("WARNING", logger="asyncio"), asyncio.Runner(debug=True) as runner:
        runner.get_loop().slow_callback_duration = 0.2
        runner.run(scenario())
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio" and " took " in r.getMessage()]
    assert not slow, slow
