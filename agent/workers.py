"""The agent's warm worker pool: one long-lived process per concurrent execution.

    async with WorkerPool(size=4, code_url="ws://bus:45102/code", secret=secret) as pool:
        outcome = await pool.run(RunRequest(7, "extract", app="hello", version=v,
                                            task="hello.tasks:run", params={...}),
                                 on_event=record)     # Log and Progress messages
        pool.kill(7)                                  # from another task: stop it

Workers (agent/_worker.py) start warm - interpreter up, jobstreamer and the
loader imported - and are reused, so a trivial run costs a few messages on a
socket.  Each runs in its own session (process group), so `kill` reaches the
task's own children too: SIGTERM, then SIGKILL after `kill_grace` seconds; a
fresh worker replaces the one killed, or one that died.

Shell steps (`:step/shell`) need no Python, so they run as a subprocess of
the agent itself, not in a worker, and take no worker slot: the agent's
`--max-executions` bounds them along with the rest.

Workers inherit the agent's environment without its JOBSTREAMER_* variables:
the cluster secret reaches them only over their private socket.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from jobstreamer.common.errors import JobstreamerError
from jobstreamer.common.settings import Secret
from jobstreamer.common.wire.signing import Key

from . import _channel
from ._channel import Failure, Log, LogLine, Progress, Ready, Result, Run

log = logging.getLogger(__name__)

Event = Log | Progress
EventCallback = Callable[[Event], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class RunRequest:
    """One step to run: a Python `task` ("module:function") of an app version, or a `shell` argv."""

    execution_id: int
    step_name: str
    app: str | None = None
    version: str | None = None
    task: str | None = None
    params: Mapping[Any, Any] = field(default_factory=dict)
    shell: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if (self.task is None) == (self.shell is None):
            raise ValueError("a step runs either a task or a shell command")
        if self.task is not None and not (self.app and self.version):
            raise ValueError("a task step needs its application and version")
        if self.shell is not None and not self.shell:
            raise ValueError("a shell step needs a command")


@dataclass(frozen=True, slots=True)
class StepOutcome:
    status: Literal["completed", "failed", "stopped"]
    result: Any = None
    failure: Failure | None = None
    pid: int | None = None  # the worker (or shell command) that ran the step


class WorkerStartError(JobstreamerError):
    """A worker process did not come up."""


def _secret_text(secret: Key) -> str:
    if isinstance(secret, bytes):
        return secret.decode()
    return secret if isinstance(secret, str) else secret.reveal()


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


async def _deliver(on_event: EventCallback | None, event: Event) -> None:
    if on_event is not None:
        returned = on_event(event)
        if inspect.isawaitable(returned):
            await returned


class _Worker:
    """One worker process and the agent's end of its socket."""

    def __init__(self, process: asyncio.subprocess.Process, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.process = process
        self.pid = process.pid
        self._reader = reader
        self._writer = writer

    @classmethod
    async def start(cls, python: str, env: Mapping[str, str], timeout: float) -> _Worker:
        ours, theirs = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                # -P: the agent's working directory must not shadow anything the task imports.
                python, "-P", "-m", "jobstreamer.agent._worker", str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                env=dict(env),
            )
        except BaseException:  # cancelled too: the pool closed while this worker started
            ours.close()
            raise
        finally:
            theirs.close()
        try:
            reader, writer = await asyncio.open_unix_connection(sock=ours)
        except BaseException:  # cancelled, as above
            _signal_group(process.pid, signal.SIGKILL)
            await process.wait()
            raise
        worker = cls(process, reader, writer)
        # Not wait_for: on 3.11 it loses a cancellation that comes as the awaited thing finishes.
        try:
            async with asyncio.timeout(timeout):
                ready = await worker.receive()
        except TimeoutError:
            ready = None
        except BaseException:  # cancelled, as above
            await worker.close(timeout=0)
            raise
        if not isinstance(ready, Ready):
            await worker.close(timeout=0)
            raise WorkerStartError(f"worker process {process.pid} did not start (exit status {process.returncode})")
        return worker

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def send(self, message: _channel.WorkerMessage) -> None:
        self._writer.write(_channel.frame(message))
        await self._writer.drain()

    async def receive(self) -> _channel.WorkerMessage | None:
        """The next message, or None once the worker is gone."""
        try:
            header = await self._reader.readexactly(_channel.HEADER_SIZE)
            payload = await self._reader.readexactly(_channel.payload_size(header))
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return _channel.decode(payload)

    def drop(self) -> None:
        """Forget a worker that is gone (or being killed): close our end."""
        self._writer.close()

    async def close(self, *, timeout: float) -> None:
        """Close the socket (the worker exits on EOF); SIGKILL it after `timeout`."""
        self._writer.close()
        try:
            async with asyncio.timeout(timeout):  # not wait_for, as in `start`
                await self.process.wait()
        except TimeoutError:
            _signal_group(self.pid, signal.SIGKILL)
            await self.process.wait()


