"""A bus discovers real announcing agents over zeroconf on 127.0.0.1, in a private namespace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import time
import uuid
from collections.abc import Coroutine
from typing import Any

import pytest
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from jobstreamer.agent.announce import Announcer
from jobstreamer.common.wire import announcement as wire
from jobstreamer.control_bus.discovery import AgentAnnouncement, Discovery

pytestmark = pytest.mark.netns

LOOPBACK = "127.0.0.1"
# Repeats of one announcement are over within ~0.5 s (zeroconf sends three, 225 ms apart).
QUIET = 1.0


class Inbox:
    """An on_agent callback that queues what it is given."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[AgentAnnouncement] = asyncio.Queue()

    async def __call__(self, announcement: AgentAnnouncement) -> None:
        await self.queue.put(announcement)

    async def next(self, timeout: float = 3.0) -> AgentAnnouncement:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def assert_quiet(self) -> None:
        await asyncio.sleep(QUIET)
        assert self.queue.empty(), f"unexpected callback: {self.queue.get_nowait()}"


def agent(instance_id: str, name: str = "alpha", port: int = 4510) -> Announcer:
    return Announcer(instance_id=instance_id, name=name, port=port, interface=LOOPBACK, secure=True)


def run(scenario: Coroutine[Any, Any, None], caplog: pytest.LogCaptureFixture) -> None:
    """Run in asyncio debug mode and fail if any callback held the loop for 200 ms.

    Unloaded, no callback here takes 5 ms; the margin is for a busy 2-core CI box.
    """
    with caplog.at_level(logging.WARNING, logger="asyncio"), asyncio.Runner(debug=True) as runner:
        runner.get_loop().slow_callback_duration = 0.2
        runner.run(scenario)
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio" and " took " in r.getMessage()]
    assert not slow, slow


def test_an_announced_agent_is_reported_once_with_its_data(caplog: pytest.LogCaptureFixture) -> None:
    instance_id = str(uuid.uuid4())

    async def scenario() -> None:
        inbox = Inbox()
        async with Discovery(on_agent=inbox, interface=LOOPBACK):
            started = time.monotonic()
            async with agent(instance_id):
                seen = await inbox.next()
                elapsed = time.monotonic() - started
                await inbox.assert_quiet()
        assert (seen.instance_id, seen.name, seen.host, seen.port) == (instance_id, "alpha", LOOPBACK, 4510)
        assert seen.addresses == (LOOPBACK,)
        assert seen.secure
        assert seen.properties[wire.PROTOCOL] == wire.PROTOCOL_VERSION
        assert elapsed < 2.5, f"discovery took {elapsed:.2f} s"

    run(scenario(), caplog)


