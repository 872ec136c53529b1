"""One agent as dispatch sees it: where to call it, its stats, and what it runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from yarl import URL

from jobstreamer.common.edn import Keyword

_MAX, _LOAD = Keyword("agent/max-executions"), Keyword("agent/load")


@dataclass(eq=False)
class AgentLink:
    """One agent as dispatch sees it.  `running` is what the bus believes it runs."""

    instance_id: str
    name: str
    url: URL  # its REST API
    ws: web.WebSocketResponse | None = None
    blocked: bool = False
    ready: bool = False  # Ready arrived and /spec was asked: dispatch may use it
    running: set[int] = field(default_factory=set)
    stats: Mapping[Any, Any] = field(default_factory=dict)
    suspect: bool = False  # a call failed; cleared by its next heartbeat
    full: bool = False  # it answered 503; cleared when a slot frees

    @property
    def max_executions(self) -> int | None:
        value = self.stats.get(_MAX)
        return value if isinstance(value, int) else None

    @property
    def load(self) -> float:
        """The 1-minute load average, 0 when unknown."""
        load = self.stats.get(_LOAD)
        first = load[0] if isinstance(load, (list, tuple)) and load else load
        return float(first) if isinstance(first, (int, float)) else 0.0

    @property
    def eligible(self) -> bool:
        limit = self.max_executions
        return (
            self.ws is not None
            and self.ready
            and not (self.blocked or self.suspect or self.full)
            and (limit is None or len(self.running) < limit)
        )

    def reserve(self, execution_id: int) -> None:
        self.running.add(execution_id)

    def release(self, execution_id: int) -> bool:
        """Forget the execution; True if it was counted (a slot freed)."""
        if execution_id not in self.running:
            return False
        self.running.discard(execution_id)
        return True
