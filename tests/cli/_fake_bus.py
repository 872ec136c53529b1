"""A tiny stand-in for a control bus: canned EDN replies on a real port, in a thread.

The CLI is synchronous, so the fake runs its own event loop in a thread and
the test calls the CLI in the foreground, as a user would.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from jobstreamer.common import edn
from jobstreamer.common.edn import Keyword
from jobstreamer.common.wire.content import EDN, render

TOKEN = "fake-token"
PASSWORD = "fake-password"

Reply = tuple[int, Any]


@dataclass(frozen=True)
class Seen:
    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes

    def data(self) -> Any:
        return edn.loads(self.body.decode())


def error(status: int, message: str) -> Reply:
    return status, {Keyword("error/message"): message, Keyword("error/status"): status}


@dataclass
class FakeBus:
    url: str = ""
    # (method, path) -> a reply, or a function of the request giving one.
    routes: dict[tuple[str, str], Reply | Callable[[Seen], Reply]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    token: str = TOKEN

    def reply(self, method: str, path: str, data: Any, status: int = 200) -> None:
        self.routes[(method, path)] = (status, data)

    def requests(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path_qs.split("?")[0] == path]

    async def _handle(self, request: web.Request) -> web.Response:
        seen = Seen(request.method, request.path_qs, dict(request.headers), await request.read())
        self.seen.append(seen)
        status, data = self._answer(seen, request.path)
        if isinstance(data, bytes):  # not a bus: a proxy's page, say
            return web.Response(status=status, body=data, content_type="text/html")
        return web.Response(status=status, body=render(data, EDN), content_type=EDN)

    def _answer(self, seen: Seen, path: str) -> Reply:
        if (seen.method, path) == ("POST", "/auth"):
            given = seen.data().get(Keyword("user/password"))
            return (200, {Keyword("token"): self.token}) if given == PASSWORD else error(401, "wrong user or password")
        if seen.headers.get("Authorization") != f"Token {self.token}":
            return error(401, "unknown or expired token: log in again with POST /auth")
        route = self.routes.get((seen.method, path))
        if route is None:
            return error(404, f"the fake bus has no {seen.method} {path}")
        return route(seen) if callable(route) else route


@contextmanager
def running() -> Iterator[FakeBus]:
    bus = FakeBus()
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", bus._handle)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
    bus.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    thread = threading.Thread(target=loop.run_forever, name="fake bus", daemon=True)
    thread.start()
    try:
        yield bus
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(runner.cleanup())
        loop.close()