def test_a_reannouncement_is_reported_again(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        async with Discovery(on_agent=inbox, interface=LOOPBACK), agent(str(uuid.uuid4())) as announcer:
            first = await inbox.next()
            await announcer.reannounce()
            again = await inbox.next(timeout=1.0)
            await inbox.assert_quiet()
        assert again.instance_id == first.instance_id
        assert again.properties[wire.NONCE] != first.properties[wire.NONCE]

    run(scenario(), caplog)


def test_an_agent_back_after_a_goodbye_is_reported_again(caplog: pytest.LogCaptureFixture) -> None:
    instance_id = str(uuid.uuid4())

    async def scenario() -> None:
        inbox = Inbox()
        async with Discovery(on_agent=inbox, interface=LOOPBACK):
            async with agent(instance_id):
                await inbox.next()
            async with agent(instance_id):
                again = await inbox.next()
        assert again.instance_id == instance_id

    run(scenario(), caplog)


def test_two_agents_are_both_reported(caplog: pytest.LogCaptureFixture) -> None:
    ids = {str(uuid.uuid4()), str(uuid.uuid4())}

    async def scenario() -> None:
        inbox = Inbox()
        async with Discovery(on_agent=inbox, interface=LOOPBACK), contextlib.AsyncExitStack() as agents:
            await asyncio.gather(
                *(agents.enter_async_context(agent(i, port=port)) for port, i in enumerate(sorted(ids), 4510))
            )
            seen = [await inbox.next(), await inbox.next()]
            await inbox.assert_quiet()
        assert {a.instance_id for a in seen} == ids
        assert len({a.port for a in seen}) == 2

    run(scenario(), caplog)


def test_a_bus_started_after_the_agent_finds_it(caplog: pytest.LogCaptureFixture) -> None:
    # A standby bus, or a bus restarted while agents keep running.
    instance_id = str(uuid.uuid4())

    async def scenario() -> None:
        inbox = Inbox()
        async with agent(instance_id), Discovery(on_agent=inbox, interface=LOOPBACK):
            seen = await inbox.next()
        assert seen.instance_id == instance_id

    run(scenario(), caplog)


def test_a_failing_handler_does_not_stop_discovery(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        failed = asyncio.Event()

        async def flaky(announcement: AgentAnnouncement) -> None:
            if not failed.is_set():
                failed.set()
                raise RuntimeError("join failed")
            await inbox(announcement)

        async with Discovery(on_agent=flaky, interface=LOOPBACK), agent(str(uuid.uuid4())) as announcer:
            await asyncio.wait_for(failed.wait(), 3)
            await announcer.reannounce()
            await inbox.next()

    run(scenario(), caplog)
    assert any("join failed" in r.exc_text for r in caplog.records if r.exc_text)


def test_a_foreign_announcement_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        foreign = AsyncServiceInfo(
            wire.SERVICE_TYPE,
            f"future.{wire.SERVICE_TYPE}",
            addresses=[socket.inet_aton(LOOPBACK)],
            port=4599,
            properties={wire.PROTOCOL: "99", wire.INSTANCE_ID: "future"},
        )
        stranger = AsyncZeroconf(interfaces=[LOOPBACK])
        try:
            async with Discovery(on_agent=inbox, interface=LOOPBACK):
                # Cooperating responders skip the 1 s probe: test doubles need no clash check.
                await stranger.async_register_service(foreign, strict=False, cooperating_responders=True)
                async with agent(str(uuid.uuid4())):
                    assert (await inbox.next()).instance_id != "future"
                    await inbox.assert_quiet()
        finally:
            await stranger.async_close()

    run(scenario(), caplog)
    assert any("unsupported protocol version '99'" in r.getMessage() for r in caplog.records)


def test_a_change_that_does_not_alter_the_announcement_is_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    # Like an address record that expired from the bus's cache and came back
    # with the agent's next answer: zeroconf reports an update, nothing is new.
    instance_id = str(uuid.uuid4())
    properties = wire.txt_properties(instance_id=instance_id, name="alpha", port=4510, secure=False)

    def info(weight: int) -> AsyncServiceInfo:
        return AsyncServiceInfo(
            wire.SERVICE_TYPE,
            wire.service_name(instance_id),
            addresses=[socket.inet_aton(LOOPBACK)],
            port=4510,
            weight=weight,
            properties=properties,
            server=wire.service_name(instance_id),
        )

    async def scenario() -> None:
        inbox = Inbox()
        responder = AsyncZeroconf(interfaces=[LOOPBACK])
        try:
            async with Discovery(on_agent=inbox, interface=LOOPBACK):
                await responder.async_register_service(info(weight=0), strict=False, cooperating_responders=True)
                await inbox.next()
                await responder.async_update_service(info(weight=5))
                await inbox.assert_quiet()
        finally:
            await responder.async_close()

    run(scenario(), caplog)


AGENT_PROCESS = """
import asyncio, sys
from jobstreamer.agent.announce import Announcer

async def main():
    async with Announcer(instance_id=sys.argv[1], name="child", port=4510, interface="127.0.0.1"):
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


def test_an_agent_in_a_subprocess_is_found(caplog: pytest.LogCaptureFixture) -> None:
    # The end-to-end shape: processes the test starts share its namespace.
    instance_id = str(uuid.uuid4())

    async def scenario() -> None:
        inbox = Inbox()
        async with Discovery(on_agent=inbox, interface=LOOPBACK):
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-c", AGENT_PROCESS, instance_id, stdin=asyncio.subprocess.PIPE
            )
            try:
                assert (await inbox.next(timeout=5.0)).instance_id == instance_id
            finally:
                assert child.stdin is not None
                child.stdin.close()
                assert await asyncio.wait_for(child.wait(), 5) == 0

    run(scenario(), caplog)
