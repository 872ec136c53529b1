"""Signed REST calls from the bus to its agents (SPINE2.md, "Bus <-> agent REST payloads").

One `aiohttp.ClientSession` serves every agent: its keep-alive connections
are what keep a dispatch round trip in single milliseconds (a fresh TCP
connection per call costs more than the call).

    client = AgentClient(session, secret=s)
    status, body = await client.start(agent_url, payload)   # POST /executions
    state = await client.execution(agent_url, 42)           # None when 404

Transport failures raise `AgentUnreachable`; its `sent` tells whether the
request may have reached the agent, which decides whether an execution
can safely go to another agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from yarl import URL

from jobstreamer.common import edn
from jobstreamer.common.errors import JobstreamerError, Unavailable
from jobstreamer.common.wire.content import EDN, parse
from jobstreamer.common.wire.signing import Key, signed_headers

# Generous for a LAN: an agent answers from memory, but its loop may be busy
# starting a worker.  The bus never waits on an agent with a lock held.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=3)

Reply = tuple[int, Any]


class AgentUnreachable(Unavailable):
    """The agent did not answer.  `sent` is False only when no byte of the
    request can have reached it (the connection was never made)."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class AgentClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        secret: Key,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._session = session
        self._secret = secret
        self._timeout = timeout

    async def request(self, method: str, url: URL, data: Any = None) -> Reply:
        """`(status, body as EDN data)` of a signed request; `AgentUnreachable` on transport errors."""
        body = b"" if data is None else edn.dumps(data).encode()
        headers = signed_headers(self._secret, method, url, body)
        headers["Accept"] = EDN
        if data is not None:
            headers["Content-Type"] = EDN
        try:
            async with self._session.request(
                method, url, data=body or None, headers=headers, timeout=self._timeout
            ) as response:
                raw = await response.read()
                return response.status, _decode(raw, response.status, response.content_type, url)
        except aiohttp.ClientConnectorError as exc:
            raise AgentUnreachable(f"cannot connect to the agent at {url.origin()}: {exc}", sent=False) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise AgentUnreachable(f"the agent at {url.origin()} did not answer: {reason}", sent=True) from exc

    async def ok(self, method: str, url: URL, data: Any = None) -> Any:
        """The body of a 2xx reply; other statuses raise `AgentUnreachable` (the agent misbehaves)."""
        status, body = await self.request(method, url, data)
        if not 200 <= status < 300:
            raise AgentUnreachable(f"{method} {url} answered {status}: {_message(body)}", sent=True)
        return body

    async def join_bus(self, agent: URL, join_url: str, token: str) -> Any:
        payload = {edn.Keyword("control-bus/url"): join_url, edn.Keyword("control-bus/token"): token}
        return await self.ok("POST", agent / "join-bus", payload)

    async def spec(self, agent: URL) -> Any:
        return await self.ok("GET", agent / "spec")

    async def start(self, agent: URL, payload: Mapping[Any, Any]) -> Reply:
        """POST /executions: 202 started, 200 already known, 503 full, 4xx refused."""
        return await self.request("POST", agent / "executions", payload)

    async def execution(self, agent: URL, execution_id: int) -> Any:
        """The agent's state of the execution, or None if it does not know it."""
        status, body = await self.request("GET", agent / "execution" / str(execution_id))
        if status == 404:
            return None
        if status != 200:
            raise AgentUnreachable(f"GET /execution/{execution_id} answered {status}: {_message(body)}", sent=True)
        return body

    async def log(self, agent: URL, execution_id: int, offset: int) -> Any:
        """`{:log/lines [...] :log/next-offset N}` from `offset` on."""
        url = (agent / "execution" / str(execution_id) / "log").with_query(offset=offset)
        return await self.ok("GET", url)


def _decode(raw: bytes, status: int, media_type: str, url: URL) -> Any:
    try:
        return parse(raw, media_type)
    except JobstreamerError as exc:
        if not 200 <= status < 300:
            return raw.decode("utf-8", "replace")  # an error page still says what went wrong
        raise AgentUnreachable(f"the agent at {url.origin()} sent an unreadable reply: {exc}", sent=True) from exc


def _message(body: Any) -> str:
    if isinstance(body, Mapping):
        return str(body.get(edn.Keyword("error/message"), body))
    return repr(body)