class WorkerPool:
    def __init__(
        self,
        *,
        size: int,
        code_url: str,
        secret: Key,
        kill_grace: float = 5.0,
        start_timeout: float = 30.0,
        python: str = sys.executable,
    ) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.size = size
        self.code_url = code_url  # the bus's /code WebSocket; the agent resets it on joining a bus
        self._secret = Secret(_secret_text(secret))
        self._kill_grace = kill_grace
        self._start_timeout = start_timeout
        self._python = python
        self._env: dict[str, str] = {}
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._workers: set[_Worker] = set()
        self._spawning: set[asyncio.Task[None]] = set()
        self._running: dict[int, int] = {}  # execution id -> process group to signal
        self._stopping: set[int] = set()
        self._closing = False

    async def __aenter__(self) -> WorkerPool:
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSTREAMER_")}
        try:
            await asyncio.gather(*(self._add_worker() for _ in range(self.size)))
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing = True
        for task in self._spawning:
            task.cancel()
        await asyncio.gather(*self._spawning, return_exceptions=True)
        for execution_id, pgid in self._running.items():
            self._stopping.add(execution_id)
            _signal_group(pgid, signal.SIGKILL)
        await asyncio.gather(*(w.close(timeout=2.0) for w in self._workers))

    @property
    def pids(self) -> set[int]:
        """The worker processes alive now (busy or idle)."""
        return {w.pid for w in self._workers}

    async def _add_worker(self) -> None:
        worker = await _Worker.start(self._python, self._env, self._start_timeout)
        self._workers.add(worker)
        self._idle.put_nowait(worker)

    def _replace(self, worker: _Worker) -> None:
        worker.drop()
        self._workers.discard(worker)
        if not self._closing:
            task = asyncio.create_task(self._replenish())
            self._spawning.add(task)
            task.add_done_callback(self._spawning.discard)

    async def _replenish(self) -> None:
        delay = 0.5
        while True:
            try:
                return await self._add_worker()
            except WorkerStartError:
                log.exception("could not start a replacement worker; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _take(self) -> _Worker:
        while True:
            worker = await self._idle.get()
            if worker.alive:
                return worker
            self._replace(worker)  # it died while idle

    async def run(self, request: RunRequest, *, on_event: EventCallback | None = None) -> StepOutcome:
        if request.execution_id in self._running:
            raise ValueError(f"execution {request.execution_id} is running already")
        if request.shell is not None:
            return await self._run_shell(request, on_event)
        worker = await self._take()
        self._running[request.execution_id] = worker.pid
        try:
            outcome = await self._drive(worker, request, on_event)
        except BaseException:
            # Cancelled, or on_event raised: the worker is mid-run and cannot be reused.
            _signal_group(worker.pid, signal.SIGKILL)
            await worker.close(timeout=self._kill_grace)
            self._replace(worker)
            raise
        finally:
            del self._running[request.execution_id]
            self._stopping.discard(request.execution_id)
        if worker.alive:
            self._idle.put_nowait(worker)
        else:
            self._replace(worker)
        return outcome

    async def _drive(self, worker: _Worker, request: RunRequest, on_event: EventCallback | None) -> StepOutcome:
        assert request.task is not None and request.app is not None and request.version is not None
        run = Run(
            request.execution_id, request.step_name, request.app, request.version,
            request.task, dict(request.params), self.code_url, self._secret,
        )
        try:
            await worker.send(run)
        except ConnectionError:
            pass  # it died while idle, unnoticed so far: receive() sees the end
        while True:
            message = await worker.receive()
            match message:
                case Log() | Progress():
                    await _deliver(on_event, message)
                case Result(value=value):
                    return StepOutcome("completed", result=value, pid=worker.pid)
                case Failure():
                    return StepOutcome("failed", failure=message, pid=worker.pid)
                case None:
                    status = await worker.process.wait()
                    died = Failure("WorkerDied", f"the worker process exited with status {status}", "")
                    return self._ended_early(request.execution_id, died, worker.pid)

    def _ended_early(self, execution_id: int, failure: Failure, pid: int) -> StepOutcome:
        """The outcome of a step whose process ended without a result: stopped if asked to."""
        if execution_id in self._stopping:
            return StepOutcome("stopped", pid=pid)
        return StepOutcome("failed", failure=failure, pid=pid)

    def kill(self, execution_id: int) -> bool:
        """Stop a running step: SIGTERM now, SIGKILL after the grace period.

        False if the execution is not running here.  `run` then returns a
        "stopped" outcome.
        """
        pgid = self._running.get(execution_id)
        if pgid is None:
            return False
        self._stopping.add(execution_id)
        _signal_group(pgid, signal.SIGTERM)
        asyncio.get_running_loop().call_later(self._kill_grace, _signal_group, pgid, signal.SIGKILL)
        return True

    async def _run_shell(self, request: RunRequest, on_event: EventCallback | None) -> StepOutcome:
        assert request.shell is not None
        try:
            process = await asyncio.create_subprocess_exec(
                *request.shell,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                env=self._env,
                limit=1024 * 1024,  # the longest line read whole
            )
        except OSError as exc:
            return StepOutcome("failed", failure=Failure(type(exc).__name__, str(exc), ""))
        self._running[request.execution_id] = process.pid
        try:
            assert process.stdout is not None and process.stderr is not None
            await asyncio.gather(
                _pump(process.stdout, "stdout", "info", on_event),
                _pump(process.stderr, "stderr", "error", on_event),
            )
            status = await process.wait()
        except BaseException:
            _signal_group(process.pid, signal.SIGKILL)
            await process.wait()
            raise
        else:
            if status == 0:
                return StepOutcome("completed", pid=process.pid)
            failed = Failure("CalledProcessError", f"{request.shell[0]} exited with status {status}", "")
            return self._ended_early(request.execution_id, failed, process.pid)
        finally:
            del self._running[request.execution_id]
            self._stopping.discard(request.execution_id)


async def _pump(stream: asyncio.StreamReader, logger: str, level: str, on_event: EventCallback | None) -> None:
    async for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        await _deliver(on_event, Log((LogLine(datetime.now(UTC), level, logger, line),)))
