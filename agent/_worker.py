"""A warm worker process: `python -m jobstreamer.agent._worker FD`.

Started by `WorkerPool` with the socket FD (agent/_channel.py) as its only
argument; everything else, the cluster secret included, arrives over that
socket.  It imports what a run needs before saying `ready`, then runs one
step at a time for as long as the agent keeps its end open, so a trivial run
pays for no interpreter start-up and no import.

The task's `print`s and `logging` records become log lines (level, logger,
time), batched for a few milliseconds and always sent before the step's
result.  Output written straight to file descriptors 1 and 2 (a child
process, a C extension) is not captured: it lands on the agent's own
stdout/stderr.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import io
import logging
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from jobstreamer.common.edn import Keyword
from jobstreamer.common.settings import Secret

from . import _channel
from ._channel import BlockingChannel, Failure, LogLine, Progress, Result, Run
from ._code_client import WebSocketCodeClient
from .loader import CodeLoader

# Lines are held this long so a chatty task sends a few frames, not thousands.
_BATCH_SECONDS = 0.01


class _Outbox:
    """Everything the worker sends: log lines and progress batched by a flusher
    thread, results and failures sent at once after everything before them."""

    def __init__(self, channel: BlockingChannel) -> None:
        self._channel = channel
        self._lock = threading.Lock()  # one writer on the socket at a time
        self._pending = threading.Condition()
        self._lines: list[LogLine] = []
        self._progress: Progress | None = None
        threading.Thread(target=self._flush_forever, name="log-flusher", daemon=True).start()

    def log(self, level: str, logger: str, message: str, when: datetime | None = None) -> None:
        with self._pending:
            self._lines.append(LogLine(when or datetime.now(UTC), level, logger, message))
            self._pending.notify()

    def progress(self, done: int, total: int | None) -> None:
        with self._pending:
            self._progress = Progress(done, total)  # only the latest matters
            self._pending.notify()

    def send(self, message: _channel.WorkerMessage) -> None:
        """Flush what is pending, then send `message` (TypeError if not EDN-able)."""
        framed = _channel.frame(message)
        with self._lock:
            self._flush()
            self._channel.send_bytes(framed)

    def _flush(self) -> None:
        with self._pending:
            lines, self._lines = self._lines, []
            progress, self._progress = self._progress, None
        if lines:
            self._channel.send_bytes(_channel.frame(_channel.Log(tuple(lines))))
        if progress is not None:
            self._channel.send_bytes(_channel.frame(progress))

    def _flush_forever(self) -> None:
        while True:
            with self._pending:
                self._pending.wait_for(lambda: self._lines or self._progress is not None)
            time.sleep(_BATCH_SECONDS)
            with self._lock:
                self._flush()


class _LineWriter(io.TextIOBase):
    """sys.stdout / sys.stderr during a run: each complete line is a log line."""

    def __init__(self, outbox: _Outbox, logger: str, level: str) -> None:
        self._outbox = outbox
        self._logger = logger
        self._level = level
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._outbox.log(self._level, self._logger, line)
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self._outbox.log(self._level, self._logger, self._partial)
            self._partial = ""


class _LogHandler(logging.Handler):
    def __init__(self, outbox: _Outbox) -> None:
        super().__init__()
        self._outbox = outbox

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
        except Exception:  # noqa: BLE001 - logging's contract: never raise from emit
            self.handleError(record)
            return
        when = datetime.fromtimestamp(record.created, UTC)
        self._outbox.log(record.levelname.lower(), record.name, message, when)


class TaskContext:
    """What a task gets as `ctx` when its signature asks for one."""

    def __init__(self, outbox: _Outbox, execution_id: int, step_name: str) -> None:
        self._outbox = outbox
        self.execution_id = execution_id
        self.step_name = step_name

    def log(self, message: str, *, level: str = "info") -> None:
        self._outbox.log(level, "ctx", message)

    def progress(self, done: int, total: int | None = None) -> None:
        self._outbox.progress(done, total)


def _resolve(task: str) -> Callable[..., Any]:
    module_name, sep, attribute = task.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"a step task is 'module:function', got {task!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{task} is not callable")
    return target  # type: ignore[no-any-return]


def _python_name(key: Any) -> str:
    # `:batch-size` and "batch-size" both become the argument batch_size.
    name = key.name if isinstance(key, Keyword) else str(key)
    return name.replace("-", "_")


def _arguments(function: Callable[..., Any], params: Mapping[Any, Any], ctx: TaskContext) -> dict[str, Any]:
    """Params the function accepts (all of them given **kwargs), and ctx if it asks."""
    parameters = inspect.signature(function).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    arguments = {
        name: value
        for name, value in ((_python_name(k), v) for k, v in params.items())
        if takes_any or name in parameters
    }
    if "ctx" in parameters:
        arguments["ctx"] = ctx
    return arguments


class Worker:
    def __init__(self, channel: BlockingChannel) -> None:
        self._outbox = _Outbox(channel)
        self._handler = _LogHandler(self._outbox)
        self._code: tuple[tuple[str, Secret], CodeLoader, WebSocketCodeClient] | None = None

    def ready(self) -> None:
        self._outbox.send(_channel.Ready(os.getpid()))

    def _loader(self, run: Run) -> CodeLoader:
        """The loader for the run's bus; a new one if the agent moved to another bus."""
        link = (run.code_url, run.secret)
        if self._code is None or self._code[0] != link:
            if self._code is not None:
                self._code[1].deactivate()
                self._code[2].close()
            client = WebSocketCodeClient(run.code_url, secret=run.secret)
            self._code = (link, CodeLoader(client), client)
        return self._code[1]

    def run(self, run: Run) -> None:
        ctx = TaskContext(self._outbox, run.execution_id, run.step_name)
        root = logging.getLogger()
        root.handlers[:] = [self._handler]  # undo what the previous task configured
        root.setLevel(logging.INFO)
        stdout = _LineWriter(self._outbox, "stdout", "info")
        stderr = _LineWriter(self._outbox, "stderr", "error")
        sys.stdout, sys.stderr = stdout, stderr
        try:
            self._loader(run).activate(run.app, run.version)
            function = _resolve(run.task)
            value = function(**_arguments(function, run.params, ctx))
            if inspect.iscoroutine(value):  # an `async def` task
                value = asyncio.run(value)
        except BaseException as exc:  # noqa: BLE001 - SystemExit from a task is its failure too
            outcome: _channel.WorkerMessage = _failure(exc)
        else:
            outcome = Result(value)
        finally:
            stdout.flush()
            stderr.flush()
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
            # Between runs nothing reads this worker's socket: what is logged then
            # (a task's stray thread, the code link's keepalive) goes to stderr.
            root.handlers.clear()
        try:
            self._outbox.send(outcome)
        except (TypeError, ValueError) as exc:  # the codec refused the value
            self._outbox.send(Failure("TypeError", f"the step returned a value that is not EDN: {exc}", ""))


def _failure(exc: BaseException) -> Failure:
    # The frames of this module say nothing about the task: start at the task's own.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return Failure(type(exc).__qualname__, str(exc), text)


def main(argv: list[str]) -> None:
    fd = int(argv[1])
    # Not inherited by the task's own children (os.system, ...): they must not
    # keep the agent's end from seeing EOF when this process dies.
    os.set_inheritable(fd, False)
    sock = socket.socket(fileno=fd)
    channel = BlockingChannel(sock)
    worker = Worker(channel)
    worker.ready()
    while (message := channel.receive()) is not None:
        if isinstance(message, Run):
            worker.run(message)


if __name__ == "__main__":
    main(sys.argv)
