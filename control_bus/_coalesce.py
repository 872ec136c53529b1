"""One job per key at a time, re-run once when asked again meanwhile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)


class Coalescer:
    """Runs one job per key at a time: a key raised while its job runs runs once more after.

    So a burst of Progress(7) costs one or two fetches, never concurrent
    ones whose replies could be applied out of order.
    """

    def __init__(self) -> None:
        self._tasks: dict[Hashable, asyncio.Task[None]] = {}
        self._again: set[Hashable] = set()

    def run(self, key: Hashable, job: Callable[[], Awaitable[None]]) -> None:
        if key in self._tasks:
            self._again.add(key)
            return
        self._tasks[key] = asyncio.create_task(self._loop(key, job), name=f"fetch {key}")

    async def _loop(self, key: Hashable, job: Callable[[], Awaitable[None]]) -> None:
        try:
            while True:
                self._again.discard(key)
                try:
                    await job()
                except Exception:
                    log.exception("fetching %s failed", key)
                if key not in self._again:
                    return
        finally:
            del self._tasks[key]

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
