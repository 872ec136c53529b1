"""Small application bundles and a /code server for them, shared by the code-path tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from jobstreamer.common.wire import code
from jobstreamer.common.wire.middleware import error_middleware
from jobstreamer.control_bus._bundle import Bundle, from_files
from jobstreamer.control_bus.code_server import CodeServer

SECRET = "test-cluster-secret"

HELLO = {
    "hello/__init__.py": "GREETING = 'hello'\n",
    "hello/util.py": "def helper(x):\n    return x * 2\n",
    "hello/tasks.py": (
        "from .util import helper\n"
        "from .sub.deep import DEPTH\n"
        "VERSION = 1\n"
        "\n"
        "def run(n=1):\n"
        "    return {'doubled': helper(n), 'depth': DEPTH, 'version': VERSION}\n"
        "\n"
        "def boom():\n"
        "    raise ValueError('kaboom')\n"
    ),
    "hello/sub/__init__.py": "",
    "hello/sub/deep.py": "from ..util import helper\nDEPTH = helper(21)\n",
    "hello/data/greeting.txt": "hi there\n",
}


def bundle(files: dict[str, str]) -> Bundle:
    return from_files({path: text.encode() for path, text in files.items()})


def hello(**changes: str) -> Bundle:
    """The hello app, with some files replaced (`tasks="..."` replaces hello/tasks.py)."""
    return bundle({**HELLO, **{f"hello/{name}.py": text for name, text in changes.items()}})


class Bundles:
    """A `BundleSource` over a dict, as the bus's store would back it."""

    def __init__(self) -> None:
        self._bundles: dict[tuple[str, str], Bundle] = {}

    def add(self, app: str, bundle: Bundle) -> str:
        self._bundles[(app, bundle.version)] = bundle
        return bundle.version

    async def __call__(self, app: str, version: str) -> Bundle | None:
        return self._bundles.get((app, version))


class InMemoryCodeClient:
    """A `CodeClient` that hands each request, as EDN text, to a real CodeServer."""

    def __init__(self, bundles: Bundles) -> None:
        self._server = CodeServer(bundles, secret=SECRET)
        self.requests: list[code.Request] = []
        self.replies: list[code.Reply] = []

    def request(self, message: code.Request) -> code.Reply:
        self.requests.append(message)
        reply = code.decode_reply(asyncio.run(self._server.answer(code.encode(message))))
        self.replies.append(reply)
        return reply


@asynccontextmanager
async def code_server(bundles: Bundles, *, port: int = 0) -> AsyncIterator[str]:
    """A bus-like aiohttp app serving only /code on loopback; yields the ws:// URL."""
    app = web.Application(middlewares=[error_middleware()])
    CodeServer(bundles, secret=SECRET).add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"ws://{host}:{port}/code"
    finally:
        await runner.cleanup()
