"""common/serve.py: one port on every address, and SIGTERM at any moment stops a server cleanly."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from jobstreamer.common.serve import serving
from tests._apps import SECRET

def loopbacks() -> list[str]:
    """The loopback addresses this host has: 127.0.0.1, and ::1 unless IPv6 is off."""
    found = []
    for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind((address, 0))
        except OSError:
            continue
        found.append(address)
    return found


async def answers(address: str, port: int) -> bool:
    host = f"[{address}]" if ":" in address else address
    async with aiohttp.ClientSession() as session:
        try:
            async with session.get(f"http://{host}:{port}/ping") as response:
                return response.status == 200
        except aiohttp.ClientConnectionError:
            return False


async def pong(request: web.Request) -> web.Response:
    return web.Response(text="pong")


def ping_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/ping", pong)
    return app


@pytest.mark.parametrize("host", [None, ""])
def test_every_interface_and_port_0_is_one_port_that_answers(host: str | None) -> None:
    # asyncio alone binds 0.0.0.0 and :: to two different free ports.
    addresses = loopbacks()

    async def reached() -> dict[str, bool]:
        async with serving(ping_app(), host, 0) as port:
            return {address: await answers(address, port) for address in addresses}

    assert asyncio.run(reached()) == {address: True for address in addresses}


def test_a_fixed_port_and_one_address() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]

    async def served() -> tuple[int, bool, bool]:
        async with serving(ping_app(), "127.0.0.1", free) as port:
            during = await answers("127.0.0.1", port)
        return port, during, await answers("127.0.0.1", port)

    assert asyncio.run(served()) == (free, True, False)  # closed with the block


def test_a_taken_port_is_an_os_error() -> None:
    async def twice() -> None:
        async with serving(ping_app(), "127.0.0.1", 0) as port:
            async with serving(ping_app(), "127.0.0.1", port):
                pass

    with pytest.raises(OSError):
        asyncio.run(twice())


# A server that SIGTERMs itself while it starts: the handler must already be
# there, or the process dies at once with -SIGTERM and nothing closes.
_SIGTERM_WHILE_STARTING = """
import asyncio, os, signal, sys
from {module} import {cls}, {run}
started = {cls}.__aenter__

async def starting(self):
    os.kill(os.getpid(), signal.SIGTERM)
    return await started(self)

{cls}.__aenter__ = starting
closed = {cls}.__aexit__

async def closing(self, *exc_info):
    await closed(self, *exc_info)
    print("closed", flush=True)

{cls}.__aexit__ = closing
asyncio.run({run}({settings}))
"""


@pytest.mark.parametrize(
    "module, cls, run, settings",
    [
        ("jobstreamer.control_bus.app", "ControlBus", "run_bus",
         "dict(host='127.0.0.1', port=0, data=sys.argv[1], secret='s', admin_password='p', discovery=False)"),
        ("jobstreamer.agent.app", "Agent", "run_agent",
         "dict(port=0, data=sys.argv[1], secret='s', interface='127.0.0.1', max_executions=1,"
         " control_bus='ws://127.0.0.1:9/join')"),
    ],
)
def test_sigterm_while_starting_stops_the_server_cleanly(
    tmp_path: Path, module: str, cls: str, run: str, settings: str
) -> None:
    script = _SIGTERM_WHILE_STARTING.format(module=module, cls=cls, run=run, settings=settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSTREAMER_")}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-2:] == [done.stdout.splitlines()[-2], "closed"]
    assert "listening on" in done.stdout
