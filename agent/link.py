"""The agent's end of the `/join` WebSocket to a bus (API.md, "Discovery and links").

    async with LinkClient(secret=s, ready=agent_ready, stats=agent_stats,
                          on_closed=reannounce) as link:
        link.connect("ws://bus:45102/join", token="...")       # from POST /join-bus
        link.connect("ws://bus:45102/join", reconnect=True)    # --control-bus
        link.notify(Progress(7))

On connecting it sends Ready, then a Heartbeat at once and every
`heartbeat_interval` seconds, and the notifications `notify` was given: each
(kind, execution) once, however often it was raised while waiting to be sent.
Notifications raised while no link is up are dropped: Ready lists the running
and finished executions, and the bus fetches those.

A link made with `reconnect=True` comes back after every drop (backoff from
0.1 s doubling to 5 s).  Any other link calls `on_closed` when it ends, so
the agent can announce itself again or fall back to its --control-bus.
A new `connect` replaces the current link without calling `on_closed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Self

import aiohttp
from yarl import URL

from jobstreamer.common.wire import link
from jobstreamer.common.wire.link import TOKEN_HEADER, Heartbeat, LogWaiting, Progress, Ready
from jobstreamer.common.wire.signing import Key, signed_headers

log = logging.getLogger(__name__)

_FIRST_DELAY, _MAX_DELAY = 0.1, 5.0
_WS_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def ws_url(url: str | URL) -> URL:
    """`url` with a WebSocket scheme: the settings also accept http(s)://bus/join."""
    url = URL(url)
    return url.with_scheme(_WS_SCHEMES[url.scheme])


def code_url(join_url: str | URL) -> str:
    """The bus's `/code` WebSocket, next to its `/join` (under the same path prefix)."""
    url = ws_url(join_url)
    return str(url.with_path(url.path.rpartition("/")[0] + "/code"))


async def _cancelled(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait for it to end.

    Not `suppress(CancelledError): await task`: that would also swallow a
    cancellation of the caller arriving meanwhile.
    """
    task.cancel()
    await asyncio.wait([task])


class LinkClient:
    def __init__(
        self,
        *,
        secret: Key,
        ready: Callable[[str], Ready],
        stats: Callable[[], Mapping[Any, Any]],
        on_closed: Callable[[], Awaitable[None]],
        heartbeat_interval: float = 5.0,
    ) -> None:
        """`ready(host)` builds the Ready message; `host` is the address the link
        left from, which the bus can reach the agent's REST API at."""
        self._secret = secret
        self._ready = ready
        self._stats = stats
        self._on_closed = on_closed
        self._interval = heartbeat_interval
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._pending: dict[tuple[str, int], Progress | LogWaiting] = {}
        self._wakeup = asyncio.Event()
        self.connected = False

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # on_closed first: it may connect again.
        for closing in self._closing:
            closing.cancel()
        await asyncio.gather(*self._closing, return_exceptions=True)
        if self._task is not None:
            await _cancelled(self._task)
        assert self._session is not None
        await self._session.close()

    def connect(self, url: str | URL, *, token: str | None = None, reconnect: bool = False) -> None:
        """Link to the bus at `url`, replacing the current link."""
        assert self._session is not None, "LinkClient is not entered"
        previous = self._task
        self._task = asyncio.create_task(self._keep(ws_url(url), token, reconnect, previous))

    def notify(self, message: Progress | LogWaiting) -> None:
        """Queue a notification for the bus; repeats of one still queued are dropped."""
        if self.connected:
            self._pending[(message.kind, message.execution_id)] = message
            self._wakeup.set()

    async def _keep(self, url: URL, token: str | None, reconnect: bool, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await _cancelled(previous)
        delay = _FIRST_DELAY
        while True:
            started = time.monotonic()
            try:
                await self._link(url, token)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("link to %s failed: %s", url, exc)
            except Exception:
                log.exception("link to %s failed", url)
            if not reconnect:
                break
            # A link that stayed up a while starts the backoff afresh; one the bus
            # drops at once (it refuses us) backs off like a failed connect.
            if time.monotonic() - started > _MAX_DELAY:
                delay = _FIRST_DELAY
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY)
        # on_closed may connect again, which would cancel this very task: run it apart.
        closing = asyncio.create_task(self._on_closed())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def _link(self, url: URL, token: str | None) -> None:
        assert self._session is not None
        headers = signed_headers(self._secret, "GET", url)
        if token is not None:
            headers[TOKEN_HEADER] = token
        # aiohttp pings at `heartbeat` and closes when no pong comes back, so a
        # bus that vanished without closing is noticed within two intervals.
        async with self._session.ws_connect(url, headers=headers, heartbeat=self._interval) as ws:
            # Notifications queue from here on: whatever changes after Ready is
            # built follows it, whatever changed before is in it.
            self._pending.clear()
            self.connected = True
            await ws.send_str(link.encode(self._ready(ws.get_extra_info("sockname")[0])))
            log.info("linked to the bus at %s", url)
            sender = asyncio.create_task(self._send(ws))
            try:
                async for _ in ws:  # the bus sends nothing; reading notices the close
                    pass
            finally:
                self.connected = False
                await _cancelled(sender)
        log.info("link to %s closed", url)

    async def _send(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            await self._send_forever(ws)
        except (aiohttp.ClientError, ConnectionError):
            pass  # the link broke: the reader sees the close
        except Exception:
            log.exception("sending on the link to the bus failed")
        await ws.close()

    async def _send_forever(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time()  # the first right away: the bus wants stats to dispatch by
        while True:
            # Not wait_for: on 3.11 it swallows a cancel that comes as the event is set.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(next_beat):
                    await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                key = next(iter(self._pending))
                await ws.send_str(link.encode(self._pending.pop(key)))
            if loop.time() >= next_beat:
                await ws.send_str(link.encode(Heartbeat(self._stats())))
                next_beat = loop.time() + self._interval
