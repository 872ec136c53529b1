"""aiohttp middlewares: errors rendered as EDN or JSON, and signed requests.

Install the error middleware outermost, so it also renders what the others
raise:

    web.Application(middlewares=[error_middleware(), signature_middleware(secret)])
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, LooseHeaders, Middleware
from multidict import CIMultiDict

from ..edn import Keyword
from ..errors import JobstreamerError
from .content import DEFAULT_MAX_SIZE, read_bytes, respond
from .signing import DEFAULT_MAX_SKEW, Key, ReplayGuard, verify

log = logging.getLogger(__name__)

_MESSAGE, _STATUS, _FIELD = (Keyword("error/" + name) for name in ("message", "status", "field"))

# Headers of an HTTPException that describe its own (discarded) text body.
_BODY_HEADERS = (hdrs.CONTENT_TYPE, hdrs.CONTENT_LENGTH)


def error_response(
    request: web.Request,
    message: str,
    status: int,
    *,
    field: Any = None,
    headers: LooseHeaders | None = None,
) -> web.Response:
    """`{:error/message .. :error/status .. :error/field ..}` in the negotiated format."""
    data = {_MESSAGE: message, _STATUS: status}
    if field is not None:
        data[_FIELD] = field
    return respond(request, data, status=status, headers=headers)


def _http_exception_message(exc: web.HTTPException) -> str:
    # aiohttp's default text is "404: Not Found"; a handler's own text wins.
    default = f"{exc.status}: {exc.reason}"
    return exc.text if exc.text and exc.text != default else exc.reason


def error_middleware(*, logger: logging.Logger = log) -> Middleware:
    """Render every error a handler raises (API.md, "Errors")."""

    @web.middleware
    async def render_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except JobstreamerError as exc:
            if exc.status >= 500:
                logger.error("%s %s failed: %s", request.method, request.path, exc.message)
            return error_response(request, exc.message, exc.status, field=exc.field)
        except web.HTTPException as exc:
            if exc.status < 400:  # redirects and the like are answers, not errors
                raise
            headers = CIMultiDict(exc.headers)  # keeps Allow on a 405
            for name in _BODY_HEADERS:
                headers.popall(name, None)
            return error_response(
                request, _http_exception_message(exc), exc.status, headers=headers
            )
        except Exception:
            # The details stay in the log: they can name paths, queries or values
            # the client has no business seeing.
            logger.exception("%s %s failed", request.method, request.path)
            return error_response(request, "internal server error", 500)

    return render_errors


async def verify_request(
    request: web.Request,
    secret: Key,
    *,
    guard: ReplayGuard | None = None,
    max_size: int = DEFAULT_MAX_SIZE,
    max_skew: float = DEFAULT_MAX_SKEW,
) -> bytes:
    """Check the request's signature (`signing.verify`) and return its body.

    The body stays cached on the request, so `read_body` can parse it after.
    """
    body = await read_bytes(request, max_size=max_size)
    verify(
        secret,
        request.method,
        request.raw_path,
        body,
        request.headers,
        max_skew=max_skew,
        guard=guard,
    )
    return body


def signature_middleware(
    secret: Key,
    *,
    guard: ReplayGuard | None = None,
    max_size: int = DEFAULT_MAX_SIZE,
    max_skew: float = DEFAULT_MAX_SKEW,
    public: Collection[str] = ("/healthcheck",),
) -> Middleware:
    """Refuse (401) every request not signed with `secret`, except to `public` paths."""

    @web.middleware
    async def require_signature(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in public:
            await verify_request(
                request, secret, guard=guard, max_size=max_size, max_skew=max_skew
            )
        return await handler(request)

    return require_signature
