"""What the handlers reach: the bus's domain objects, on the aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .._store import BusStore
from ..apps import Apps
from ..dispatch import Dispatcher
from ..executions import Executions
from ..jobs import Jobs
from ..links import AgentRegistry
from ..logs import LogStore
from ..users import Users


@dataclass(frozen=True, slots=True)
class Services:
    store: BusStore
    apps: Apps
    jobs: Jobs
    executions: Executions
    users: Users
    agents: AgentRegistry
    logs: LogStore
    dispatcher: Dispatcher


SERVICES: web.AppKey[Services] = web.AppKey("jobstreamer.services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]
