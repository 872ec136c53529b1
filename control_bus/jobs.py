"""Job definitions: validation (`parse_job`) and the jobs of each application.

A definition (API.md, "Job definition") arrives as EDN data or as JSON mapped
to EDN (`common/wire/json.py`): keys are keywords either way, but values that
EDN writes as keywords (`:stop`, `:failed`) arrive from JSON as strings.
`parse_job` accepts both, normalises them, and refuses anything else with a
BadRequest whose `field` is the exact key path ("job/steps[1].step/task").

Keys a `GET` adds (`:job/stats`, `:job/latest-execution`, ...) are accepted
and dropped, so a client can edit what it fetched and put it back.

`:step/next` maps a step's outcome to the step to run next.  An outcome is a
batch status (`:completed :failed :stopped`, from a keyword or its name) or
any other exit status, kept as a string ("SKIPPED"); the runner looks up the
exit status first, then the batch status.
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import BadRequest
from jobstreamer.common.store import Db

from . import executions
from ._lookup import app_eid, check_name, job_eid, job_key, keyword_of, now, page
from ._store import BusStore

View = dict[Keyword, Any]

TIME_MONITOR_ACTIONS: frozenset[Keyword] = frozenset(
    Keyword(a) for a in ("alert", "stop", "abandon")
)
STEP_OUTCOMES: frozenset[Keyword] = frozenset(
    Keyword(s) for s in ("completed", "failed", "stopped")
)


_NAME, _STEPS, _EXCLUSIVE, _TIME_MONITOR, _NOTIFICATIONS = map(
    Keyword,
    ("job/name", "job/steps", "job/exclusive?", "job/time-monitor", "job/status-notifications"),
)
_STEP_NAME, _TASK, _SHELL, _PARAMS, _NEXT = map(
    Keyword, ("step/name", "step/task", "step/shell", "step/params", "step/next")
)
_DURATION, _ACTION = map(Keyword, ("time-monitor/duration", "time-monitor/action"))
_ON_STATUS, _ON_EXIT, _URL = map(
    Keyword,
    (
        "status-notification/batch-status",
        "status-notification/exit-status",
        "status-notification/url",
    ),
)
_CREATED, _STATS, _LATEST = map(Keyword, ("job/created", "job/stats", "job/latest-execution"))
_DB_ID, _KEY, _APPLICATION = map(Keyword, ("db/id", "job/key", "job/application"))
_JOB_KEYS = frozenset({_NAME, _STEPS, _EXCLUSIVE, _TIME_MONITOR, _NOTIFICATIONS})
# What GET adds to a definition; dropped when a client puts it back.
_READ_ONLY = frozenset(
    {
        _CREATED,
        _STATS,
        _LATEST,
        *map(Keyword, ("job/key", "job/next-execution", "application/name")),
    }
)
_STEP_KEYS = frozenset({_STEP_NAME, _TASK, _SHELL, _PARAMS, _NEXT})
_MONITOR_KEYS = frozenset({_DURATION, _ACTION})
_NOTIFICATION_KEYS = frozenset({_ON_STATUS, _ON_EXIT, _URL})
_OPTIONAL_ATTRS = (_TIME_MONITOR, _NOTIFICATIONS)


@dataclass(frozen=True, slots=True)
class Step:
    """One step: a task `module:function` or a shell command (argv), never both."""

    name: str
    task: str | None = None
    shell: tuple[str, ...] | None = None
    params: Mapping[Keyword | str, Any] = field(default_factory=dict)
    next: Mapping[Keyword | str, str] = field(default_factory=dict)

    def to_edn(self) -> dict[Keyword, Any]:
        """The step as EDN data, as stored and returned."""
        data: dict[Keyword, Any] = {_STEP_NAME: self.name}
        if self.task is not None:
            data[_TASK] = self.task
        if self.shell is not None:
            data[_SHELL] = list(self.shell)
        if self.params:
            data[_PARAMS] = dict(self.params)
        if self.next:
            data[_NEXT] = dict(self.next)
        return data


@dataclass(frozen=True, slots=True)
class TimeMonitor:
    """What to do once an execution runs longer than `duration` seconds."""

    duration: int
    action: Keyword  # one of TIME_MONITOR_ACTIONS

    def to_edn(self) -> dict[Keyword, Any]:
        """As EDN data."""
        return {_DURATION: self.duration, _ACTION: self.action}


@dataclass(frozen=True, slots=True)
class StatusNotification:
    """POST to `url` when an execution ends with this batch status or exit status."""

    url: str
    batch_status: Keyword | None = None
    exit_status: str | None = None

    def to_edn(self) -> dict[Keyword, Any]:
        """As EDN data."""
        data: dict[Keyword, Any] = {_URL: self.url}
        if self.batch_status is not None:
            data[_ON_STATUS] = self.batch_status
        if self.exit_status is not None:
            data[_ON_EXIT] = self.exit_status
        return data


@dataclass(frozen=True, slots=True)
class Job:
    """A validated job definition."""

    name: str
    steps: tuple[Step, ...]
    exclusive: bool = False
    time_monitor: TimeMonitor | None = None
    status_notifications: tuple[StatusNotification, ...] = ()

    def to_edn(self) -> dict[Keyword, Any]:
        """The definition as EDN data: what `parse_job` reads back into an equal Job."""
        data: dict[Keyword, Any] = {
            _NAME: self.name,
            _EXCLUSIVE: self.exclusive,
            _STEPS: [step.to_edn() for step in self.steps],
        }
        if self.time_monitor is not None:
            data[_TIME_MONITOR] = self.time_monitor.to_edn()
        if self.status_notifications:
            data[_NOTIFICATIONS] = [n.to_edn() for n in self.status_notifications]
        return data


# -- validation --


def parse_job(data: Mapping[Any, Any]) -> Job:
    """Validate a job definition; BadRequest with the exact `field` path otherwise."""
    job = _keyed(data, "job", _JOB_KEYS | _READ_ONLY, "")
    name = check_name(job.get(_NAME), "job/name", "job")
    steps = _vector(job.get(_STEPS), "job/steps", "a non-empty vector of steps")
    if not steps:
        raise BadRequest("a job needs at least one step", field="job/steps")
    parsed = [_parse_step(step, f"job/steps[{i}]") for i, step in enumerate(steps)]
    _check_step_names(parsed)
    exclusive = job.get(_EXCLUSIVE, False)
    if not isinstance(exclusive, bool):
        raise BadRequest(
            f"job/exclusive? must be true or false, got {exclusive!r}", field="job/exclusive?"
        )
    monitor = job.get(_TIME_MONITOR)
    notifications = _vector(
        job.get(_NOTIFICATIONS, ()), "job/status-notifications", "a vector of maps"
    )
    return Job(
        name=name,
        steps=tuple(parsed),
        exclusive=exclusive,
        time_monitor=None if monitor is None else _parse_time_monitor(monitor),
        status_notifications=tuple(
            _parse_notification(n, f"job/status-notifications[{i}]")
            for i, n in enumerate(notifications)
        ),
    )


def _keyed(data: Any, what: str, known: frozenset[Keyword], path: str) -> dict[Keyword, Any]:
    """`data` with keyword keys (strings like "job/name" accepted); unknown keys refused."""
    if not isinstance(data, Mapping):
        raise BadRequest(f"a {what} must be a map, got {type(data).__name__}", field=path or what)
    keyed: dict[Keyword, Any] = {}
    for key, value in data.items():
        if isinstance(key, str):
            key = Keyword(key[1:] if key.startswith(":") else key)
        if key not in known:
            name = key.full if isinstance(key, Keyword) else repr(key)
            raise BadRequest(
                f"unknown key {key} in a {what}", field=f"{path}.{name}" if path else name
            )
        keyed[key] = value
    return keyed


def _vector(value: Any, field: str, shape: str) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise BadRequest(f"{field} must be {shape}", field=field)
    return list(value)


def _parse_step(data: Any, path: str) -> Step:
    step = _keyed(data, "step", _STEP_KEYS, path)
    name = step.get(_STEP_NAME)
    if not isinstance(name, str) or not name:
        raise BadRequest("a step needs a non-empty :step/name", field=f"{path}.step/name")
    if (_TASK in step) == (_SHELL in step):
        raise BadRequest(
            "a step has exactly one of :step/task and :step/shell", field=f"{path}.step/task"
        )
    task = step.get(_TASK)
    if task is not None:
        _check_task(task, f"{path}.step/task")
    shell = step.get(_SHELL)
    if shell is not None:
        shell = _parse_shell(shell, f"{path}.step/shell")
    params = step.get(_PARAMS, {})
    if not isinstance(params, Mapping) or not all(isinstance(k, (Keyword, str)) for k in params):
        raise BadRequest("step/params must be a map with keyword keys", field=f"{path}.step/params")
    return Step(
        name=name,
        task=task,
        shell=shell,
        params=dict(params),
        next=_parse_next(step.get(_NEXT, {}), path),
    )


def _check_task(task: Any, field: str) -> None:
    module, sep, function = task.partition(":") if isinstance(task, str) else ("", "", "")
    if not (sep and _identifier(function) and all(_identifier(part) for part in module.split("."))):
        raise BadRequest(
            f'a task is "module:function" (e.g. "etl.tasks:extract"), got {task!r}', field=field
        )


def _identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _parse_shell(shell: Any, field: str) -> tuple[str, ...]:
    argv = _vector(shell, field, "a non-empty vector of strings")
    if not argv or not all(isinstance(arg, str) for arg in argv) or not argv[0]:
        raise BadRequest("step/shell must be a non-empty vector of strings", field=field)
    return tuple(argv)


def _parse_next(data: Any, path: str) -> dict[Keyword | str, str]:
    field = f"{path}.step/next"
    if not isinstance(data, Mapping):
        raise BadRequest("step/next must map outcomes to step names", field=field)
    parsed: dict[Keyword | str, str] = {}
    for key, target in data.items():
        outcome = _outcome(key, field)
        if not isinstance(target, str):
            raise BadRequest(
                f"step/next names a step by its name, got {target!r}",
                field=f"{field}.{_text(outcome)}",
            )
        parsed[outcome] = target
    return parsed


def _outcome(key: Any, field: str) -> Keyword | str:
    """A batch status keyword, or an exit status string."""
    if isinstance(key, Keyword):
        text = key.full
    elif isinstance(key, str) and key:
        text = key[1:] if key.startswith(":") else key
    else:
        raise BadRequest(
            f'step/next keys are outcomes (:completed, "SKIPPED"), got {key!r}', field=field
        )
    as_keyword = Keyword(text)
    return as_keyword if as_keyword in STEP_OUTCOMES else text


def _text(outcome: Keyword | str) -> str:
    return outcome.full if isinstance(outcome, Keyword) else outcome


def _check_step_names(steps: list[Step]) -> None:
    seen: set[str] = set()
    for i, step in enumerate(steps):
        if step.name in seen:
            raise BadRequest(
                f"two steps are named {step.name!r}", field=f"job/steps[{i}].step/name"
            )
        seen.add(step.name)
    for i, step in enumerate(steps):
        for outcome, target in step.next.items():
            if target not in seen:
                raise BadRequest(
                    f"step/next names {target!r}, which is not a step of this job",
                    field=f"job/steps[{i}].step/next.{_text(outcome)}",
                )


def _parse_time_monitor(data: Any) -> TimeMonitor:
    path = "job/time-monitor"
    monitor = _keyed(data, "time monitor", _MONITOR_KEYS, path)
    duration = monitor.get(_DURATION)
    if isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0:
        raise BadRequest(
            "time-monitor/duration is a positive number of seconds",
            field=f"{path}.time-monitor/duration",
        )
    action = keyword_of(monitor.get(_ACTION), TIME_MONITOR_ACTIONS, f"{path}.time-monitor/action")
    return TimeMonitor(duration=duration, action=action)


def _parse_notification(data: Any, path: str) -> StatusNotification:
    notification = _keyed(data, "status notification", _NOTIFICATION_KEYS, path)
    url = notification.get(_URL)
    if (
        not isinstance(url, str)
        or urlsplit(url).scheme not in ("http", "https")
        or not urlsplit(url).netloc
    ):
        raise BadRequest(
            "status-notification/url must be an http(s) URL",
            field=f"{path}.status-notification/url",
        )
    status = notification.get(_ON_STATUS)
    exit_status = notification.get(_ON_EXIT)
    if status is None and exit_status is None:
        raise BadRequest(
            "a status notification names a batch-status or an exit-status",
            field=f"{path}.status-notification/batch-status",
        )
    if status is not None:
        status = keyword_of(status, executions.STATES, f"{path}.status-notification/batch-status")
    if exit_status is not None and not isinstance(exit_status, str):
        raise BadRequest(
            "status-notification/exit-status is a string",
            field=f"{path}.status-notification/exit-status",
        )
    return StatusNotification(url=url, batch_status=status, exit_status=exit_status)


# -- the jobs of each application --


class Jobs:
    """Job definitions in the bus store, by application."""

    def __init__(self, store: BusStore) -> None:
        self._store = store

    async def put(self, app: str, data: Mapping[Any, Any]) -> View:
        """Create or replace the job `data` defines (by :job/name); returns `get()` of it.

        BadRequest for an invalid definition, NotFound for an unknown app.
        """
        job = parse_job(data)

        def tx(db: Db) -> list[Any]:
            app_id = app_eid(db, app)
            key = job_key(app, job.name)
            existing = db.entity([_KEY, key])
            entity: dict[Keyword, Any] = {
                _DB_ID: "job",
                _KEY: key,
                _APPLICATION: app_id,
                **job.to_edn(),
            }
            if existing is None:
                entity[_CREATED] = now()
                return [entity]
            # A replaced job keeps no optional attribute its new definition leaves out.
            retract = Keyword("db.fn/retractAttribute")
            return [
                entity,
                *(
                    [retract, existing.eid, a]
                    for a in _OPTIONAL_ATTRS
                    if a in existing and a not in entity
                ),
            ]

        await self._store.transact_with(tx)
        return self.get(app, job.name)

    def list(self, app: str, *, q: str | None = None, limit: int = 20, offset: int = 0) -> View:
        """`{:results :hits :limit :offset}`: the app's jobs by name, with their latest execution.

        `q` keeps the jobs whose name contains it (case-insensitive).
        """
        db = self._store.db()
        ids = db.q(
            "[:find ?j ?n :in $ ?a :where [?j :job/application ?a] [?j :job/name ?n]]",
            app_eid(db, app),
        )
        wanted = q.casefold() if q else ""
        found = [j for name, j in sorted((name, j) for j, name in ids if wanted in name.casefold())]
        return page(found, limit, offset, lambda job_id: _summary(db, job_id))

    def get(self, app: str, name: str) -> View:
        """One job: its definition, `:job/created`, `:job/stats` and `:job/latest-execution`."""
        db = self._store.db()
        job_id = job_eid(db, app, name)
        return {**_summary(db, job_id), _STATS: executions.job_stats(db, job_id)}

    def job(self, app: str, name: str) -> Job:
        """The stored definition as a `Job`; NotFound."""
        db = self._store.db()
        view = _definition(db, job_eid(db, app, name))
        del view[_CREATED]
        return parse_job(view)

    async def delete(self, app: str, name: str) -> None:
        """Delete the job and its executions; NotFound, or Conflict (409) while one runs."""

        def tx(db: Db) -> list[Any]:
            job_id = job_eid(db, app, name)
            retract = executions.retract_executions(db, [job_id], f"job {name!r}")
            return [*retract, [Keyword("db/retractEntity"), job_id]]

        await self._store.transact_with(tx)


def _summary(db: Db, job_id: int) -> View:
    """The definition, `:job/created` and, once there is one, `:job/latest-execution`."""
    summary = _definition(db, job_id)
    latest = executions.latest(db, job_id)
    if latest is not None:
        summary[_LATEST] = latest
    return summary


def _definition(db: Db, job_id: int) -> View:
    definition: View = db.pull(
        "[:job/name :job/exclusive? :job/steps :job/time-monitor :job/status-notifications"
        " :job/created]",
        job_id,
    )
    return definition
