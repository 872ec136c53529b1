"""The token check: every route in the API table that names roles needs
`Authorization: Token <t>` of a user holding one of them (API.md, "Control bus REST API").

Routes outside the table pass through: aiohttp answers 404/405 for unknown
paths, and `/join` and `/code` check the cluster signature themselves.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import Forbidden, Unauthorized

from .api import Route
from .users import Users

_ROLE = Keyword("user/role")


def token(request: web.Request) -> str:
    """The token in the Authorization header; Unauthorized (401) when there is none."""
    scheme, _, value = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if scheme.lower() != "token" or not value.strip():
        raise Unauthorized("this route needs a token: send 'Authorization: Token <t>' (POST /auth gives one)")
    return value.strip()


def token_middleware(users: Users, routes: Iterable[Route]) -> Middleware:
    by_handler = {route.handler: route for route in routes}

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = by_handler.get(request.match_info.handler)
        if route is not None and route.roles is not None:
            user = users.authenticate(token(request))
            if user is None:
                raise Unauthorized("unknown or expired token: log in again with POST /auth")
            if user[_ROLE] not in route.roles:
                raise Forbidden(f"{route.method} {route.path} is not allowed to the role {user[_ROLE]}")
        return await handler(request)

    return require_token
