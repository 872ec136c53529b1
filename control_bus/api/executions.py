"""Executions of a job: run (and wait), history, one execution, its log."""

from __future__ import annotations

from aiohttp import web

from jobstreamer.common.errors import BadRequest
from jobstreamer.common.wire.content import read_body, respond

from ..executions import View
from ._context import services
from ._query import seconds, whole

# ?wait= longer than this is refused: a client wanting longer can ask again.
MAX_WAIT = 3600.0


async def run(request: web.Request) -> web.Response:
    """`POST /:app/job/:job/executions`: 201 finished within ?wait=, else 202 as it is now."""
    app, job = request.match_info["app"], request.match_info["job"]
    wait = seconds(request, "wait", MAX_WAIT)
    parameters = await read_body(request)
    executions = services(request).executions
    execution_id = await services(request).dispatcher.submit(app, job, {} if parameters is None else parameters)
    headers = {"Location": f"/{app}/job/{job}/execution/{execution_id}"}
    finished = await executions.wait(execution_id, wait) if wait else None
    if finished is not None:
        return respond(request, finished, status=201, headers=headers)
    return respond(request, executions.view(execution_id), status=202, headers=headers)


async def history(request: web.Request) -> web.Response:
    found = services(request).executions.history(
        request.match_info["app"],
        request.match_info["job"],
        limit=whole(request, "limit", 20),
        offset=whole(request, "offset", 0),
    )
    return respond(request, found)


def _execution(request: web.Request) -> tuple[int, View]:
    """The id in the path and its execution, which must be one of the path's job (else 404)."""
    execution_id = int(request.match_info["id"])
    view = services(request).executions.get(request.match_info["app"], request.match_info["job"], execution_id)
    return execution_id, view


async def get_execution(request: web.Request) -> web.Response:
    return respond(request, _execution(request)[1])


async def log(request: web.Request) -> web.Response:
    execution_id, _ = _execution(request)
    if "follow" in request.query:
        raise BadRequest("?follow= is not supported yet (issue #6): page with ?offset=", field="follow")
    page = await services(request).logs.page(execution_id, whole(request, "offset", 0))
    return respond(request, page)
