"""Callbacks that hear of events: added with a way to remove them, called in turn.

One that raises is logged and kept, so a bug in one listener neither stops
the others nor the code that raised the event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")


class Callbacks(Generic[E]):
    def __init__(self, what: str) -> None:
        self._what = what  # names them in the log: "bus store listener"
        self._callbacks: dict[object, Callable[[E], object]] = {}

    def add(self, callback: Callable[[E], object]) -> Callable[[], None]:
        """Call `callback(event)` for every event from now on; returns the function that stops it."""
        key = object()
        self._callbacks[key] = callback

        def remove() -> None:
            self._callbacks.pop(key, None)

        return remove

    def __call__(self, event: E) -> None:
        for callback in list(self._callbacks.values()):
            try:
                callback(event)
            except Exception:
                log.exception("%s %r failed", self._what, callback)

    def clear(self) -> None:
        self._callbacks.clear()
