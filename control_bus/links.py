"""Agents and their `/join` links (API.md, "Discovery and links").

The bus asks an agent it discovered to join (`POST /join-bus` with a
one-time token); the agent opens the WebSocket `GET /join` with a signed
upgrade and sends Ready, then heartbeats, Progress and LogWaiting
notifications.  The link carries notifications only: on Progress the bus
GETs `/execution/:id` from the agent and applies it, on LogWaiting it GETs
the new log lines.

`AgentRegistry` holds one `AgentLink` per agent: where its REST API is, its
last stats, the executions the bus believes it runs, and whether dispatch
may use it (`eligible()`).  Agents are stored as `:agent/*` facts; their
stats stay in memory (SPINE2.md, "Store schema").
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import WSCloseCode, WSMsgType, web
from yarl import URL

from jobstreamer.common.edn import Keyword, Vector
from jobstreamer.common.errors import BadRequest, NotFound, Unauthorized
from jobstreamer.common.store import Db
from jobstreamer.common.wire import link as wire
from jobstreamer.common.wire.announcement import AgentAnnouncement
from jobstreamer.common.wire.middleware import verify_request
from jobstreamer.common.wire.signing import Key, ReplayGuard

from ._coalesce import Coalescer
from ._store import BusStore
from .agent_client import AgentClient, AgentUnreachable
from .agent_link import AgentLink
from .executions import INITIAL, TERMINAL, UNFINISHED, ExecutionChange, Executions
from .logs import LogStore

log = logging.getLogger(__name__)

READY, BLOCKED, GONE = Keyword("ready"), Keyword("blocked"), Keyword("gone")

# A link that closes gets this long to come back before its agent counts as
# gone: a bus restart or a network blip must not flap agent states (issue #6).
DEFAULT_GRACE = 10.0
# How long an agent has to answer `POST /join-bus` by linking.
TOKEN_TTL = 60.0
# aiohttp pings the agent this often and drops a link that stops answering.
PING_INTERVAL = 10.0

_ID, _NAME, _HOST, _PORT, _STATE = (Keyword("agent/" + k) for k in ("instance-id", "name", "host", "port", "state"))
_IDENTITY = frozenset({_ID, _NAME, _HOST, _PORT})
_STATS, _EXECUTIONS = Keyword("agent/stats"), Keyword("agent/executions")
_LINES = Keyword("log/lines")

View = dict[Keyword, Any]


@dataclass(frozen=True, slots=True)
class _Invitation:
    instance_id: str
    url: URL
    expires: float


def join_url(bind_host: str, port: int, agent_address: str) -> str:
    """The bus's /join URL as the agent at `agent_address` can reach it.

    A bus bound to every interface answers on the address its host uses
    to reach the agent: connecting a UDP socket picks that address and sends
    nothing.
    """
    host = bind_host
    if host in ("", "0.0.0.0", "::"):
        try:
            family, kind, proto, _, sockaddr = socket.getaddrinfo(
                agent_address, port, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST
            )[0]
            with socket.socket(family, kind, proto) as probe:
                probe.connect(sockaddr)
                host = probe.getsockname()[0]
        except OSError:
            host = socket.gethostname()
    return str(URL.build(scheme="ws", host=host, port=port, path="/join"))


class AgentRegistry:
    """The agents, their links and what they tell the bus.  `async with` owns its tasks.

    `on_available` is called when dispatch may place work (an agent became
    eligible or a slot freed); `on_lost(link, id)` is awaited when an agent
    does not know an execution the bus sent it.  The dispatcher sets both.
    """

    def __init__(
        self,
        *,
        store: BusStore,
        executions: Executions,
        client: AgentClient,
        logs: LogStore,
        secret: Key,
        grace: float = DEFAULT_GRACE,
    ) -> None:
        self._store = store
        self._executions = executions
        self._client = client
        self._logs = logs
        self._secret = secret
        self._grace = grace
        self._links: dict[str, AgentLink] = {}
        self._invitations: dict[str, _Invitation] = {}
        self._replays = ReplayGuard()
        self._fetches = Coalescer()
        self._departures: dict[str, asyncio.Task[None]] = {}
        self.on_available: Callable[[], None] = lambda: None
        self.on_lost: Callable[[AgentLink, int], Awaitable[None]] | None = None
        self._unsubscribe = executions.subscribe(self._on_execution)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._unsubscribe()
        await self.close_links()
        await self._fetches.aclose()
        departures = list(self._departures.values())
        for task in departures:
            task.cancel()
        await asyncio.gather(*departures, return_exceptions=True)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/join", self.handle_join)
        app.on_shutdown.append(lambda _: self.close_links())

    async def close_links(self) -> None:
        for agent in list(self._links.values()):
            if agent.ws is not None:
                await agent.ws.close(code=WSCloseCode.GOING_AWAY, message=b"control bus shutting down")

    # -- for dispatch --

    def eligible(self) -> list[AgentLink]:
        return [agent for agent in self._links.values() if agent.eligible]

    def _on_execution(self, change: ExecutionChange) -> None:
        if not (change.finished or change.batch_status is None):
            return
        freed = False
        for agent in self._links.values():
            if agent.release(change.execution_id):
                agent.full = False
                freed = True
        if freed:
            self.on_available()

    # -- joining --

    async def invite(self, announcement: AgentAnnouncement, *, bus_host: str, bus_port: int) -> None:
        """Ask a discovered agent to link: `POST /join-bus` at each of its addresses in turn."""
        for address in announcement.addresses or (announcement.host,):
            agent = URL.build(scheme="http", host=address, port=announcement.port)
            token = secrets.token_urlsafe(24)
            self._invitations[token] = _Invitation(announcement.instance_id, agent, time.monotonic() + TOKEN_TTL)
            try:
                await self._client.join_bus(agent, join_url(bus_host, bus_port, address), token)
            except AgentUnreachable as exc:
                self._invitations.pop(token, None)
                log.info("agent %s at %s: %s", announcement.instance_id, address, exc)
                continue
            log.info("asked agent %s (%s) at %s to join", announcement.name, announcement.instance_id, agent)
            return
        log.warning("agent %s answered at none of %s", announcement.instance_id, announcement.addresses)

    def _invitation(self, token: str | None) -> _Invitation | None:
        now = time.monotonic()
        for stale in [t for t, i in self._invitations.items() if i.expires < now]:
            del self._invitations[stale]
        if token is None:
            return None  # an agent started with --control-bus links uninvited
        invitation = self._invitations.get(token)
        if invitation is None:
            raise Unauthorized("unknown or expired join token")
        return invitation

    async def handle_join(self, request: web.Request) -> web.StreamResponse:
        """`GET /join`: the signed WebSocket upgrade of an agent's link."""
        await verify_request(request, self._secret, guard=self._replays)
        invitation = self._invitation(request.headers.get(wire.TOKEN_HEADER))
        ws = web.WebSocketResponse(heartbeat=PING_INTERVAL)
        await ws.prepare(request)
        agent: AgentLink | None = None
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    notification = wire.decode(message.data)
                except BadRequest as exc:
                    log.warning("ignoring a link message from %s: %s", request.remote, exc)
                    continue
                if isinstance(notification, wire.Ready):
                    agent = await self._ready(ws, notification, invitation)
                elif agent is None:
                    log.warning("ignoring a %s before Ready from %s", notification.kind, request.remote)
                else:
                    self._notified(agent, notification)
        finally:
            if agent is not None:
                self._closed(agent)
        return ws

    async def _ready(self, ws: web.WebSocketResponse, ready: wire.Ready, invitation: _Invitation | None) -> AgentLink:
        if invitation is not None and invitation.instance_id == ready.instance_id:
            url = invitation.url  # the address the bus reached it at
        else:
            url = URL.build(scheme="http", host=ready.host, port=ready.port)
        blocked = await self._register(ready, url)
        previous = self._links.get(ready.instance_id)
        # Reservations still on their way to the agent stay counted.
        running = set(ready.running) | (previous.running if previous else set())
        agent = AgentLink(ready.instance_id, ready.name, url, ws=ws, blocked=blocked, running=running)
        self._links[ready.instance_id] = agent
        departure = self._departures.pop(ready.instance_id, None)
        if departure is not None:
            departure.cancel()
        if previous is not None and previous.ws is not None and previous.ws is not ws:
            await previous.ws.close(code=WSCloseCode.GOING_AWAY, message=b"replaced by a new link")
        try:
            spec = await self._client.spec(url)
        except AgentUnreachable as exc:
            log.warning("agent %s: GET /spec failed: %s", ready.instance_id, exc)
            agent.suspect = True  # no work for an agent the bus cannot call, until it beats
        else:
            # Its identity is in the store; the rest is what heartbeats refresh.
            agent.stats = {k: v for k, v in spec.items() if k not in _IDENTITY} if isinstance(spec, Mapping) else {}
        agent.ready = True
        log.info("agent %s (%s) linked from %s", ready.name, ready.instance_id, url)
        self._reconcile(agent, ready)
        self.on_available()
        return agent

    async def _register(self, ready: wire.Ready, url: URL) -> bool:
        """Store the agent's facts; whether it is blocked."""

        def tx(db: Db) -> list[Any] | None:
            stored = db.entity([_ID, ready.instance_id])
            state = stored.get(_STATE) if stored is not None else None
            facts = {
                _ID: ready.instance_id,
                _NAME: ready.name,
                _HOST: url.host,
                _PORT: url.port,
                _STATE: BLOCKED if state is BLOCKED else READY,
            }
            if stored is not None and all(stored.get(k) == v for k, v in facts.items()):
                return None
            return [facts]

        await self._store.transact_with(tx)
        return self._store.db().entity([_ID, ready.instance_id])[_STATE] is BLOCKED

    def _reconcile(self, agent: AgentLink, ready: wire.Ready) -> None:
        """Fetch what the agent ran while no link was up, and what the store says it runs."""
        db = self._store.db()
        ids = set(ready.running) | set(_assigned(db, agent.instance_id, UNFINISHED - INITIAL))
        for execution_id in ready.finished:
            entity = db.entity(execution_id)
            if entity is not None and entity.get(Keyword("execution/batch-status")) not in TERMINAL:
                ids.add(execution_id)
        for execution_id in sorted(ids):
            self._fetch_state(agent, execution_id)

    def _notified(self, agent: AgentLink, notification: wire.LinkMessage) -> None:
        match notification:
            case wire.Heartbeat(stats=stats):
                agent.stats = stats
                if agent.suspect or agent.full:
                    agent.suspect = agent.full = False
                    self.on_available()
            case wire.Progress(execution_id=execution_id):
                self._fetch_state(agent, execution_id)
            case wire.LogWaiting(execution_id=execution_id):
                self._fetches.run(("log", execution_id), lambda: self._fetch_log(agent, execution_id))

    def _closed(self, agent: AgentLink) -> None:
        agent.ws = None
        if self._links.get(agent.instance_id) is not agent:
            return  # a newer link replaced it
        log.info("the link of agent %s (%s) closed", agent.name, agent.instance_id)
        self._departures[agent.instance_id] = asyncio.create_task(self._depart(agent))

    async def _depart(self, agent: AgentLink) -> None:
        await asyncio.sleep(self._grace)
        del self._departures[agent.instance_id]
        await self._set_state(agent.instance_id, GONE, keep_blocked=True)
        log.warning("agent %s (%s) is gone", agent.name, agent.instance_id)

    # -- fetching what notifications announce --

    def _fetch_state(self, agent: AgentLink, execution_id: int) -> None:
        self._fetches.run(("state", execution_id), lambda: self._apply_state(agent, execution_id))

    async def _apply_state(self, agent: AgentLink, execution_id: int) -> None:
        try:
            state = await self._client.execution(agent.url, execution_id)
        except AgentUnreachable as exc:
            log.warning("agent %s: %s", agent.instance_id, exc)
            return
        if state is None:
            if self.on_lost is not None:
                await self.on_lost(agent, execution_id)
            return
        try:
            await self._executions.apply_agent_state(execution_id, state)
        except NotFound:
            log.info("agent %s reports execution %d, which the bus has deleted", agent.instance_id, execution_id)
        except BadRequest as exc:
            log.warning("agent %s: a bad state of execution %d: %s", agent.instance_id, execution_id, exc)

    async def _fetch_log(self, agent: AgentLink, execution_id: int) -> None:
        # One page per LogWaiting: the agent announces again what a full page
        # left out, and lines that are new after this fetch (agent/runner.py).
        offset = await self._logs.next_offset(execution_id)
        try:
            page = await self._client.log(agent.url, execution_id, offset)
        except AgentUnreachable as exc:
            log.warning("agent %s: %s", agent.instance_id, exc)
            return
        lines = page.get(_LINES) if isinstance(page, Mapping) else None
        if lines:
            await self._logs.append(execution_id, [line for line in lines if isinstance(line, Mapping)])

    # -- the API's view --

    def list(self) -> list[View]:
        db = self._store.db()
        ids = db.q("[:find [?id ...] :where [_ :agent/instance-id ?id]]") or []
        return [self._view(db, instance_id) for instance_id in sorted(ids)]

    def get(self, instance_id: str) -> View:
        return self._view(self._store.db(), instance_id)

    def _view(self, db: Db, instance_id: str) -> View:
        entity = db.entity([_ID, instance_id]) if isinstance(instance_id, str) else None
        if entity is None:
            raise NotFound(f"no agent {instance_id!r}", field="agent/instance-id")
        view: View = {key: entity[key] for key in (_ID, _NAME, _HOST, _PORT, _STATE) if key in entity}
        agent = self._links.get(instance_id)
        view[_STATS] = dict(agent.stats) if agent is not None else {}
        view[_EXECUTIONS] = Vector(_assigned(db, instance_id, UNFINISHED))
        return view

    async def block(self, instance_id: str) -> View:
        """Take the agent out of dispatch; what it runs goes on."""
        await self._set_state(instance_id, BLOCKED)
        if (agent := self._links.get(instance_id)) is not None:
            agent.blocked = True
        return self.get(instance_id)

    async def unblock(self, instance_id: str) -> View:
        await self._set_state(instance_id, READY if instance_id in self._links else GONE)
        # Looked up after the write: a link made meanwhile read the store before it.
        if (agent := self._links.get(instance_id)) is not None:
            agent.blocked = False
            self.on_available()
        return self.get(instance_id)

    async def _set_state(self, instance_id: str, state: Keyword, *, keep_blocked: bool = False) -> None:
        def tx(db: Db) -> list[Any] | None:
            entity = db.entity([_ID, instance_id]) if isinstance(instance_id, str) else None
            if entity is None:
                raise NotFound(f"no agent {instance_id!r}", field="agent/instance-id")
            current = entity.get(_STATE)
            if current is state or (keep_blocked and current is BLOCKED):
                return None
            return [[Keyword("db/add"), entity.eid, _STATE, state]]

        await self._store.transact_with(tx)


def _assigned(db: Db, instance_id: str, states: frozenset[Keyword]) -> list[int]:
    """Ids of the executions sent to the agent whose batch status is in `states`."""
    found = db.q(
        "[:find [?e ...] :in $ ?id [?s ...]"
        " :where [?a :agent/instance-id ?id] [?e :execution/agent ?a] [?e :execution/batch-status ?s]]",
        instance_id,
        list(states),
    )
    return sorted(found or ())

