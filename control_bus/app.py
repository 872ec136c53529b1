"""The control bus process: its store, REST API, agent links, dispatch and discovery.

    async with ControlBus(secret=s, admin_password=p, data="/tmp/bus", port=0) as bus:
        print(bus.url)           # http://127.0.0.1:<port>
        agent_setting = bus.join_url

Constructor keywords are the BUS_SETTINGS (common/settings.py), plus
`discovery=False` for tests that link agents directly, and `link_grace`
(seconds a closed link waits before its agent counts as gone).

On start the store opens (executions survive a kill -9), the first admin is
created if the store has no user, the HTTP server starts, the dispatcher
takes the executions left `:queued` in their submission order, and
discovery starts.  Agents rejoin on their own: each one's Ready makes the
bus fetch what the store says it was running.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import aiohttp
from aiohttp import web
from yarl import URL

from jobstreamer.common.settings import BUS_SETTINGS, Secret, SettingError, secret_value
from jobstreamer.common.serve import serve_until_sigterm, serving
from jobstreamer.common.wire.announcement import AgentAnnouncement
from jobstreamer.common.wire.middleware import error_middleware

from ._store import BusStore
from .agent_client import AgentClient
from .api import ROUTES, SERVICES, Services
from .api.apps import MAX_UPLOAD
from .apps import Apps
from .auth_mw import token_middleware
from .code_server import CodeServer
from .discovery import Discovery
from .dispatch import Dispatcher
from .executions import Executions
from .jobs import Jobs
from .links import DEFAULT_GRACE, AgentRegistry
from .logs import LogStore
from .users import Users

log = logging.getLogger(__name__)

_DEFAULTS: Mapping[str, Any] = {setting.name: setting.default for setting in BUS_SETTINGS}
_WILDCARDS = ("", "0.0.0.0", "::")


class ControlBus:
    def __init__(
        self,
        *,
        host: str = _DEFAULTS["host"],
        port: int = _DEFAULTS["port"],
        data: str | os.PathLike[str] = _DEFAULTS["data"],
        store: str | None = None,
        apps_dir: str | os.PathLike[str] | None = None,
        interface: str | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        secret: Secret | str | None = None,
        admin_password: Secret | str | None = None,
        discovery: bool = True,
        link_grace: float = DEFAULT_GRACE,
    ) -> None:
        if secret is None:
            raise SettingError(
                "the bus needs a cluster secret to trust its agents: set JOBSTREAMER_SECRET (or --secret)",
                field="secret",
            )
        if tls_cert is not None or tls_key is not None:
            raise SettingError("--tls-cert and --tls-key are not yet supported (issue #7)", field="tls_cert")
        if apps_dir is not None:
            log.warning("--apps-dir is not yet supported (issue #4): ignored")
        self._secret = secret_value(secret)
        self._admin_password = None if admin_password is None else secret_value(admin_password)
        self._host = host
        self._requested_port = port
        self.data = Path(data).expanduser()
        self._store_url = store or str(self.data / "bus.db")
        unspecified = interface is None or ipaddress.ip_address(interface).is_unspecified
        self._interface = None if unspecified else interface
        self._discovery = discovery
        self._link_grace = link_grace
        self.port = 0
        self._stack = contextlib.AsyncExitStack()
        self._agents: AgentRegistry | None = None

    @property
    def url(self) -> str:
        """Where this machine reaches the REST API."""
        host = "127.0.0.1" if self._host in _WILDCARDS else self._host
        return str(URL.build(scheme="http", host=host, port=self.port))

    @property
    def join_url(self) -> str:
        """The /join URL an agent on this machine links to (its --control-bus)."""
        return str(URL(self.url).with_scheme("ws").with_path("/join"))

    @property
    def agents(self) -> AgentRegistry:
        """The agents and their links; set once the bus has started."""
        assert self._agents is not None, "the bus is not started"
        return self._agents

    async def __aenter__(self) -> Self:
        try:
            await self._start(self._stack)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        # Closed in reverse: discovery, dispatch, the HTTP server (and with it
        # the links), the agents' tasks, the client session, last the store.
        self.data.mkdir(parents=True, exist_ok=True)
        store = await stack.enter_async_context(BusStore.open(self._store_url))
        users = Users(store)
        if await users.bootstrap_admin(self._admin_password):
            log.info("created the first user, admin")
        executions = Executions(store)
        # One session for every agent call: keep-alive connections (agent_client.py).
        session = await stack.enter_async_context(aiohttp.ClientSession())
        client = AgentClient(session, secret=self._secret)
        logs = LogStore(self.data / "logs")
        self._agents = await stack.enter_async_context(
            AgentRegistry(
                store=store,
                executions=executions,
                client=client,
                logs=logs,
                secret=self._secret,
                grace=self._link_grace,
            )
        )
        dispatcher = Dispatcher(store, executions, self._agents, client)
        services = Services(
            store=store,
            apps=Apps(store, data_dir=self.data),
            jobs=Jobs(store),
            executions=executions,
            users=users,
            agents=self._agents,
            logs=logs,
            dispatcher=dispatcher,
        )
        self.port = await stack.enter_async_context(serving(self._web_app(services), self._host, self._requested_port))
        await stack.enter_async_context(dispatcher)
        if self._discovery:
            await stack.enter_async_context(Discovery(on_agent=self._on_agent, interface=self._interface))
        log.info("control bus listening on %s", self.url)

    def _web_app(self, services: Services) -> web.Application:
        app = web.Application(
            middlewares=[error_middleware(), token_middleware(services.users, ROUTES)],
            client_max_size=MAX_UPLOAD,
        )
        app[SERVICES] = services
        for route in ROUTES:
            app.router.add_route(route.method, route.path, route.handler)
        services.agents.add_routes(app)
        CodeServer(services.apps.bundle, secret=self._secret).add_routes(app)
        return app

    async def _on_agent(self, announcement: AgentAnnouncement) -> None:
        await self.agents.invite(announcement, bus_host=self._host, bus_port=self.port)


async def run_bus(settings: Mapping[str, Any]) -> None:
    """Run a bus with resolved BUS_SETTINGS until SIGTERM (returns) or cancellation."""
    await serve_until_sigterm(
        ControlBus(**settings),
        lambda bus: f"jobstreamer control bus listening on {bus.url} (agents link to {bus.join_url})",
    )
