"""The /join link: signed upgrades, Ready, and the REST fetches its notifications trigger."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import aiohttp

from jobstreamer.common.edn import Keyword
from jobstreamer.common.wire import link
from jobstreamer.common.wire.announcement import AgentAnnouncement
from jobstreamer.common.wire.signing import signed_headers
from jobstreamer.control_bus.links import join_url
from tests._apps import SECRET
from tests.control_bus._bus import Client, FakeAgent, eventually, k, linked_agents, running_bus, state
from tests.control_bus._domain import greet_job, hello_zip

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


async def with_job(client: Client) -> None:
    await client.call("POST", "/apps?name=hello", body=hello_zip(), content_type="application/zip")
    await client.call("POST", "/hello/jobs", greet_job("greet"))


async def run(client: Client) -> int:
    reply = await client.call("POST", "/hello/job/greet/executions")
    return int(reply["execution/id"])


async def execution(client: Client, execution_id: int) -> dict[Keyword, object]:
    reply = await client.call("GET", f"/hello/job/greet/execution/{execution_id}")
    return reply.data


async def becomes(client: Client, execution_id: int, status: str) -> dict[Keyword, object]:
    async def check() -> dict[Keyword, object] | None:
        found = await execution(client, execution_id)
        return found if found[Keyword("execution/batch-status")] == Keyword(status) else None

    return await eventually(check)


async def submitted(agent: FakeAgent, execution_id: int) -> None:
    """Wait for the bus's POST /executions to reach the fake (it is :starting before)."""

    async def check() -> bool:
        return execution_id in agent.executions

    await eventually(check)


