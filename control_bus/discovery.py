"""The bus's zeroconf browser: it reports agents as they appear or re-announce."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from jobstreamer.common.errors import BadRequest
from jobstreamer.common.wire.announcement import SERVICE_TYPE, AgentAnnouncement

__all__ = ["AgentAnnouncement", "Discovery"]

log = logging.getLogger(__name__)


class Discovery:
    """Browses for agents while the context is open.

    `on_agent` is awaited once per announcement: when an agent appears, and
    again when it re-announces (a new nonce) or comes back with another port
    or address.  Repeats of one announcement are folded into one call.
    Announcements of one agent are handled in order, different agents
    concurrently.  `interface` is the IPv4 address to browse on, or None for
    every interface.
    """

    def __init__(
        self,
        *,
        on_agent: Callable[[AgentAnnouncement], Awaitable[None]],
        interface: str | None = None,
        resolve_timeout: float = 3.0,
    ) -> None:
        self._on_agent = on_agent
        self._interface = interface
        self._resolve_timeout_ms = int(resolve_timeout * 1000)
        self._zeroconf: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._delivered: dict[str, AgentAnnouncement] = {}
        self._stale: set[str] = set()
        self._resolvers: dict[str, asyncio.Task[None]] = {}

    async def __aenter__(self) -> Self:
        self._zeroconf = AsyncZeroconf(interfaces=[self._interface] if self._interface else InterfaceChoice.All)
        self._browser = AsyncServiceBrowser(self._zeroconf.zeroconf, SERVICE_TYPE, handlers=[self._on_change])
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._zeroconf is not None and self._browser is not None
        await self._browser.async_cancel()
        resolvers = list(self._resolvers.values())
        for task in resolvers:
            task.cancel()
        await asyncio.gather(*resolvers, return_exceptions=True)
        await self._zeroconf.async_close()
        self._zeroconf = self._browser = None

    def _on_change(
        self, *, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        # Called by zeroconf inside the event loop: must not block.
        if state_change is ServiceStateChange.Removed:
            # Forget it, so the same announcement after a goodbye counts again.
            self._delivered.pop(name, None)
            return
        self._stale.add(name)
        if name not in self._resolvers:
            task = asyncio.create_task(self._resolve(name), name=f"discovery {name}")
            self._resolvers[name] = task
            task.add_done_callback(lambda _: self._resolvers.pop(name, None))

    async def _resolve(self, name: str) -> None:
        """Resolve `name` until no change is pending; report what is new."""
        assert self._zeroconf is not None
        while name in self._stale:
            self._stale.discard(name)
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            # Usually answered from the cache the announcement just filled.
            if not await info.async_request(self._zeroconf.zeroconf, self._resolve_timeout_ms):
                log.warning("agent %s announced itself but did not answer a lookup", name)
                continue
            try:
                announcement = _announcement(info)
            except BadRequest as e:
                log.warning("ignoring announcement %s: %s", name, e)
                continue
            if self._delivered.get(name) == announcement:
                continue
            self._delivered[name] = announcement
            try:
                await self._on_agent(announcement)
            except Exception:
                # One failing agent must not stop discovery of the others.
                log.exception("handling the announcement of agent %s failed", announcement.instance_id)


def _announcement(info: AsyncServiceInfo) -> AgentAnnouncement:
    # IPv4 first: agents announce IPv4 addresses (agent/announce.py).
    addresses = (*info.parsed_addresses(IPVersion.V4Only), *info.parsed_scoped_addresses(IPVersion.V6Only))
    if info.port is None:
        raise BadRequest("announcement has no port")
    return AgentAnnouncement.from_txt(info.decoded_properties, addresses=tuple(addresses), port=info.port)
