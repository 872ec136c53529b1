"""The control bus's REST API (API.md, "Control bus REST API"), as data.

`ROUTES` is the table: method, path, handler, summary and the roles allowed.
The app is built from it, the token middleware reads the roles from it, and
issue #7 generates /openapi.json and the ACL table from it.  Handlers are
thin: parse the request, call the domain, respond.

`roles=None` marks a public route (no token).  Routes not in the table
(`/join`, `/code`) check their own cluster signatures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from jobstreamer.common.edn import Keyword

from ..users import ADMIN, OPERATOR, WATCHER
from . import agents, apps, executions, jobs, system
from ._context import SERVICES, Services

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ANYONE: frozenset[Keyword] = frozenset({ADMIN, OPERATOR, WATCHER})
OPERATORS: frozenset[Keyword] = frozenset({ADMIN, OPERATOR})


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    roles: frozenset[Keyword] | None  # None: public


_JOB = "/{app}/job/{job}"
_EXECUTION = _JOB + r"/execution/{id:\d+}"

ROUTES: tuple[Route, ...] = (
    Route("GET", "/", system.console, "The web console (a placeholder page until issue #9)", None),
    Route("GET", "/healthcheck", system.healthcheck, "Liveness: 503 when the store is unusable", None),
    Route("GET", "/version", system.version, "The bus's version", None),
    Route("POST", "/auth", system.auth, "Log in: a token for {:user/id :user/password}", None),
    Route("GET", "/apps", apps.list_apps, "Every application with its current version", ANYONE),
    Route("POST", "/apps", apps.upload, "Register an application version (zip or wheel; ?name=)", OPERATORS),
    Route("GET", "/apps/{app}", apps.get_app, "One application with its versions and tasks", ANYONE),
    Route("GET", "/apps/{app}/versions", apps.versions, "An application's versions, newest first", ANYONE),
    Route("DELETE", "/apps/{app}", apps.delete_app, "Delete an application, its jobs and executions", OPERATORS),
    Route("GET", "/{app}/jobs", jobs.list_jobs, "An application's jobs (?q=&limit=&offset=)", ANYONE),
    Route("POST", "/{app}/jobs", jobs.post_job, "Create or replace a job, by :job/name", OPERATORS),
    Route("GET", _JOB, jobs.get_job, "One job with its stats and latest execution", ANYONE),
    Route("PUT", _JOB, jobs.put_job, "Replace a job", OPERATORS),
    Route("DELETE", _JOB, jobs.delete_job, "Delete a job and its executions", OPERATORS),
    Route("POST", _JOB + "/executions", executions.run, "Run a job now; ?wait=S waits for the end", OPERATORS),
    Route("GET", _JOB + "/executions", executions.history, "A job's executions, newest first", ANYONE),
    Route("GET", _EXECUTION, executions.get_execution, "One execution with its steps and result", ANYONE),
    Route("GET", _EXECUTION + "/log", executions.log, "An execution's log lines from ?offset=", ANYONE),
    Route("GET", "/agents", agents.list_agents, "Every agent the bus knows", ANYONE),
    Route("GET", "/agent/{id}", agents.get_agent, "One agent with its stats and executions", ANYONE),
    Route("PUT", "/agent/{id}/block", agents.block, "Take an agent out of dispatch", OPERATORS),
    Route("PUT", "/agent/{id}/unblock", agents.unblock, "Put an agent back into dispatch", OPERATORS),
)

__all__ = ["ANYONE", "OPERATORS", "ROUTES", "SERVICES", "Route", "Services"]