async def test_upgrades_must_be_signed(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (bus, client):

        async def upgrade(headers: dict[str, str]) -> int:
            try:
                async with client.session.ws_connect(bus.join_url, headers=headers):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

        unsigned = await upgrade({})
        wrong_secret = await upgrade(signed_headers("another secret", "GET", bus.join_url))
        bad_token = await upgrade({**signed_headers(SECRET, "GET", bus.join_url), link.TOKEN_HEADER: "made-up"})
        good = await upgrade(signed_headers(SECRET, "GET", bus.join_url))
    assert (unsigned, wrong_secret, bad_token, good) == (401, 401, 401, 101)


async def test_ready_registers_the_agent_with_its_spec(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (bus, client), FakeAgent(max_executions=3) as agent:
        await agent.link(bus.join_url)
        (found,) = await linked_agents(client)
        one = await client.call("GET", f"/agent/{agent.instance_id}")
        unknown = await client.call("GET", "/agent/nope")
    assert found[Keyword("agent/instance-id")] == agent.instance_id
    assert (found[Keyword("agent/host")], found[Keyword("agent/port")]) == ("127.0.0.1", agent.url.port)
    assert found[Keyword("agent/stats")][Keyword("agent/max-executions")] == 3
    assert Keyword("agent/instance-id") not in found[Keyword("agent/stats")]  # identity is not a stat
    assert one.data == found
    assert unknown.status == 404
    assert "GET /spec" in agent.calls


async def test_dispatch_progress_and_logs_over_a_link(tmp_path: Path) -> None:
    line = k(**{"log/offset": 0, "log/time": NOW, "log/level": Keyword("info"), "log/message": "hi", "log/step": "run"})
    async with running_bus(tmp_path) as (bus, client), FakeAgent() as agent:
        await with_job(client)
        await agent.link(bus.join_url)
        await linked_agents(client)
        execution_id = await run(client)
        await submitted(agent, execution_id)
        starting = await becomes(client, execution_id, "starting")
        (submission,) = agent.submissions
        agent.executions[execution_id] = state(
            execution_id, "completed", **{"execution/exit-status": "COMPLETED", "execution/result": 42}
        )
        await agent.send(link.Progress(execution_id))
        done = await becomes(client, execution_id, "completed")
        agent.logs[execution_id] = [line, {**line, Keyword("log/offset"): 1, Keyword("log/message"): "bye"}]
        await agent.send(link.LogWaiting(execution_id))

        async def logged() -> object:
            reply = await client.call("GET", f"/hello/job/greet/execution/{execution_id}/log")
            return len(reply["log/lines"]) == 2 and reply

        log = await eventually(logged)
    assert starting[Keyword("execution/agent")][Keyword("agent/instance-id")] == agent.instance_id
    assert submission[Keyword("execution/id")] == execution_id
    assert submission[Keyword("application/name")] == "hello" and submission[Keyword("job/name")] == "greet"
    assert submission[Keyword("job/steps")][0][Keyword("step/task")] == "hello.tasks:run"
    assert done[Keyword("execution/result")] == 42
    assert [line[Keyword("log/message")] for line in log["log/lines"]] == ["hi", "bye"]
    assert log["log/next-offset"] == 2


async def test_bad_messages_are_ignored_and_the_link_stays(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (bus, client), FakeAgent() as agent:
        await with_job(client)
        await agent.link(bus.join_url)
        await agent.send("{:command :nonsense}")
        await agent.send("not edn at all {")
        await agent.send(link.Progress(99999))  # unknown to the agent: nothing to apply
        await linked_agents(client)
        execution_id = await run(client)
        await submitted(agent, execution_id)
        agent.executions[execution_id] = state(execution_id, "started")
        await agent.send(link.Progress(execution_id))
        await becomes(client, execution_id, "started")


async def test_a_closed_link_leaves_the_agent_gone_after_the_grace(tmp_path: Path) -> None:
    async with running_bus(tmp_path, link_grace=0.05) as (bus, client), FakeAgent() as agent:
        await agent.link(bus.join_url)
        await linked_agents(client)
        await agent.unlink()

        async def gone() -> bool:
            found = await client.call("GET", f"/agent/{agent.instance_id}")
            return found["agent/state"] == Keyword("gone")

        await eventually(gone)
        await agent.link(bus.join_url)
        await linked_agents(client)


async def test_block_keeps_work_away_until_unblocked(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (bus, client), FakeAgent() as agent:
        await with_job(client)
        await agent.link(bus.join_url)
        await linked_agents(client)
        blocked = await client.call("PUT", f"/agent/{agent.instance_id}/block")
        execution_id = await run(client)
        still_queued = await execution(client, execution_id)
        # Relinking keeps the block: it is stored.
        await agent.unlink()
        await agent.link(bus.join_url)
        relinked = await client.call("GET", f"/agent/{agent.instance_id}")
        unblocked = await client.call("PUT", f"/agent/{agent.instance_id}/unblock")
        await becomes(client, execution_id, "starting")
        missing = await client.call("PUT", "/agent/nope/block")
    assert blocked["agent/state"] == Keyword("blocked")
    assert still_queued[Keyword("execution/batch-status")] == Keyword("queued")
    assert relinked["agent/state"] == Keyword("blocked")
    assert unblocked["agent/state"] == Keyword("ready")
    assert missing.status == 404


async def test_ready_reconciles_what_the_agent_ran_while_unlinked(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (bus, client), FakeAgent(max_executions=3) as agent:
        await with_job(client)
        await agent.link(bus.join_url)
        await linked_agents(client)
        finished, lost, forgotten = await run(client), await run(client), await run(client)
        for execution_id in (finished, lost, forgotten):
            await submitted(agent, execution_id)
        agent.executions[forgotten] = state(forgotten, "started")
        await agent.send(link.Progress(forgotten))
        await becomes(client, forgotten, "started")
        await agent.unlink()
        # While unlinked: one finished, one never arrived, one the agent forgot (it restarted).
        agent.executions[finished] = state(finished, "completed", **{"execution/exit-status": "COMPLETED"})
        del agent.executions[lost], agent.executions[forgotten]
        await agent.link(bus.join_url, finished=(finished,))
        await becomes(client, finished, "completed")
        await becomes(client, forgotten, "unknown")
        await becomes(client, lost, "starting")
    assert [s[Keyword("execution/id")] for s in agent.submissions] == [finished, lost, forgotten, lost]


async def test_invite_asks_the_agent_to_join_at_its_first_reachable_address(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (bus, client), FakeAgent() as agent:
        announcement = AgentAnnouncement(
            agent.instance_id,
            agent.name,
            "127.0.0.2",
            agent.url.port or 0,
            addresses=("127.0.0.2", "127.0.0.1"),  # nothing listens on the first
        )
        await bus.agents.invite(announcement, bus_host="0.0.0.0", bus_port=bus.port)
        (found,) = await linked_agents(client)
    assert agent.calls.count("POST /join-bus") == 1
    assert found[Keyword("agent/host")] == "127.0.0.1"


def test_join_url_is_reachable_from_the_agent() -> None:
    assert join_url("0.0.0.0", 45102, "127.0.0.1") == "ws://127.0.0.1:45102/join"
    assert join_url("10.1.2.3", 45102, "127.0.0.1") == "ws://10.1.2.3:45102/join"
