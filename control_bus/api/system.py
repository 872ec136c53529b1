"""Liveness, version and logging in: the routes a client calls before anything else."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from importlib.metadata import version as installed_version
from importlib.resources import files

from aiohttp import web

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import BadRequest, Unavailable
from jobstreamer.common.store import StoreError
from jobstreamer.common.wire.content import read_body, respond

from ._context import services

# A store whose writer does not answer within this is unusable.
HEALTH_TIMEOUT = 5.0

_USER_ID, _PASSWORD = Keyword("user/id"), Keyword("user/password")


async def healthcheck(request: web.Request) -> web.Response:
    store = services(request).store
    try:
        # A no-op through the writer thread: it is alive and not stuck on the disk.
        await asyncio.wait_for(store.transact_with(lambda db: None), HEALTH_TIMEOUT)
    except TimeoutError:
        raise Unavailable("the store's writer does not answer") from None
    except StoreError as exc:
        raise Unavailable(f"the store is unusable: {exc}") from None
    return respond(request, {Keyword("status"): Keyword("ok")})


async def console(request: web.Request) -> web.Response:
    # Read per request: it is small, and issue #9 replaces it with the real console.
    page = files("jobstreamer.control_bus").joinpath("static/index.html").read_text()
    return web.Response(text=page, content_type="text/html")


async def version(request: web.Request) -> web.Response:
    return respond(request, {Keyword("version"): installed_version("jobstreamer")})


async def auth(request: web.Request) -> web.Response:
    body = await read_body(request)
    if not isinstance(body, Mapping):
        raise BadRequest('POST /auth takes {:user/id "..." :user/password "..."}')
    user_id, password = body.get(_USER_ID), body.get(_PASSWORD)
    for key, value in ((_USER_ID, user_id), (_PASSWORD, password)):
        if not isinstance(value, str) or not value:
            raise BadRequest(f"{key} must be a non-empty string", field=key.full)
    token = await services(request).users.login(user_id, password)
    return respond(request, {Keyword("token"): token})
