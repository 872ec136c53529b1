"""The agents the bus knows, and taking one out of dispatch (block) or back in."""

from __future__ import annotations

from aiohttp import web

from jobstreamer.common.wire.content import respond

from ._context import services


async def list_agents(request: web.Request) -> web.Response:
    return respond(request, services(request).agents.list())


async def get_agent(request: web.Request) -> web.Response:
    return respond(request, services(request).agents.get(request.match_info["id"]))


async def block(request: web.Request) -> web.Response:
    return respond(request, await services(request).agents.block(request.match_info["id"]))


async def unblock(request: web.Request) -> web.Response:
    return respond(request, await services(request).agents.unblock(request.match_info["id"]))
