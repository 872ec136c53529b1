"""A fake control bus for agent tests: `/join` records the link messages, `/code` serves bundles.

    async with FakeBus(bundles) as bus:
        async with Agent(secret=SECRET, data=tmp_path, port=0, control_bus=bus.join_url) as agent:
            ready = await bus.expect(Ready)
            status, body = await bus.call("POST", agent.url + "/executions", {...})
"""

from __future__ import annotations

import asyncio
from typing import Any, Self, TypeVar

import aiohttp
import psutil
from aiohttp import WSMsgType, web

from jobstreamer.common import edn
from jobstreamer.common.edn import K, Keyword
from jobstreamer.common.wire import link
from jobstreamer.common.wire.link import LinkMessage
from jobstreamer.common.wire.middleware import error_middleware, verify_request
from jobstreamer.common.wire.signing import signed_headers
from jobstreamer.control_bus.code_server import CodeServer
from tests._apps import SECRET, Bundles, bundle

M = TypeVar("M", bound=LinkMessage)

TASKS = """\
import os, subprocess, sys, time
from pathlib import Path


def greet(name, punctuation="!"):
    return {"greeting": f"hello {name}{punctuation}", "pid": os.getpid()}


def double(n):
    return n * 2


def boom():
    raise ValueError("kaboom")


def chatty(lines):
    for number in range(lines):
        print(f"line {number}")
    return lines


def touch(directory):
    Path(directory, str(time.monotonic_ns())).touch()


def hang(ctx):
    child = subprocess.Popen(["sleep", "60"])
    ctx.log(f"pids {os.getpid()} {child.pid}")
    time.sleep(60)
"""


def jobs_app(bundles: Bundles) -> str:
    """Add the test application "jobs" to `bundles`; returns its version."""
    return bundles.add("jobs", bundle({"jobs/__init__.py": "", "jobs/tasks.py": TASKS}))


def execution(execution_id: int, version: str, *steps: dict[Keyword, Any], **parameters: Any) -> dict[Keyword, Any]:
    """A `POST /executions` body for a job of the "jobs" app."""
    return {
        K("execution/id"): execution_id,
        K("application/name"): "jobs",
        K("application/version"): version,
        K("job/name"): "job",
        K("job/steps"): list(steps),
        K("execution/parameters"): keywords(parameters),
    }


def task(name: str, function: str, **params: Any) -> dict[Keyword, Any]:
    """A step running `jobs.tasks:<function>`."""
    return {K("step/name"): name, K("step/task"): f"jobs.tasks:{function}", K("step/params"): keywords(params)}


def shell(name: str, command: str) -> dict[Keyword, Any]:
    return {K("step/name"): name, K("step/shell"): ["sh", "-c", command]}


def keywords(params: dict[str, Any]) -> dict[Keyword, Any]:
    return {Keyword(name): value for name, value in params.items()}


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def until_gone(*pids: int) -> None:
    async with asyncio.timeout(10):
        while not all(gone(pid) for pid in pids):
            await asyncio.sleep(0.01)


class FakeBus:
    def __init__(self, bundles: Bundles | None = None, *, secret: str = SECRET, port: int = 0) -> None:
        self._secret = secret
        self._port = port
        self._bundles = bundles or Bundles()
        self.messages: asyncio.Queue[LinkMessage] = asyncio.Queue()
        self.tokens: list[str | None] = []  # the join token of every link, in order
        self.links: list[web.WebSocketResponse] = []
        self.refused = 0  # upgrades without a valid signature
        self.join_url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        app = web.Application(middlewares=[error_middleware()])
        app.router.add_get("/join", self._join)
        CodeServer(self._bundles, secret=self._secret).add_routes(app)
        app.on_shutdown.append(lambda _: self.drop())
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self._port).start()
        host, port = self._runner.addresses[0][:2]
        self.join_url = f"ws://{host}:{port}/join"
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None and self._session is not None
        await self._session.close()
        await self._runner.cleanup()

    async def _join(self, request: web.Request) -> web.StreamResponse:
        try:
            await verify_request(request, self._secret)
        except Exception:
            self.refused += 1
            raise
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.tokens.append(request.headers.get(link.TOKEN_HEADER))
        self.links.append(ws)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.messages.put_nowait(link.decode(message.data))
        return ws

    async def drop(self) -> None:
        """Close every link from the bus's side."""
        for ws in self.links:
            await ws.close()

    async def expect(self, kind: type[M], *, timeout: float = 10.0, **fields: Any) -> M:
        """The next message of `kind` with these field values; others before it are skipped."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.messages.get()
                if isinstance(message, kind) and all(getattr(message, k) == v for k, v in fields.items()):
                    return message

    async def call(
        self, method: str, url: str, data: Any = None, *, raw: bytes | None = None, secret: str | None = SECRET
    ) -> tuple[int, Any]:
        """A REST call to an agent with `data` as EDN (or the `raw` body), signed as
        the bus signs it (unsigned with `secret=None`)."""
        assert self._session is not None
        body = raw if raw is not None else b"" if data is None else edn.dumps(data).encode()
        headers = {"Content-Type": "application/edn"}
        if secret is not None:
            headers |= signed_headers(secret, method, url, body)
        async with self._session.request(method, url, data=body, headers=headers) as response:
            return response.status, edn.loads(await response.text())
