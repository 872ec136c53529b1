"""A real aiohttp server on a free loopback port, with a client session for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from yarl import URL


@dataclass(frozen=True)
class Served:
    session: aiohttp.ClientSession
    url: URL  # http://127.0.0.1:<port>

    def at(self, path_qs: str) -> URL:
        return URL(str(self.url) + path_qs)


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[Served]:
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as session:
            yield Served(session, URL.build(scheme="http", host=host, port=port))
    finally:
        await runner.cleanup()
