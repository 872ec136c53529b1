"""An agent's `GET /execution/:id` reply as tx data for the execution it describes.

Pure functions of (the execution entity, the reply): the result is what must
change, so a reply that says nothing new yields nothing and writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import BadRequest

from ._lookup import now
from .states import TERMINAL, IllegalTransition, state_of, transition

log = logging.getLogger(__name__)

STATUS = Keyword("execution/batch-status")
END = Keyword("execution/end-time")
STEPS = Keyword("execution/step-executions")
_STEP_NAME = Keyword("step-execution/step-name")
_STEP_STATUS = Keyword("step-execution/batch-status")
_EXIT = Keyword("execution/exit-status")
_START = Keyword("execution/start-time")
_RESULT = Keyword("execution/result")
_STEP_VALUES = tuple(
    Keyword(f"step-execution/{name}")
    for name in ("exit-status", "start-time", "end-time", "exception", "result")
)
_EXECUTION_VALUES = (_EXIT, _START, END, _RESULT)
_INSTANTS = frozenset(
    {_START, END, Keyword("step-execution/start-time"), Keyword("step-execution/end-time")}
)
_TEXTS = frozenset(
    {_EXIT, Keyword("step-execution/exit-status"), Keyword("step-execution/exception")}
)
_ADD = Keyword("db/add")
_RETRACT_ATTRIBUTE = Keyword("db.fn/retractAttribute")


def agent_state_tx(entity: Any, state: Mapping[Any, Any]) -> list[Any]:
    """The ops that bring the execution `entity` in line with the agent's `state`."""
    current = entity[STATUS]
    reported = state.get(STATUS)
    reported = None if reported is None else state_of(reported)
    if current in TERMINAL and reported not in (None, current):
        return []
    ops: list[Any] = []
    if reported is not None:
        try:
            new = transition(current, reported)
        except IllegalTransition:
            log.debug(
                "execution %s: ignoring a report of %s while %s", entity.eid, reported, current
            )
        else:
            if new != current:
                ops.append([_ADD, entity.eid, STATUS, new])
            if new in TERMINAL and state.get(END) is None and END not in entity:
                ops.append([_ADD, entity.eid, END, now()])  # every finished execution has an end
    _values_tx(ops, entity.eid, entity, state, _EXECUTION_VALUES, "execution")
    steps = state.get(STEPS) or ()
    if not isinstance(steps, (list, tuple)):
        raise BadRequest("step executions must be a vector", field="execution/step-executions")
    existing = {step[_STEP_NAME]: step for step in entity.get(STEPS, ())}
    for index, reported_step in enumerate(steps):
        _step_tx(ops, entity.eid, existing, index, reported_step)
    return ops


def _step_tx(
    ops: list[Any], execution_id: int, existing: Mapping[str, Any], index: int, step: Any
) -> None:
    field = f"execution/step-executions[{index}]"
    if not isinstance(step, Mapping):
        raise BadRequest("a step execution must be a map", field=field)
    name = step.get(_STEP_NAME)
    if not isinstance(name, str):
        raise BadRequest("a step execution needs its step name", field=f"{field}.{_STEP_NAME.full}")
    entity = existing.get(name)
    eid: Any = entity.eid if entity is not None else f"step-{index}"
    if entity is None:
        ops.append([_ADD, eid, _STEP_NAME, name])
        ops.append([_ADD, execution_id, STEPS, eid])
    reported = step.get(_STEP_STATUS)
    if reported is not None:
        reported = state_of(reported, f"{field}.{_STEP_STATUS.full}")
        current = entity.get(_STEP_STATUS) if entity is not None else None
        if current in TERMINAL and reported != current:
            return  # the step finished already; a stale report says nothing new
        if reported != current:
            ops.append([_ADD, eid, _STEP_STATUS, reported])
    _values_tx(ops, eid, entity, step, _STEP_VALUES, field)


def _values_tx(
    ops: list[Any],
    eid: Any,
    entity: Any,
    reported: Mapping[Any, Any],
    attrs: Iterable[Keyword],
    field: str,
) -> None:
    """Set each attribute the reply names to its value, or retract it when the reply says nil."""
    for attr in attrs:
        if attr not in reported:
            continue
        value = _checked(attr, reported[attr], field)
        old = entity.get(attr) if entity is not None else None
        if value is None:
            if old is not None:
                ops.append([_RETRACT_ATTRIBUTE, eid, attr])
        elif old is None or not _same(old, value):
            ops.append([_ADD, eid, attr, value])


def _checked(attr: Keyword, value: Any, field: str) -> Any:
    if value is None:
        return None
    if attr in _INSTANTS:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                pass
        if not isinstance(value, datetime):
            raise BadRequest(
                f"{attr} must be an instant, got {value!r}", field=f"{field}.{attr.full}"
            )
    elif attr in _TEXTS and not isinstance(value, str):
        raise BadRequest(f"{attr} must be a string, got {value!r}", field=f"{field}.{attr.full}")
    return value


def _same(stored: Any, new: Any) -> bool:
    """Whether `new` equals the stored value as the store compares values.

    The store keeps lists as tuples and tells True from 1, unlike `==`.
    """
    if isinstance(new, (list, tuple)):
        return (
            isinstance(stored, tuple) and len(stored) == len(new) and all(map(_same, stored, new))
        )
    if isinstance(new, Mapping):
        return (
            isinstance(stored, Mapping)
            and stored.keys() == new.keys()
            and all(_same(stored[k], v) for k, v in new.items())
        )
    return stored == new and isinstance(stored, bool) == isinstance(new, bool)
