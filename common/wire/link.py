"""Messages on the `/join` WebSocket, agent -> bus (API.md, "Discovery and links").

The link carries notifications only; the bus fetches the data they announce
from the agent's REST API.

    {:command :ready :agent/instance-id "..." :agent/name "..." :agent/host "..."
     :agent/port 4510 :agent/running [7 9] :agent/finished [5]}
    {:command :heartbeat :agent/stats {...}}
    {:command :progress :execution/id 7}      ; execution 7 changed
    {:command :log :execution/id 7}           ; execution 7 has log lines waiting

    match link.decode(text):
        case Progress(execution_id=n): ...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._message import Codec, Message, edn_field, integer, integers, kind_field, mapping, string, vector

# The upgrade of a link answering `POST /join-bus` carries the token from it.
TOKEN_HEADER = "X-Jobstreamer-Join-Token"


@dataclass(frozen=True)
class Ready(Message):
    """The agent is connected; `running` and `finished` let the bus reconcile."""

    instance_id: str = edn_field("agent/instance-id", string)
    name: str = edn_field("agent/name", string)
    host: str = edn_field("agent/host", string)
    port: int = edn_field("agent/port", integer)
    running: tuple[int, ...] = edn_field("agent/running", integers, vector)
    finished: tuple[int, ...] = edn_field("agent/finished", integers, vector)
    kind: Literal["ready"] = kind_field("ready")


@dataclass(frozen=True)
class Heartbeat(Message):
    stats: Mapping[Any, Any] = edn_field("agent/stats", mapping)
    kind: Literal["heartbeat"] = kind_field("heartbeat")


@dataclass(frozen=True)
class Progress(Message):
    """Execution `execution_id` changed: GET /execution/:id from the agent."""

    execution_id: int = edn_field("execution/id", integer)
    kind: Literal["progress"] = kind_field("progress")


@dataclass(frozen=True)
class LogWaiting(Message):
    """Execution `execution_id` has log lines to fetch."""

    execution_id: int = edn_field("execution/id", integer)
    kind: Literal["log"] = kind_field("log")


LinkMessage = Ready | Heartbeat | Progress | LogWaiting

_CODEC: Codec[Any] = Codec("command", Ready, Heartbeat, Progress, LogWaiting)


def encode(message: LinkMessage) -> str:
    return _CODEC.encode(message)


def decode(text: str) -> LinkMessage:
    """The message in `text`; `BadRequest` if it is malformed or unknown."""
    return _CODEC.decode(text)  # type: ignore[no-any-return]
