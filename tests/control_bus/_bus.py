"""A real control bus on a free loopback port, a REST client for it, and a scriptable fake agent."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar

import aiohttp
from aiohttp import web
from yarl import URL

from jobstreamer.common import edn
from jobstreamer.common.edn import Keyword, Vector
from jobstreamer.common.wire import link
from jobstreamer.common.wire.content import EDN, JSON, read_body, respond
from jobstreamer.common.wire.middleware import error_middleware, signature_middleware
from jobstreamer.common.wire.signing import signed_headers
from jobstreamer.agent.app import Agent
from jobstreamer.common.settings import Secret
from jobstreamer.control_bus._store import BusStore
from jobstreamer.control_bus.app import ControlBus
from jobstreamer.control_bus.users import Users
from tests._apps import SECRET
from tests.control_bus._domain import FAST_SCRYPT

ADMIN_PASSWORD = "test-admin-password"

T = TypeVar("T")


@dataclass(frozen=True)
class Reply:
    status: int
    data: Any
    headers: Mapping[str, str]

    def __getitem__(self, key: str) -> Any:
        """`reply["execution/id"]`: a key of an EDN map body."""
        return self.data[Keyword(key)]


@dataclass
class Client:
    """REST calls to a bus; EDN in and out unless told otherwise."""

    session: aiohttp.ClientSession
    url: str
    token: str | None = None

    async def call(
        self,
        method: str,
        path: str,
        data: Any = None,
        *,
        body: bytes | None = None,
        content_type: str = EDN,
        accept: str = EDN,
        token: str | None = None,
        authorized: bool = True,
    ) -> Reply:
        headers = {"Accept": accept}
        if body is None and data is not None:
            body = edn.dumps(data).encode() if content_type == EDN else json.dumps(data).encode()
        if body is not None:
            headers["Content-Type"] = content_type
        if authorized and (token or self.token):
            headers["Authorization"] = f"Token {token or self.token}"
        async with self.session.request(method, self.url + path, data=body, headers=headers) as response:
            raw = await response.read()
            if not raw:
                parsed = None
            elif response.content_type == JSON:
                parsed = json.loads(raw)
            else:
                assert response.content_type == EDN, response.content_type
                parsed = edn.loads(raw.decode())
            return Reply(response.status, parsed, response.headers)

    async def login(self, password: str = ADMIN_PASSWORD) -> str:
        reply = await self.call("POST", "/auth", {Keyword("user/id"): "admin", Keyword("user/password"): password})
        assert reply.status == 200, reply
        self.token = reply["token"]
        return self.token


@asynccontextmanager
async def running_bus(data: Path, **settings: Any) -> AsyncIterator[tuple[ControlBus, Client]]:
    """A bus on 127.0.0.1:<free port>, discovery off, and a client logged in as admin.

    The admin is made beforehand with cheap scrypt parameters (a stored hash
    keeps its own), which saves the second or so the real ones cost per test.
    """
    if "store" not in settings and not (data / "bus.db").exists():
        data.mkdir(parents=True, exist_ok=True)
        async with BusStore.open(str(data / "bus.db")) as store:
            await Users(store, scrypt=FAST_SCRYPT).bootstrap_admin(Secret(ADMIN_PASSWORD))
    settings = {
        "host": "127.0.0.1",
        "port": 0,
        "data": data,
        "secret": SECRET,
        "admin_password": ADMIN_PASSWORD,
        "discovery": False,
        **settings,
    }
    async with ControlBus(**settings) as bus, aiohttp.ClientSession() as session:
        client = Client(session, bus.url)
        await client.login()
        yield bus, client


@asynccontextmanager
async def real_agent(bus: ControlBus, data: Path, **settings: Any) -> AsyncIterator[Agent]:
    """A real agent, in-process, linked to `bus` by its --control-bus URL.

    On 127.0.0.1: bound to every interface, port 0 gives IPv4 and IPv6 two
    different ports, and the agent may report the IPv6 one.
    """
    settings = {"max_executions": 2, "interface": "127.0.0.1", **settings}
    async with Agent(secret=SECRET, data=data, port=0, control_bus=bus.join_url, **settings) as agent:
        yield agent


async def eventually(check: Callable[[], Awaitable[T]], *, timeout: float = 10.0) -> T:
    """The first truthy result of `check()`, tried until `timeout` (a test's own polling)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            assert result, "timed out"
            return result
        await asyncio.sleep(0.01)


async def linked_agents(client: Client, count: int = 1) -> list[dict[Keyword, Any]]:
    """The bus's agents once `count` are linked and have reported their stats."""

    async def check() -> list[dict[Keyword, Any]] | None:
        agents = (await client.call("GET", "/agents")).data
        ready = [a for a in agents if a[Keyword("agent/state")] == Keyword("ready") and a[Keyword("agent/stats")]]
        return agents if len(ready) >= count else None

    return await eventually(check)


def k(**values: Any) -> dict[Keyword, Any]:
    return {Keyword(key): value for key, value in values.items()}


def state(execution_id: int, status: str, **values: Any) -> dict[Keyword, Any]:
    """An agent's `GET /execution/:id` reply."""
    return k(**{"execution/id": execution_id, "execution/batch-status": Keyword(status)}, **values)


@dataclass
class FakeAgent:
    """An agent's REST API answering from what the test puts in `executions` and
    `logs`, and a real, signed `/join` link the test drives message by message."""

    instance_id: str = "fake-agent"
    name: str = "fake"
    max_executions: int = 2
    start_status: int = 202
    auto_link: bool = True  # link when the bus calls POST /join-bus
    executions: dict[int, dict[Keyword, Any]] = field(default_factory=dict)
    logs: dict[int, list[dict[Keyword, Any]]] = field(default_factory=dict)
    submissions: list[dict[Keyword, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    url: URL = URL()
    ws: aiohttp.ClientWebSocketResponse | None = None

    async def __aenter__(self) -> Self:
        app = web.Application(middlewares=[error_middleware(), signature_middleware(SECRET)])
        app.router.add_post("/join-bus", self._join_bus)
        app.router.add_get("/spec", self._spec)
        app.router.add_post("/executions", self._start)
        app.router.add_get(r"/execution/{id:\d+}", self._execution)
        app.router.add_get(r"/execution/{id:\d+}/log", self._log)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = URL.build(scheme="http", host="127.0.0.1", port=self._runner.addresses[0][1])
        self._session = aiohttp.ClientSession()
        self._tasks: set[asyncio.Task[Any]] = set()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.unlink()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._session.close()
        await self._runner.cleanup()

    async def link(
        self,
        join_url: str,
        *,
        token: str | None = None,
        running: tuple[int, ...] = (),
        finished: tuple[int, ...] = (),
    ) -> None:
        """Open the /join link and send Ready."""
        headers = signed_headers(SECRET, "GET", join_url)
        if token is not None:
            headers[link.TOKEN_HEADER] = token
        self.ws = await self._session.ws_connect(join_url, headers=headers)
        await self.send(
            link.Ready(self.instance_id, self.name, "127.0.0.1", self.url.port or 0, running, finished)
        )

    async def send(self, message: link.LinkMessage | str) -> None:
        """Send a link message, or any text."""
        assert self.ws is not None
        await self.ws.send_str(message if isinstance(message, str) else link.encode(message))

    async def unlink(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def _join_bus(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        self.calls.append("POST /join-bus")
        if self.auto_link:
            task = asyncio.create_task(
                self.link(body[Keyword("control-bus/url")], token=body[Keyword("control-bus/token")])
            )
            self._tasks.add(task)
        return respond(request, k(**{"agent/instance-id": self.instance_id}))

    async def _spec(self, request: web.Request) -> web.Response:
        self.calls.append("GET /spec")
        return respond(
            request,
            k(
                **{
                    "agent/instance-id": self.instance_id,
                    "agent/max-executions": self.max_executions,
                    "agent/load": Vector([0.5, 0.5, 0.5]),
                    "agent/executions": Vector(sorted(self.executions)),
                }
            ),
        )

    async def _start(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        self.submissions.append(body)
        if self.start_status != 202:
            return respond(request, k(**{"error/message": "full"}), status=self.start_status)
        execution_id = body[Keyword("execution/id")]
        self.executions[execution_id] = state(execution_id, "starting")
        return respond(request, self.executions[execution_id], status=202)

    async def _execution(self, request: web.Request) -> web.Response:
        execution_id = int(request.match_info["id"])
        self.calls.append(f"GET /execution/{execution_id}")
        if execution_id not in self.executions:
            return respond(request, k(**{"error/message": "no such execution"}), status=404)
        return respond(request, self.executions[execution_id])

    async def _log(self, request: web.Request) -> web.Response:
        execution_id, offset = int(request.match_info["id"]), int(request.query["offset"])
        lines = [line for line in self.logs.get(execution_id, []) if line[Keyword("log/offset")] >= offset]
        next_offset = lines[-1][Keyword("log/offset")] + 1 if lines else offset
        return respond(request, k(**{"log/lines": Vector(lines), "log/next-offset": next_offset}))
