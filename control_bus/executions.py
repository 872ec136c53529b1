"""Executions: their records in the store, and who hears of their changes.

The states and the state machine are in `states.py` (re-exported here); an
agent's reply becomes tx data in `_agent_state.py`.

Every change is found by a store listener, which resolves `wait()` calls and
tells `subscribe()` callbacks; nothing polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import BadRequest, Conflict, NotFound
from jobstreamer.common.store import Datom, Db, TxReport

from ._agent_state import END, STATUS, STEPS, agent_state_tx
from ._callbacks import Callbacks
from ._lookup import app_eid, job_eid, now, page
from ._store import BusStore
from .states import (
    ABANDONED,
    COMPLETED,
    EDGES,
    FAILED,
    INITIAL,
    QUEUED,
    STARTED,
    STARTING,
    STATES,
    STOPPED,
    STOPPING,
    TERMINAL,
    UNDISPATCHED,
    UNFINISHED,
    UNKNOWN,
    IllegalTransition,
    state_of,
    transition,
)

__all__ = [
    "ABANDONED",
    "COMPLETED",
    "EDGES",
    "FAILED",
    "INITIAL",
    "QUEUED",
    "STARTED",
    "STARTING",
    "STATES",
    "STOPPED",
    "STOPPING",
    "TERMINAL",
    "UNDISPATCHED",
    "UNFINISHED",
    "UNKNOWN",
    "ExecutionChange",
    "Executions",
    "IllegalTransition",
    "Subscriber",
    "job_stats",
    "latest",
    "retract_executions",
    "state_of",
    "transition",
    "view",
]

View = dict[Keyword, Any]

_DB_ID = Keyword("db/id")
_ID = Keyword("execution/id")
_JOB = Keyword("execution/job")
_EXIT = Keyword("execution/exit-status")
_PARAMETERS = Keyword("execution/parameters")
_START = Keyword("execution/start-time")
_AGENT = Keyword("execution/agent")
_AGENT_ID = Keyword("agent/instance-id")
_SEQ = Keyword("execution/seq")
_VERSION = Keyword("application/version")
_APP_NAME = Keyword("application/name")
_JOB_NAME = Keyword("job/name")
_CURRENT = Keyword("application/current")
_ADD = Keyword("db/add")
_RETRACT_ATTRIBUTE = Keyword("db.fn/retractAttribute")
_RETRACT_ENTITY = Keyword("db/retractEntity")

_PATTERN = """
[:db/id :execution/batch-status :execution/exit-status :execution/parameters :execution/result
 :execution/create-time :execution/start-time :execution/end-time :application/version
 {:execution/agent [:agent/instance-id :agent/name]}
 {:execution/job [:job/name {:job/application [:application/name]}]}
 {:execution/step-executions [:db/id :step-execution/step-name :step-execution/batch-status
                              :step-execution/exit-status :step-execution/start-time
                              :step-execution/end-time :step-execution/exception
                              :step-execution/result]}]
