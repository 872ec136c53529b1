"""Job definitions of an application: list, create or replace, show, delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import BadRequest, NotFound
from jobstreamer.common.wire.content import read_body, respond

from ..jobs import Jobs
from ._context import services
from ._query import whole

_NAME = Keyword("job/name")


async def list_jobs(request: web.Request) -> web.Response:
    found = services(request).jobs.list(
        request.match_info["app"],
        q=request.query.get("q") or None,
        limit=whole(request, "limit", 20),
        offset=whole(request, "offset", 0),
    )
    return respond(request, found)


async def post_job(request: web.Request) -> web.Response:
    body = await read_body(request)
    name = body.get(_NAME) if isinstance(body, Mapping) else None
    return await _put(request, name, body)


async def put_job(request: web.Request) -> web.Response:
    name = request.match_info["job"]
    body = await read_body(request)
    if isinstance(body, Mapping):
        given = body.get(_NAME, name)
        if given != name:
            raise BadRequest(f"the body names job {given!r}, the path {name!r}", field=_NAME.full)
        body = {**body, _NAME: name}
    return await _put(request, name, body)


async def _put(request: web.Request, name: Any, body: Any) -> web.Response:
    app, jobs = request.match_info["app"], services(request).jobs
    existed = _exists(jobs, app, name)
    view = await jobs.put(app, body)
    location = f"/{app}/job/{view[_NAME]}"
    return respond(request, view, status=200 if existed else 201, headers={"Location": location})


def _exists(jobs: Jobs, app: str, name: Any) -> bool:
    if not isinstance(name, str):
        return False  # put refuses it with the reason
    try:
        jobs.get(app, name)
    except NotFound:
        return False
    return True


async def get_job(request: web.Request) -> web.Response:
    return respond(request, services(request).jobs.get(request.match_info["app"], request.match_info["job"]))


async def delete_job(request: web.Request) -> web.Response:
    await services(request).jobs.delete(request.match_info["app"], request.match_info["job"])
    return web.Response(status=204)
