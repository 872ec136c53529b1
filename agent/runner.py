"""One execution on an agent: its steps run in order on the WorkerPool.

    execution = Execution(submission, pool=pool, notify=link.notify)
    task = asyncio.create_task(execution.run())
    execution.to_edn()          # GET /execution/:id
    execution.log.page(0)       # GET /execution/:id/log?offset=0
    execution.stop()            # PUT .../stop: SIGTERM, then SIGKILL (pool.kill)

The batch status moves :starting -> :started -> :completed, :failed or
:stopped (through :stopping when asked to stop), or to :abandoned at once
when the bus gives up on it.  A terminal status is never left.  Every change
calls `notify(Progress(id))`: the final one at once, the others after
PROGRESS_HOLD, so that a run ending within it is announced once; new log
lines call `notify(LogWaiting(id))` once, and again only after the bus read
the log (`read_log`), so a chatty task costs one notification per fetch,
not one per line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jobstreamer.common.edn import Keyword, Vector
from jobstreamer.common.wire.link import LogWaiting, Progress

from ._channel import Failure, Log
from ._log import LogBuffer
from ._bodies import Step, Submission
from .workers import Event, RunRequest, StepOutcome, WorkerPool

log = logging.getLogger(__name__)

Notify = Callable[[Progress | LogWaiting], None]

STARTING, STARTED, STOPPING = (Keyword(s) for s in ("starting", "started", "stopping"))
COMPLETED, FAILED, STOPPED, ABANDONED = (Keyword(s) for s in ("completed", "failed", "stopped", "abandoned"))
TERMINAL = frozenset((COMPLETED, FAILED, STOPPED, ABANDONED))
_NEXT_OFFSET = Keyword("log/next-offset")

# Every Progress costs the bus a GET and a durable write.  A trivial task ends
# ~2 ms after it starts, so holding the changes before the end this long lets
# the end overtake them: one fetch and one write per run instead of two (with
# the dispatcher's own, 2 durable writes per hello/greet run instead of 4.5).
# Longer runs show :started this much later, and a chatty task's progress at
# most this often.
PROGRESS_HOLD = 0.005


def _now() -> datetime:
    return datetime.now(UTC)


def _exit_status(status: Keyword) -> str:
    # Spring Batch's exit codes, which the bus shows as they are.
    return status.name.upper() if status in TERMINAL else "EXECUTING"


def next_step(steps: Sequence[Step], index: int, outcome: StepOutcome) -> int | None:
    """The index of the step to run after `steps[index]` ended with `outcome`, or None to end.

    Steps run in order and the first one that does not complete ends the job.
    Issue #5 routes by `:step/next`, splits and checkpoints here.
    """
    if outcome.status != "completed" or index + 1 >= len(steps):
        return None
    return index + 1


def step_params(parameters: Mapping[Any, Any], step: Step) -> dict[Any, Any]:
    """The job parameters overlaid with the step's own `:step/params`.

    The step's win: they are the job author's choice for that one step, where
    a parameter is given to the whole execution.
    """
    return {**parameters, **step.params}


@dataclass
class StepExecution:
    name: str
    start_time: datetime = field(default_factory=_now)
    batch_status: Keyword = STARTED
    end_time: datetime | None = None
    exception: str | None = None
    progress: tuple[int, int | None] | None = None

    def finish(self, outcome: StepOutcome) -> None:
        self.batch_status = Keyword(outcome.status)
        self.end_time = _now()
        if outcome.failure is not None:
            self.exception = _exception_text(outcome.failure)

    def to_edn(self) -> dict[Keyword, Any]:
        data = {
            Keyword("step-execution/step-name"): self.name,
            Keyword("step-execution/batch-status"): self.batch_status,
            Keyword("step-execution/exit-status"): _exit_status(self.batch_status),
            Keyword("step-execution/start-time"): self.start_time,
            Keyword("step-execution/end-time"): self.end_time,
            Keyword("step-execution/exception"): self.exception,
        }
        if self.progress is not None:
            done, total = self.progress
            data[Keyword("step-execution/progress")] = {
                Keyword("progress/done"): done,
                Keyword("progress/total"): total,
            }
        return _without_nils(data)


def _exception_text(failure: Failure) -> str:
    # The traceback ends with "Type: message"; a failure outside Python has none.
    return failure.traceback or f"{failure.type}: {failure.message}"


def _without_nils(data: dict[Keyword, Any]) -> dict[Keyword, Any]:
    # The bus transacts what it reads; a datom cannot hold nil.
    return {key: value for key, value in data.items() if value is not None}


class Execution:
    def __init__(self, submission: Submission, *, pool: WorkerPool, notify: Notify) -> None:
        self.submission = submission
        self.id = submission.execution_id
        self._pool = pool
        self._notify = notify
        self.batch_status = STARTING
        self.start_time: datetime | None = None
        self.end_time: datetime | None = None
        self.result: Any = None
        self.steps: list[StepExecution] = []
        self.log = LogBuffer()
        self._log_announced = False
        self._held: asyncio.TimerHandle | None = None  # a Progress waiting out PROGRESS_HOLD
        self._stop_requested = False
        self._step_task: asyncio.Task[StepOutcome] | None = None

    @property
    def finished(self) -> bool:
        return self.batch_status in TERMINAL

    async def run(self) -> None:
        """Run the steps; returns when the execution is terminal."""
        self.start_time = _now()
        if not self._stop_requested:  # else stopped (or abandoned) before it began
            self._set(STARTED)
        steps = self.submission.steps
        index: int | None = 0
        outcome = StepOutcome("completed")
        while index is not None and not self._stop_requested:
            outcome = await self._run_step(steps[index])
            index = next_step(steps, index, outcome)
        if self._stop_requested and outcome.status == "completed" and index is not None:
            outcome = StepOutcome("stopped")  # asked to stop between steps
        if not self.finished:
            self.result = outcome.result
            self._finish(Keyword(outcome.status))

    async def _run_step(self, step: Step) -> StepOutcome:
        record = StepExecution(step.name)
        self.steps.append(record)
        self._changed()
        request = RunRequest(
            self.id,
            step.name,
            app=self.submission.app,
            version=self.submission.version,
            task=step.task,
            params=step_params(self.submission.parameters, step),
            shell=step.shell,
        )
        self._step_task = asyncio.create_task(self._pool.run(request, on_event=self._on_event(record)))
        try:
            outcome = await self._step_task
        except Exception as exc:  # noqa: BLE001 - the pool's fault, not the task's: still recorded
            log.exception("execution %d: step %s could not run", self.id, step.name)
            outcome = StepOutcome("failed", failure=Failure(type(exc).__name__, str(exc), ""))
        except asyncio.CancelledError:
            # Our own cancellation (the agent shutting down) goes on; a cancelled
            # step task is a stop that came before the step reached a worker.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            outcome = StepOutcome("stopped")
        finally:
            self._step_task = None
        record.finish(outcome)
        self._changed()
        return outcome

    def _on_event(self, record: StepExecution) -> Callable[[Event], None]:
        def on_event(event: Event) -> None:
            if isinstance(event, Log):
                self.log.append(record.name, event.lines)
                self._announce_log()
            else:
                record.progress = (event.done, event.total)
                self._changed()

        return on_event

    def announce_log_again(self) -> None:
        """Notify the next new line: a new link has not heard of the earlier ones."""
        self._log_announced = False

    def read_log(self, offset: int) -> dict[Keyword, Any]:
        """`GET /execution/:id/log?offset=`: a page, and what it left out announced again.

        So the bus fetches once per LogWaiting: lines beyond a full page are
        announced now, lines logged later when they come.
        """
        page = self.log.page(offset)
        self._log_announced = False
        if page[_NEXT_OFFSET] < self.log.next_offset:
            self._announce_log()
        return page

    def _announce_log(self) -> None:
        if not self._log_announced:
            self._log_announced = True
            self._notify(LogWaiting(self.id))

    def stop(self) -> None:
        """Stop cooperatively (SIGTERM), then kill; ends :stopped.  No-op once terminal."""
        if self.finished or self._stop_requested:
            return
        self._stop_requested = True
        self._interrupt()
        self._set(STOPPING)

    def abandon(self) -> None:
        """The bus gives up on the execution: kill what runs and end :abandoned now."""
        if self.finished:
            return
        self._stop_requested = True
        self._interrupt()
        self._finish(ABANDONED)

    def _interrupt(self) -> None:
        if not self._pool.kill(self.id) and self._step_task is not None:
            self._step_task.cancel()  # still waiting for a worker: it never starts

    def _set(self, status: Keyword) -> None:
        if not self.finished:
            self.batch_status = status
            self._changed()

    def _finish(self, status: Keyword) -> None:
        if not self.finished:
            self.end_time = _now()
            self._set(status)

    def _changed(self) -> None:
        if not self.finished:
            if self._held is None:
                self._held = asyncio.get_running_loop().call_later(PROGRESS_HOLD, self._announce)
            return
        if self._held is not None:
            self._held.cancel()
        self._announce()

    def _announce(self) -> None:
        self._held = None
        self._notify(Progress(self.id))

    def to_edn(self) -> dict[Keyword, Any]:
        """`GET /execution/:id` (SPINE2); keys whose value is nil are left out."""
        return _without_nils(
            {
                Keyword("execution/id"): self.id,
                Keyword("execution/batch-status"): self.batch_status,
                Keyword("execution/exit-status"): _exit_status(self.batch_status),
                Keyword("execution/start-time"): self.start_time,
                Keyword("execution/end-time"): self.end_time,
                Keyword("execution/result"): self.result,
                Keyword("execution/step-executions"): Vector(step.to_edn() for step in self.steps),
                Keyword("execution/log-lines"): self.log.next_offset,
            }
        )
