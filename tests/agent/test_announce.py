"""An agent's zeroconf registration, checked with plain zeroconf lookups."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from zeroconf import ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from jobstreamer.agent.announce import Announcer
from jobstreamer.common.errors import Conflict
from jobstreamer.common.wire import announcement as wire

pytestmark = pytest.mark.netns

LOOPBACK = "127.0.0.1"


async def _lookup(instance_id: str) -> AsyncServiceInfo:
    # A fresh cache each time, so the answer comes from the agent's current registration.
    zeroconf = AsyncZeroconf(interfaces=[LOOPBACK])
    try:
        info = await zeroconf.async_get_service_info(wire.SERVICE_TYPE, wire.service_name(instance_id), 3000)
    finally:
        await zeroconf.async_close()
    assert info is not None, f"agent {instance_id} did not answer"
    return info


def test_the_registration_carries_address_port_and_txt() -> None:
    instance_id = str(uuid.uuid4())

    async def main() -> None:
        async with Announcer(instance_id=instance_id, name="alpha", port=4510, interface=LOOPBACK, secure=True):
            info = await _lookup(instance_id)
        assert info.parsed_addresses() == [LOOPBACK]
        assert info.port == 4510
        properties = info.decoded_properties
        assert {k: v for k, v in properties.items() if k != wire.NONCE} == {
            wire.INSTANCE_ID: instance_id,
            wire.NAME: "alpha",
            wire.PORT: "4510",
            wire.SECURE: "true",
            wire.PROTOCOL: wire.PROTOCOL_VERSION,
        }
        assert properties[wire.NONCE]

    asyncio.run(main())


def test_reannounce_changes_the_nonce_only() -> None:
    instance_id = str(uuid.uuid4())

    async def main() -> None:
        async with Announcer(instance_id=instance_id, name="alpha", port=4510, interface=LOOPBACK) as announcer:
            before = (await _lookup(instance_id)).decoded_properties
            await announcer.reannounce()
            after = (await _lookup(instance_id)).decoded_properties
        assert before.pop(wire.NONCE) != after.pop(wire.NONCE)
        assert before == after

    asyncio.run(main())


def test_leaving_sends_a_goodbye() -> None:
    async def main() -> None:
        removed = asyncio.Event()

        def on_change(*, zeroconf: object, service_type: str, name: str, state_change: ServiceStateChange) -> None:
            if state_change is ServiceStateChange.Removed:
                removed.set()

        observer = AsyncZeroconf(interfaces=[LOOPBACK])
        browser = AsyncServiceBrowser(observer.zeroconf, wire.SERVICE_TYPE, handlers=[on_change])
        try:
            async with Announcer(instance_id=str(uuid.uuid4()), name="alpha", port=4510, interface=LOOPBACK):
                pass
            await asyncio.wait_for(removed.wait(), 3)
        finally:
            await browser.async_cancel()
            await observer.async_close()

    asyncio.run(main())


def test_a_second_agent_with_the_same_instance_id_is_refused() -> None:
    instance_id = str(uuid.uuid4())

    async def main() -> None:
        async with Announcer(instance_id=instance_id, name="alpha", port=4510, interface=LOOPBACK):
            with pytest.raises(Conflict, match=instance_id):
                async with Announcer(instance_id=instance_id, name="beta", port=4511, interface=LOOPBACK):
                    pass

    asyncio.run(main())
