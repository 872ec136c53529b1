"""The agent's /join link against a fake bus on loopback (no zeroconf: links are made directly)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from jobstreamer.agent.link import LinkClient, code_url, ws_url
from jobstreamer.common.edn import Keyword
from jobstreamer.common.wire.link import Heartbeat, LogWaiting, Progress, Ready
from tests._apps import SECRET
from tests.agent._bus import FakeBus

STATS = {Keyword("agent/cores"): 4}


class Agent:
    """What the link asks of an agent, recorded."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()
        self.hosts: list[str] = []

    def ready(self, host: str) -> Ready:
        self.hosts.append(host)
        return Ready(instance_id="agent-1", name="alpha", host=host, port=4510, running=(7,), finished=(5,))

    async def on_closed(self) -> None:
        self.closed.set()


@asynccontextmanager
async def client(agent: Agent, *, secret: str = SECRET, interval: float = 0.05) -> AsyncIterator[LinkClient]:
    async with LinkClient(
        secret=secret, ready=agent.ready, stats=lambda: STATS, on_closed=agent.on_closed, heartbeat_interval=interval
    ) as link:
        yield link


async def test_ready_carries_the_token_and_heartbeats_follow() -> None:
    agent = Agent()
    async with FakeBus() as bus, client(agent) as link:
        link.connect(bus.join_url, token="nonce-1")
        ready = await bus.expect(Ready)
        assert (ready.instance_id, ready.running, ready.finished) == ("agent-1", (7,), (5,))
        assert ready.host == "127.0.0.1" == agent.hosts[0]  # the address the bus can reach us at
        assert bus.tokens == ["nonce-1"]
        for _ in range(3):  # one at once, then every 0.05 s
            assert (await bus.expect(Heartbeat, timeout=1)).stats == STATS


async def test_notifications_are_coalesced_per_execution_and_kind() -> None:
    agent = Agent()
    async with FakeBus() as bus, client(agent, interval=60) as link:
        link.notify(Progress(1))  # no link yet: dropped, Ready covers it
        link.connect(bus.join_url, token="t")
        await bus.expect(Ready)
        await bus.expect(Heartbeat)  # one at once, the next in a minute
        for _ in range(100):
            link.notify(LogWaiting(1))
            link.notify(Progress(1))
        link.notify(Progress(2))
        received = [await bus.expect(object, timeout=2) for _ in range(3)]  # type: ignore[type-var]
        assert received == [LogWaiting(1), Progress(1), Progress(2)]
        await asyncio.sleep(0.05)
        assert bus.messages.empty()


async def test_a_reconnecting_link_comes_back_after_the_bus_drops_it() -> None:
    agent = Agent()
    async with FakeBus() as bus, client(agent) as link:
        link.connect(bus.join_url, reconnect=True)
        await bus.expect(Ready)
        await bus.drop()
        await bus.expect(Ready)
        assert bus.tokens == [None, None]
        assert not agent.closed.is_set()


async def test_a_joined_link_that_drops_calls_on_closed() -> None:
    agent = Agent()
    async with FakeBus() as bus, client(agent) as link:
        link.connect(bus.join_url, token="t")
        await bus.expect(Ready)
        await bus.drop()
        await asyncio.wait_for(agent.closed.wait(), 5)
        assert not link.connected


async def test_a_bus_refusing_the_signature_closes_the_link() -> None:
    agent = Agent()
    async with FakeBus() as bus, client(agent, secret="not-the-cluster-secret") as link:
        link.connect(bus.join_url, token="t")
        await asyncio.wait_for(agent.closed.wait(), 5)
        assert bus.refused == 1 and not bus.links


async def test_a_new_join_replaces_the_link_quietly() -> None:
    agent = Agent()
    async with FakeBus() as first, FakeBus() as second, client(agent) as link:
        link.connect(first.join_url, token="a")
        await first.expect(Ready)
        link.connect(second.join_url, token="b")
        await second.expect(Ready)
        async with asyncio.timeout(5):
            while not first.links[0].closed:
                await asyncio.sleep(0.005)
        assert not agent.closed.is_set()


async def test_a_bus_that_is_not_up_yet_is_retried_until_it_is() -> None:
    agent = Agent()
    async with FakeBus() as bus:
        url, port = bus.join_url, int(bus.join_url.split(":")[2].split("/")[0])
    async with client(agent) as link:
        link.connect(url, reconnect=True)
        await asyncio.sleep(0.35)  # 0.1 + 0.2: a few refused attempts
        assert not link.connected
        async with FakeBus(port=port) as bus:
            await bus.expect(Ready)
        assert not agent.closed.is_set()


@pytest.mark.parametrize(
    ("join", "code"),
    [
        ("ws://bus:45102/join", "ws://bus:45102/code"),
        ("http://bus:45102/join", "ws://bus:45102/code"),
        ("https://bus.example/jobstreamer/join", "wss://bus.example/jobstreamer/code"),
    ],
)
def test_the_code_url_sits_next_to_the_join_url(join: str, code: Any) -> None:
    assert code_url(join) == code
    assert ws_url(join).scheme in ("ws", "wss")
