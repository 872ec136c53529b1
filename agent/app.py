"""The agent process: its REST API, its warm workers and its link to a bus.

    async with Agent(secret=s, data="~/.jobstreamer/agent", port=0) as agent:
        print(agent.url, agent.instance_id)
        await agent.serve_forever()

Constructor keywords are the AGENT_SETTINGS (common/settings.py).  Without
`control_bus` the agent announces itself over zeroconf and waits for a bus to
call `POST /join-bus`; when that link drops it announces itself again.  With
`control_bus` (a /join URL) it links to that bus at once and reconnects
whenever the link drops.  Every route but `GET /healthcheck` demands a
request signed with the cluster secret (API.md, "Secrets").
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import uuid
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from aiohttp import web
from yarl import URL

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import BadRequest, Conflict, NotFound, Unavailable
from jobstreamer.common.settings import AGENT_SETTINGS, Secret, SettingError, bus_url, secret_value
from jobstreamer.common.serve import serve_until_sigterm, serving
from jobstreamer.common.wire.content import read_body, respond
from jobstreamer.common.wire.link import Ready
from jobstreamer.common.wire.middleware import error_middleware, signature_middleware
from jobstreamer.common.wire.signing import ReplayGuard

from . import spec
from ._bodies import JoinBus, Submission, parse
from .announce import Announcer
from .link import LinkClient, code_url
from .runner import Execution
from .workers import WorkerPool

log = logging.getLogger(__name__)

_DEFAULTS: Mapping[str, Any] = {setting.name: setting.default for setting in AGENT_SETTINGS}

# Finished executions stay answerable until the bus has surely fetched them;
# the oldest are forgotten beyond this many.
FINISHED_KEPT = 1000

_AGENT: web.AppKey[Agent] = web.AppKey("agent")
_INSTANCE_ID = Keyword("agent/instance-id")


def _instance_id(data: Path) -> str:
    """The id kept in <data>/instance-id, made on first start: a restart keeps its identity."""
    path = data / "instance-id"
    with contextlib.suppress(FileNotFoundError):
        if stored := path.read_text().strip():
            return stored
    data.mkdir(parents=True, exist_ok=True)
    fresh = str(uuid.uuid4())
    partial = path.with_suffix(".partial")
    partial.write_text(fresh + "\n")
    partial.replace(path)  # atomic: a crash never leaves an empty id behind
    return fresh


def _bind_address(interface: str | None) -> str | None:
    if interface is None or ipaddress.ip_address(interface).is_unspecified:
        return None  # every interface
    return interface


class Agent:
    def __init__(
        self,
        *,
        secret: Secret | str | None = None,
        data: str | os.PathLike[str] = _DEFAULTS["data"],
        port: int = _DEFAULTS["port"],
        name: str | None = None,
        max_executions: int | None = None,
        control_bus: str | None = None,
        interface: str | None = None,
        heartbeat_interval: float = 5.0,
        kill_grace: float = 5.0,
    ) -> None:
        if secret is None:
            raise SettingError(
                "the agent needs the cluster secret: set JOBSTREAMER_SECRET (or --secret) "
                "to the secret the bus was started with",
                field="secret",
            )
        self._secret = secret_value(secret)
        self._data = Path(data).expanduser()
        self._port = port
        self.name = name or socket.gethostname()
        self.max_executions = max_executions or os.cpu_count() or 1
        self._control_bus = None if control_bus is None else bus_url(control_bus)
        self._interface = _bind_address(interface)
        self._heartbeat_interval = heartbeat_interval
        self._kill_grace = kill_grace
        self.instance_id = ""
        self.port = 0
        self._executions: dict[int, Execution] = {}
        # The tasks still running, so counting the running executions does not
        # walk the FINISHED_KEPT finished ones on every submit.
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._ended_ids: deque[int] = deque()  # the oldest ended first
        self._stack = contextlib.AsyncExitStack()  # what __aexit__ closes
        self._pool: WorkerPool | None = None
        self._link: LinkClient | None = None
        self._announcer: Announcer | None = None

    @property
    def url(self) -> str:
        """Where this machine reaches the REST API."""
        return str(URL.build(scheme="http", host=self._interface or "127.0.0.1", port=self.port))

    async def __aenter__(self) -> Self:
        self.instance_id = _instance_id(self._data)
        async with contextlib.AsyncExitStack() as stack:  # unwinds what started if a later part fails
            await self._start(stack)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        # Closed in reverse: the announcement, the HTTP server (no request may
        # reach a closed part), the link, the executions, last the workers.
        # Without --control-bus the code URL is known once a bus calls /join-bus.
        self._pool = await stack.enter_async_context(
            WorkerPool(
                size=self.max_executions,
                code_url=code_url(self._control_bus) if self._control_bus else "",
                secret=self._secret,
                kill_grace=self._kill_grace,
            )
        )
        stack.push_async_callback(self._cancel_executions)
        self._link = await stack.enter_async_context(
            LinkClient(
                secret=self._secret,
                ready=self._ready,
                stats=self._stats,
                on_closed=self._link_closed,
                heartbeat_interval=self._heartbeat_interval,
            )
        )
        self.port = await stack.enter_async_context(serving(self._web_app(), self._interface, self._port))
        if self._control_bus is not None:
            self._connect(self._control_bus, token=None, reconnect=True)
        else:
            self._announcer = await stack.enter_async_context(
                Announcer(
                    instance_id=self.instance_id,
                    name=self.name,
                    port=self.port,
                    interface=self._interface,
                    secure=True,
                )
            )
        log.info("agent %s (%s) listening on port %d", self.name, self.instance_id, self.port)

    async def serve_forever(self) -> None:
        await asyncio.Event().wait()

    def _web_app(self) -> web.Application:
        app = web.Application(middlewares=[error_middleware(), signature_middleware(self._secret, guard=ReplayGuard())])
        app[_AGENT] = self
        app.router.add_routes(ROUTES)
        return app

    # The link ------------------------------------------------------------

    def join(self, url: str, token: str) -> None:
        """Link to the bus at `url` (its /join), replacing any current link."""
        self._connect(url, token=token, reconnect=False)

    def _connect(self, url: str, *, token: str | None, reconnect: bool) -> None:
        pool, link = self._parts()
        pool.code_url = code_url(url)
        link.connect(url, token=token, reconnect=reconnect)

    def _parts(self) -> tuple[WorkerPool, LinkClient]:
        if self._pool is None or self._link is None:
            raise Unavailable("the agent is starting")
        return self._pool, self._link

    async def _link_closed(self) -> None:
        if self._control_bus is not None:
            self._connect(self._control_bus, token=None, reconnect=True)
        elif self._announcer is not None:
            await self._announcer.reannounce()  # a standby bus picks us up

    def _ready(self, host: str) -> Ready:
        for execution in self._executions.values():
            execution.announce_log_again()  # the new link has not heard of them
        return Ready(
            instance_id=self.instance_id,
            name=self.name,
            host=self._interface or host,
            port=self.port,
            running=tuple(self._running()),
            finished=tuple(self._finished()),
        )

    def _stats(self) -> dict[Keyword, Any]:
        return spec.stats(executions=self._running(), max_executions=self.max_executions)

    def spec(self) -> dict[Keyword, Any]:
        """`GET /spec`."""
        return spec.spec(
            instance_id=self.instance_id,
            name=self.name,
            host=self._interface or socket.gethostname(),
            port=self.port,
            executions=self._running(),
            max_executions=self.max_executions,
        )

    def _running(self) -> list[int]:
        return [i for i in self._tasks if not self._executions[i].finished]

    def _finished(self) -> list[int]:
        return [i for i, e in self._executions.items() if e.finished]

    # Executions ----------------------------------------------------------

    def submit(self, submission: Submission) -> tuple[Execution, bool]:
        """The execution for `submission`, and whether it is new (and now starting).

        A known id answers with the execution it names: an execution never runs twice.
        """
        known = self._executions.get(submission.execution_id)
        if known is not None:
            return known, False
        if len(self._running()) >= self.max_executions:
            raise Unavailable(f"the agent runs {self.max_executions} executions already, its maximum")
        pool, link = self._parts()
        if any(step.task for step in submission.steps) and not pool.code_url:
            raise Conflict("the agent has joined no bus yet, so it has no code to run tasks with")
        execution = Execution(submission, pool=pool, notify=link.notify)
        self._executions[execution.id] = execution
        task = asyncio.create_task(execution.run(), name=f"execution {execution.id}")
        self._tasks[execution.id] = task
        task.add_done_callback(lambda _: self._ended(execution.id))
        return execution, True

    def _ended(self, execution_id: int) -> None:
        del self._tasks[execution_id]
        self._ended_ids.append(execution_id)
        while len(self._ended_ids) > FINISHED_KEPT:
            del self._executions[self._ended_ids.popleft()]

    def execution(self, execution_id: int) -> Execution:
        try:
            return self._executions[execution_id]
        except KeyError:
            raise NotFound(f"no execution {execution_id} on this agent") from None

    async def _cancel_executions(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# Routes ------------------------------------------------------------------


def _agent(request: web.Request) -> Agent:
    return request.app[_AGENT]


def _execution(request: web.Request) -> Execution:
    return _agent(request).execution(int(request.match_info["id"]))


async def healthcheck(request: web.Request) -> web.Response:
    return respond(request, {_INSTANCE_ID: _agent(request).instance_id})


async def join_bus(request: web.Request) -> web.Response:
    # The signature on this request is what proves the bus holds the secret.
    join = parse(JoinBus, await read_body(request))
    agent = _agent(request)
    agent.join(join.url, join.token)
    return respond(request, {_INSTANCE_ID: agent.instance_id})


async def get_spec(request: web.Request) -> web.Response:
    return respond(request, _agent(request).spec())


async def post_execution(request: web.Request) -> web.Response:
    execution, new = _agent(request).submit(parse(Submission, await read_body(request)))
    return respond(request, execution.to_edn(), status=202 if new else 200)


async def get_execution(request: web.Request) -> web.Response:
    return respond(request, _execution(request).to_edn())


def _offset(request: web.Request) -> int:
    text = request.query.get("offset", "0")
    if not (text.isascii() and text.isdigit()):
        raise BadRequest(f"offset must be a whole number of at least 0, not {text!r}", field="offset")
    return int(text)


async def get_log(request: web.Request) -> web.Response:
    return respond(request, _execution(request).read_log(_offset(request)))


async def stop_execution(request: web.Request) -> web.Response:
    execution = _execution(request)
    already = execution.finished
    execution.stop()
    return respond(request, execution.to_edn(), status=200 if already else 202)


async def abandon_execution(request: web.Request) -> web.Response:
    execution = _execution(request)
    execution.abandon()
    return respond(request, execution.to_edn())


_ID = r"/execution/{id:\d+}"

ROUTES = [
    web.get("/healthcheck", healthcheck),
    web.post("/join-bus", join_bus),
    web.get("/spec", get_spec),
    web.post("/executions", post_execution),
    web.get(_ID, get_execution),
    web.get(_ID + "/log", get_log),
    web.put(_ID + "/stop", stop_execution),
    web.put(_ID + "/abandon", abandon_execution),
]


async def run_agent(settings: Mapping[str, Any]) -> None:
    """Run an agent with resolved AGENT_SETTINGS until SIGTERM (returns) or cancellation."""
    await serve_until_sigterm(
        Agent(**settings),
        lambda agent: f"jobstreamer agent {agent.name} ({agent.instance_id}) listening on port {agent.port}",
    )