"""


@dataclass(frozen=True, slots=True)
class ExecutionChange:
    """What one transaction did to one execution (itself or its step executions)."""

    execution_id: int
    batch_status: Keyword | None  # after the transaction; None once deleted
    previous: Keyword | None  # before it; None for a new execution
    db: Db  # the database value right after the transaction

    @property
    def finished(self) -> bool:
        """Whether this transaction moved the execution into a terminal state."""
        return self.batch_status in TERMINAL and self.previous not in TERMINAL


Subscriber = Callable[[ExecutionChange], None]


class Executions:
    """Executions in the bus store.  Create one per store; it listens to it."""

    def __init__(self, store: BusStore) -> None:
        self._store = store
        self._waiters: dict[int, list[asyncio.Future[View | None]]] = {}
        self._subscribers: Callbacks[ExecutionChange] = Callbacks("execution subscriber")
        self._last_seq: int | None = None  # touched on the writer thread only
        store.listen(self._on_report)

    # -- writing --

    async def create(
        self, app: str, job: str, params: Mapping[Any, Any], *, agent: str | None = None
    ) -> int:
        """A new execution of `job`, pinned to the app's current version: `:queued`,
        or `:starting` on `agent` (an instance id) when the dispatcher placed it already.

        Returns its id.  NotFound for an unknown app or job; BadRequest when
        `params` is not a map with keyword (or string) keys.
        """
        parameters = _parameters(params)

        def tx(db: Db) -> list[Any]:
            job_id = job_eid(db, app, job)
            version = db.entity(app_eid(db, app))[_CURRENT][_VERSION]
            execution = {
                _DB_ID: "execution",
                _JOB: job_id,
                STATUS: QUEUED if agent is None else STARTING,
                _PARAMETERS: parameters,
                Keyword("execution/create-time"): now(),
                _VERSION: version,
                _SEQ: self._next_seq(db),
            }
            if agent is None:
                return [execution]
            return [{_DB_ID: "agent", _AGENT_ID: agent}, {**execution, _AGENT: "agent"}]

        report = await self._store.transact_with(tx)
        assert report is not None
        return report.tempids["execution"]

    def _next_seq(self, db: Db) -> int:
        # Called only inside transaction functions, so one at a time; a failed
        # transaction leaves a gap, which FIFO order does not mind.
        if self._last_seq is None:
            self._last_seq = db.q("[:find (max ?s) . :where [_ :execution/seq ?s]]") or 0
        self._last_seq += 1
        return self._last_seq

    async def mark(
        self,
        execution_id: int,
        status: Keyword | str,
        *,
        agent: str | None = None,
        exit_status: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> Keyword:
        """Move an execution to `status` on the bus's own authority; returns the state now.

        `agent` is the instance id of the agent it was sent to.  Entering a
        terminal state sets `:execution/end-time` (now, unless given); going
        back to the queue forgets the agent.  A terminal execution is left as
        it is; an edge the state machine refuses raises IllegalTransition (409).
        """

        def tx(db: Db) -> list[Any] | None:
            entity = _execution(db, execution_id)
            current = entity[STATUS]
            new = transition(current, status)
            if current in TERMINAL:
                return None
            end = now() if new in TERMINAL and end_time is None and END not in entity else end_time
            ops: list[Any] = []
            for attr, value in (
                (STATUS, new),
                (_EXIT, exit_status),
                (_START, start_time),
                (END, end),
            ):
                if value is not None and entity.get(attr) != value:
                    ops.append([_ADD, execution_id, attr, value])
            if agent is not None:
                ops.append({_DB_ID: "agent", _AGENT_ID: agent})
                ops.append([_ADD, execution_id, _AGENT, "agent"])
            elif new in INITIAL and _AGENT in entity:
                ops.append([_RETRACT_ATTRIBUTE, execution_id, _AGENT])
            return ops

        await self._store.transact_with(tx)
        state: Keyword = self._store.db().entity(execution_id)[STATUS]
        return state

    async def apply_agent_state(self, execution_id: int, state: Mapping[Any, Any]) -> bool:
        """Map an agent's `GET /execution/:id` reply onto the execution and its steps.

        Idempotent: a reply that changes nothing writes nothing.  A reported
        state the machine refuses is ignored (the rest of the reply is still
        applied); a reply for an execution already terminal in another state
        is ignored whole.  Returns whether anything was written.
        """
        if not isinstance(state, Mapping):
            raise BadRequest("an execution state must be a map", field="execution")
        reported_id = state.get(_ID)
        if reported_id is not None and reported_id != execution_id:
            raise BadRequest(
                f"the reply is about execution {reported_id}, not {execution_id}",
                field="execution/id",
            )

        def tx(db: Db) -> list[Any] | None:
            return agent_state_tx(_execution(db, execution_id), state) or None

        return await self._store.transact_with(tx) is not None

    # -- reading --

    def get(self, app: str, job: str, execution_id: int) -> View:
        """The execution in its API shape; NotFound unless it is one of `job`'s in `app`."""
        db = self._store.db()
        job_id = job_eid(db, app, job)
        entity = _execution(db, execution_id)
        if entity[_JOB].eid != job_id:
            raise NotFound(
                f"no execution {execution_id} of job {job!r} in application {app!r}",
                field="execution/id",
            )
        return view(db, execution_id)

    def view(self, execution_id: int) -> View:
        """The execution in its API shape, whatever its job; NotFound."""
        db = self._store.db()
        _execution(db, execution_id)
        return view(db, execution_id)

    def history(
        self, app: str, job: str, *, limit: int = 20, offset: int = 0
    ) -> dict[Keyword, Any]:
        """`{:results [...] :hits N :limit L :offset O}`: the job's executions, newest first."""
        db = self._store.db()
        ids = sorted(_ids_of_job(db, job_eid(db, app, job)), reverse=True)
        return page(ids, limit, offset, lambda execution_id: view(db, execution_id))

    def agent_request(self, execution_id: int) -> View:
        """The body of the agent's `POST /executions` for this execution (SPINE2.md)."""
        db = self._store.db()
        entity = _execution(db, execution_id)
        job = entity[_JOB]
        return {
            _ID: execution_id,
            _APP_NAME: job[Keyword("job/application")][_APP_NAME],
            _VERSION: entity[_VERSION],
            _JOB_NAME: job[_JOB_NAME],
            Keyword("job/steps"): job[Keyword("job/steps")],
            _PARAMETERS: entity.get(_PARAMETERS, {}),
        }

    def queued(self) -> list[int]:
        """Ids of `:queued` executions in submission order: what to dispatch next."""
        found = self._store.db().q(
            "[:find ?e ?seq :where [?e :execution/batch-status :queued] [?e :execution/seq ?seq]]"
        )
        return [e for _, e in sorted((seq, e) for e, seq in found)]

    def unfinished(self) -> list[int]:
        """Ids of every execution not in a terminal state, oldest first."""
        found = self._store.db().q(
            "[:find [?e ...] :in $ [?s ...] :where [?e :execution/batch-status ?s]]",
            list(UNFINISHED),
        )
        return sorted(found or ())

    # -- waiting and listening --

    async def wait(self, execution_id: int, timeout: float | None) -> View | None:
        """The execution once it is terminal, or None after `timeout` seconds.

        Resolves as soon as the transaction that finishes it is reported (a
        store listener, no polling).  NotFound for an unknown id.
        """
        current = self.view(execution_id)
        if current[STATUS] in TERMINAL:
            return current
        future: asyncio.Future[View | None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(execution_id, [])
        waiters.append(future)
        try:
            # Not wait_for: on 3.11 it loses a cancellation that comes as the future resolves.
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            return None
        finally:
            waiters.remove(future)
            if not waiters:
                self._waiters.pop(execution_id, None)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(change)` on the event loop whenever an execution changes.

        Returns the function that unsubscribes.  A callback that raises is logged.
        """
        return self._subscribers.add(callback)

    def _on_report(self, report: TxReport) -> None:
        for execution_id in sorted(_executions_touched(report)):
            change = ExecutionChange(
                execution_id=execution_id,
                batch_status=_status_in(report.db_after, execution_id),
                previous=_status_in(report.db_before, execution_id),
                db=report.db_after,
            )
            self._wake(change)
            self._subscribers(change)

    def _wake(self, change: ExecutionChange) -> None:
        waiters = self._waiters.get(change.execution_id)
        if not waiters or not change.finished:
            return
        result = view(change.db, change.execution_id)
        for future in waiters:
            if not future.done():
                future.set_result(result)


# -- reading helpers, also used by jobs.py --


def view(db: Db, execution_id: int) -> View:
    """The API shape of an execution that exists in `db`."""
    pulled = db.pull(_PATTERN, execution_id)
    shaped: View = {_ID: pulled.pop(_DB_ID)}
    job = pulled.pop(_JOB)
    shaped[_APP_NAME] = job[Keyword("job/application")][_APP_NAME]
    shaped[_JOB_NAME] = job[_JOB_NAME]
    shaped.update(pulled)
    steps = sorted(pulled.get(STEPS, ()), key=lambda step: step[_DB_ID])
    for step in steps:
        del step[_DB_ID]
    shaped[STEPS] = steps
    return shaped


def job_stats(db: Db, job_id: int) -> View:
    """`{:total :success :failure :average-duration}` of a job's executions.

    The average duration is in seconds, over completed executions (None
    before the first one).
    """
    rows = _statuses(db, [job_id])
    statuses = [status for _, status in rows]
    durations = []
    for execution_id, status in rows:
        entity = db.entity(execution_id)
        if status is COMPLETED and _START in entity and END in entity:
            durations.append((entity[END] - entity[_START]).total_seconds())
    return {
        Keyword("total"): len(statuses),
        Keyword("success"): statuses.count(COMPLETED),
        Keyword("failure"): statuses.count(FAILED),
        Keyword("average-duration"): sum(durations) / len(durations) if durations else None,
    }


def retract_executions(db: Db, job_ids: Iterable[int], owner: str) -> list[Any]:
    """Ops retracting every execution of these jobs, with their step executions.

    Conflict (409) while one of them is unfinished: `owner` ("job 'x'") says
    whose they are.
    """
    rows = _statuses(db, job_ids)
    busy = sorted(e for e, status in rows if status in UNFINISHED)
    if busy:
        raise Conflict(
            f"{owner} has unfinished executions {busy}; stop or abandon them first",
            field="execution/id",
        )
    return [[_RETRACT_ENTITY, e] for e, _ in rows]


def _statuses(db: Db, job_ids: Iterable[int]) -> list[tuple[int, Keyword]]:
    """(execution id, batch status) of every execution of these jobs."""
    return list(
        db.q(
            "[:find ?e ?s :in $ [?j ...]"
            " :where [?e :execution/job ?j] [?e :execution/batch-status ?s]]",
            list(job_ids),
        )
    )


def latest(db: Db, job_id: int) -> View | None:
    """The job's newest execution in its API shape, or None."""
    ids = _ids_of_job(db, job_id)
    return view(db, max(ids)) if ids else None


def _ids_of_job(db: Db, job_id: int) -> list[int]:
    return db.q("[:find [?e ...] :in $ ?j :where [?e :execution/job ?j]]", job_id) or []


def _execution(db: Db, execution_id: int) -> Any:
    entity = db.entity(execution_id) if _is_id(execution_id) else None
    if entity is None or _JOB not in entity:
        raise NotFound(f"no execution {execution_id!r}", field="execution/id")
    return entity


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _status_in(db: Db, execution_id: int) -> Keyword | None:
    entity = db.entity(execution_id)
    return None if entity is None else entity.get(STATUS)


def _executions_touched(report: TxReport) -> set[int]:
    touched = set()
    for datom in report.tx_data:
        namespace = datom.a.namespace
        if namespace == "execution":
            touched.add(datom.e)
        elif namespace == "step-execution":
            touched.update(_owners(report, datom))
    return touched


def _owners(report: TxReport, datom: Datom) -> Iterable[int]:
    # A retracted step execution is only found in the value before.
    for db in (report.db_after, report.db_before):
        owners = [d.e for d in db.datoms("vaet", datom.e, STEPS)]
        if owners:
            return owners
    return ()


def _parameters(params: Mapping[Any, Any]) -> dict[Any, Any]:
    if not isinstance(params, Mapping):
        raise BadRequest("execution parameters must be a map", field="execution/parameters")
    for key in params:
        if not isinstance(key, (Keyword, str)):
            raise BadRequest(
                f"parameter names must be keywords or strings, got {key!r}",
                field="execution/parameters",
            )
    return dict(params)
