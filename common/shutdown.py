"""How a server process waits to be stopped: SIGTERM ends the wait.

Ctrl-C needs nothing here: `asyncio.run` turns it into a cancellation, which
unwinds the same `async with` blocks.
"""

from __future__ import annotations

import asyncio
import signal


async def until_sigterm() -> None:
    """Return once the process gets SIGTERM (e.g. from `docker stop` or systemd)."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        await stopped.wait()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
