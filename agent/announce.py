"""The agent's zeroconf registration, so that buses find it (API.md, "Discovery and links")."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Awaitable
from types import TracebackType
from typing import Self

import ifaddr
from zeroconf import InterfaceChoice, NonUniqueNameException
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from jobstreamer.common.errors import Conflict
from jobstreamer.common.wire.announcement import SERVICE_TYPE, service_name, txt_properties


def _host_addresses() -> list[str]:
    """The IPv4 addresses a remote bus could use, for an agent bound to all interfaces."""
    found = [
        ip.ip
        for adapter in ifaddr.get_adapters()
        for ip in adapter.ips
        if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback
    ]
    return found or ["127.0.0.1"]


class Announcer:
    """Registers the agent while the context is open and says goodbye on exit.

    `interface` is the IPv4 address to announce on and to advertise, or None
    for every interface.  `secure` tells buses the agent demands signed
    requests (it holds a cluster secret).
    """

    def __init__(
        self, *, instance_id: str, name: str, port: int, interface: str | None = None, secure: bool = False
    ) -> None:
        self._instance_id = instance_id
        self._name = name
        self._port = port
        self._interface = interface
        self._secure = secure
        self._zeroconf: AsyncZeroconf | None = None
        # The repeats of the latest (re)announcement, sent by zeroconf over ~0.5 s.
        self._broadcast: asyncio.Future[None] | None = None

    async def __aenter__(self) -> Self:
        self._zeroconf = AsyncZeroconf(interfaces=[self._interface] if self._interface else InterfaceChoice.All)
        try:
            # Probing for a clash costs ~1 s, but catches two agents sharing an instance id.
            self._track(await self._zeroconf.async_register_service(self._service_info(), strict=False))
        except BaseException as e:
            await self._zeroconf.async_close()
            if isinstance(e, NonUniqueNameException):
                raise Conflict(f"another agent already announces instance id {self._instance_id}") from None
            raise
        return self

    async def reannounce(self) -> None:
        """Announce again with a new nonce, so buses that still cache us see an update."""
        assert self._zeroconf is not None, "Announcer is not entered"
        self._track(await self._zeroconf.async_update_service(self._service_info()))

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._zeroconf is not None
        await self._stop_broadcast()
        await self._zeroconf.async_close()  # unregisters: sends the goodbye packets
        self._zeroconf = None

    def _service_info(self) -> AsyncServiceInfo:
        # Built afresh each time: a new nonce, and the host's current addresses.
        addresses = [self._interface] if self._interface else _host_addresses()
        name = service_name(self._instance_id)
        return AsyncServiceInfo(
            SERVICE_TYPE,
            name,
            addresses=[socket.inet_aton(address) for address in addresses],
            port=self._port,
            server=name,  # register would default it so, but async_update_service insists on one
            properties=txt_properties(
                instance_id=self._instance_id, name=self._name, port=self._port, secure=self._secure
            ),
        )

    def _track(self, broadcast: Awaitable[None]) -> None:
        # An older broadcast still repeating would send the old nonce after the
        # new one, and a bus would see the agent flip back and forth.
        if self._broadcast is not None:
            self._broadcast.cancel()
        self._broadcast = asyncio.ensure_future(broadcast)

    async def _stop_broadcast(self) -> None:
        if self._broadcast is not None:
            self._broadcast.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._broadcast
            self._broadcast = None
