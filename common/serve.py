"""How the bus and the agents serve: their aiohttp app on one port, until SIGTERM.

    async with serving(app, host, port) as bound_port: ...   # the port that answers
    await serve_until_sigterm(ControlBus(**settings), banner)

Ctrl-C needs nothing here: `asyncio.run` turns it into a cancellation, which
unwinds the same `async with` blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

from aiohttp import web

T = TypeVar("T")

# Tries at finding a port free on every address at once.
_BIND_ATTEMPTS = 20


@asynccontextmanager
async def serving(app: web.Application, host: str | None, port: int) -> AsyncIterator[int]:
    """Serve `app` at `host` and `port` for the duration of the block; yields the port bound.

    Signals are the caller's (`serve_until_sigterm`), not aiohttp's.
    """
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        yield await _start_site(runner, host, port)
    finally:
        await runner.cleanup()


async def _start_site(runner: web.AppRunner, host: str | None, port: int) -> int:
    """Serve `runner` at `host` ("" or None: every interface) and `port`; returns the port.

    One port answers on every address `host` stands for.  asyncio, asked for
    port 0 on every interface, binds 0.0.0.0 and :: to two different free
    ports, and only one of them would be printed and announced.  Here the
    first address picks the port and the others are bound to the same one.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    addresses = list(dict.fromkeys((family, sockaddr[0]) for family, _, _, _, sockaddr in infos))
    sockets = _bind(addresses, port)
    bound = int(sockets[0].getsockname()[1])
    for started, sock in enumerate(sockets):
        try:
            await web.SockSite(runner, sock).start()
        except BaseException:
            for unused in sockets[started:]:
                unused.close()  # the started ones close with the runner
            raise
    return bound


def _bind(addresses: list[tuple[int, str]], port: int) -> list[socket.socket]:
    for _ in range(_BIND_ATTEMPTS):
        bound: list[socket.socket] = []
        try:
            for family, address in addresses:
                sock = _listener(family, address, port or (bound[0].getsockname()[1] if bound else 0))
                if sock is not None:
                    bound.append(sock)
        except OSError as error:
            for sock in bound:
                sock.close()
            if port or not bound or error.errno != errno.EADDRINUSE:
                raise
            continue  # the port the first address got is taken on another: pick again
        if not bound:
            raise OSError(errno.EAFNOSUPPORT, f"no address family of {[a for _, a in addresses]} is supported")
        return bound
    raise OSError(errno.EADDRINUSE, f"found no port free on all of {[a for _, a in addresses]}")


def _listener(family: int, address: str, port: int) -> socket.socket | None:
    """A socket bound to (address, port), or None if this host lacks the family (as asyncio skips it)."""
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as error:
        if error.errno == errno.EAFNOSUPPORT:
            return None
        raise
    try:
        # As asyncio's create_server: a restart may reuse a port in TIME_WAIT, and
        # :: must not claim IPv4 too, or 0.0.0.0 could not bind the same port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address, port))
    except OSError as error:
        sock.close()
        # asyncio's words, which name the address a person has to free.
        reason = (error.strerror or str(error)).lower()
        raise OSError(error.errno, f"error while attempting to bind on address {(address, port)!r}: {reason}") from None
    except BaseException:
        sock.close()
        raise
    return sock


@contextlib.contextmanager
def _sigterm_event() -> Iterator[asyncio.Event]:
    """An event SIGTERM sets, for as long as the block runs (e.g. `docker stop`, systemd)."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        yield stopped
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


async def serve_until_sigterm(server: AbstractAsyncContextManager[T], banner: Callable[[T], str]) -> None:
    """Start `server`, print `banner(server)`, and stop it cleanly on SIGTERM (then return).

    The handler is in place before the server starts and until it has
    stopped, so a SIGTERM at any moment - while it starts, right after the
    banner, while it stops - unwinds it instead of killing the process.
    """
    with _sigterm_event() as stopped:
        async with server as running:
            print(banner(running), flush=True)
            await stopped.wait()
