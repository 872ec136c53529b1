"""The private channel between an agent and one of its worker processes.

A socketpair end passed to the worker with `pass_fds`, not stdout/stderr:
those belong to the task and are captured as log lines.  Each frame is a
4-byte big-endian length and that many bytes of EDN text, one message tagged
by `:worker/op`:

    agent -> worker  {:worker/op :run :execution/id 7 :step/name "extract"
                      :application/name "hello" :application/version "<hash>"
                      :step/task "hello.tasks:run" :step/params {:n 3}
                      :code/url "ws://bus:45102/code" :cluster/secret "..."}
    worker -> agent  {:worker/op :ready :worker/pid 4242}     ; once, when warm
                     {:worker/op :log :log/lines [{:log/time #inst "..."
                       :log/level :info :log/logger "hello.tasks" :log/message "..."}]}
                     {:worker/op :progress :progress/done 3 :progress/total 10}
                     {:worker/op :result :step/result <EDN value>}
                     {:worker/op :error :error/type "ValueError"
                      :error/message "..." :error/traceback "..."}

Log levels are Python's, as keywords: :debug :info :warning :error :critical.
Captured stdout is logged at :info by the logger "stdout", stderr at :error
by "stderr".
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from jobstreamer.common.edn import Keyword
from jobstreamer.common.settings import Secret
from jobstreamer.common.wire._message import (
    Codec,
    Message,
    edn_field,
    integer,
    kind_field,
    mapping,
    optional,
    string,
)

_LENGTH = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class LogLine:
    time: datetime
    level: str  # "info", "warning", ...
    logger: str
    message: str


_TIME, _LEVEL, _LOGGER, _MESSAGE = (Keyword("log/" + n) for n in ("time", "level", "logger", "message"))


def _encode_lines(lines: tuple[LogLine, ...]) -> list[dict[Keyword, Any]]:
    return [
        {_TIME: line.time, _LEVEL: Keyword(line.level), _LOGGER: line.logger, _MESSAGE: line.message}
        for line in lines
    ]


def _decode_lines(value: Any) -> tuple[LogLine, ...]:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"expected a vector of log lines, got {type(value).__name__}")
    return tuple(
        LogLine(line[_TIME], line[_LEVEL].name, string(line[_LOGGER]), string(line[_MESSAGE]))
        for line in map(mapping, value)
    )


@dataclass(frozen=True)
class Run(Message):
    execution_id: int = edn_field("execution/id", integer)
    step_name: str = edn_field("step/name", string)
    app: str = edn_field("application/name", string)
    version: str = edn_field("application/version", string)
    task: str = edn_field("step/task", string)
    params: Mapping[Any, Any] = edn_field("step/params", mapping)
    code_url: str = edn_field("code/url", string)
    secret: Secret = edn_field("cluster/secret", lambda v: Secret(string(v)), Secret.reveal)
    kind: Literal["run"] = kind_field("run")


@dataclass(frozen=True)
class Ready(Message):
    pid: int = edn_field("worker/pid", integer)
    kind: Literal["ready"] = kind_field("ready")


@dataclass(frozen=True)
class Log(Message):
    lines: tuple[LogLine, ...] = edn_field("log/lines", _decode_lines, _encode_lines)
    kind: Literal["log"] = kind_field("log")


@dataclass(frozen=True)
class Progress(Message):
    done: int = edn_field("progress/done", integer)
    total: int | None = edn_field("progress/total", optional(integer))
    kind: Literal["progress"] = kind_field("progress")


@dataclass(frozen=True)
class Result(Message):
    value: Any = edn_field("step/result", lambda value: value)
    kind: Literal["result"] = kind_field("result")


@dataclass(frozen=True)
class Failure(Message):
    """The task raised (or could not be started): what a step execution records."""

    type: str = edn_field("error/type", string)
    message: str = edn_field("error/message", string)
    traceback: str = edn_field("error/traceback", string)
    kind: Literal["error"] = kind_field("error")


WorkerMessage = Run | Ready | Log | Progress | Result | Failure

CODEC: Codec[Any] = Codec("worker/op", Run, Ready, Log, Progress, Result, Failure)


def frame(message: WorkerMessage) -> bytes:
    """The framed bytes; raises TypeError when a value is not EDN-able."""
    # "replace": a lone surrogate (from a badly decoded file name, say) must not
    # kill the log flusher; it arrives as "?".
    data = CODEC.encode(message).encode("utf-8", "replace")
    return _LENGTH.pack(len(data)) + data


HEADER_SIZE = _LENGTH.size


def payload_size(header: bytes) -> int:
    return int(_LENGTH.unpack(header)[0])


def decode(payload: bytes) -> WorkerMessage:
    return CODEC.decode(payload.decode("utf-8"))  # type: ignore[no-any-return]


class BlockingChannel:
    """The worker's end: blocking reads and writes on the inherited socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send_bytes(self, framed: bytes) -> None:
        self._sock.sendall(framed)

    def receive(self) -> WorkerMessage | None:
        """The next message, or None when the agent closed its end."""
        header = self._read(HEADER_SIZE)
        if header is None:
            return None
        payload = self._read(payload_size(header))
        return None if payload is None else decode(payload)

    def _read(self, size: int) -> bytes | None:
        chunks = bytearray()
        while len(chunks) < size:
            chunk = self._sock.recv(size - len(chunks))
            if not chunk:
                return None
            chunks += chunk
        return bytes(chunks)
