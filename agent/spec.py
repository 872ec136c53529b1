"""What an agent tells a bus about its machine: `GET /spec` and the heartbeat stats.

    {:agent/cores 8 :agent/memory 16663461888 :agent/memory-free 9912397824
     :agent/load [0.52 0.61 0.7] :agent/executions [7 9] :agent/max-executions 8}

Memory is in bytes (free = what psutil calls available); load is the 1, 5
and 15 minute load averages.  Each call reads /proc afresh, which costs tens
of microseconds, so it runs on the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psutil

from jobstreamer.common.edn import Keyword, Vector


def stats(*, executions: Iterable[int], max_executions: int) -> dict[Keyword, Any]:
    """The volatile part, sent with every heartbeat."""
    memory = psutil.virtual_memory()
    return {
        Keyword("agent/cores"): psutil.cpu_count() or 1,
        Keyword("agent/memory"): memory.total,
        Keyword("agent/memory-free"): memory.available,
        Keyword("agent/load"): Vector(round(load, 2) for load in psutil.getloadavg()),
        Keyword("agent/executions"): Vector(sorted(executions)),
        Keyword("agent/max-executions"): max_executions,
    }


def spec(
    *,
    instance_id: str,
    name: str,
    host: str,
    port: int,
    executions: Iterable[int],
    max_executions: int,
) -> dict[Keyword, Any]:
    """The whole of `GET /spec`: the agent's identity, then its stats."""
    return {
        Keyword("agent/instance-id"): instance_id,
        Keyword("agent/name"): name,
        Keyword("agent/host"): host,
        Keyword("agent/port"): port,
        **stats(executions=executions, max_executions=max_executions),
    }
