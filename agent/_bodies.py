"""The bodies of the agent's REST requests, checked (SPINE2, "Bus <-> agent REST payloads").

`POST /join-bus`:

    {:control-bus/url "ws://127.0.0.1:45102/join" :control-bus/token "<nonce>"}

`POST /executions`:

    {:execution/id 42 :application/name "hello" :application/version "<hash>"
     :job/name "greet"
     :job/steps [{:step/name "greet" :step/task "hello.tasks:greet" :step/params {}}
                 {:step/name "tidy" :step/shell ["rm" "-rf" "/tmp/greet"]}]
     :execution/parameters {:name "bus"}}

Everything wrong with a body is a `BadRequest` naming the key at fault.  Keys
it does not know (`:step/next`, until issue #5) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from jobstreamer.common.errors import BadRequest
from jobstreamer.common.settings import bus_url
from jobstreamer.common.wire._message import Message, edn_field, integer, kind_field, mapping, optional, string

_EMPTY: Mapping[Any, Any] = MappingProxyType({})


def _params(value: Any) -> Mapping[Any, Any]:
    return _EMPTY if value is None else mapping(value)


def _task(value: Any) -> str:
    task = string(value)
    module, sep, function = task.partition(":")
    if not (module and sep and function):
        raise ValueError(f"expected 'module:function', got {task!r}")
    return task


def _argv(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise TypeError("expected a non-empty vector of strings")
    return tuple(string(item) for item in value)


@dataclass(frozen=True)
class Step(Message):
    name: str = edn_field("step/name", string)
    task: str | None = edn_field("step/task", optional(_task))
    shell: tuple[str, ...] | None = edn_field("step/shell", optional(_argv))
    params: Mapping[Any, Any] = edn_field("step/params", _params)
    kind: Literal["step"] = kind_field("step")

    def __post_init__(self) -> None:
        if (self.task is None) == (self.shell is None):
            raise ValueError(f"step {self.name!r} needs either :step/task or :step/shell")


def _steps(value: Any) -> tuple[Step, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise TypeError("expected a non-empty vector of step maps")
    steps = []
    for number, item in enumerate(value, 1):
        try:
            steps.append(Step.from_edn(mapping(item)))
        except (BadRequest, TypeError, ValueError) as exc:
            raise ValueError(f"step {number}: {exc}") from None
    return tuple(steps)


@dataclass(frozen=True)
class Submission(Message):
    execution_id: int = edn_field("execution/id", integer)
    app: str | None = edn_field("application/name", optional(string))
    version: str | None = edn_field("application/version", optional(string))
    job: str = edn_field("job/name", string)
    steps: tuple[Step, ...] = edn_field("job/steps", _steps)
    parameters: Mapping[Any, Any] = edn_field("execution/parameters", _params)
    kind: Literal["execution"] = kind_field("execution")

    def __post_init__(self) -> None:
        if any(step.task for step in self.steps) and not (self.app and self.version):
            raise ValueError("a job with :step/task steps needs :application/name and :application/version")


@dataclass(frozen=True)
class JoinBus(Message):
    url: str = edn_field("control-bus/url", bus_url)
    token: str = edn_field("control-bus/token", string)
    kind: Literal["join-bus"] = kind_field("join-bus")


B = TypeVar("B", Submission, JoinBus)


def parse(body: type[B], data: Any) -> B:
    """The `body` in a request's data; `BadRequest` if it is not one."""
    if not isinstance(data, Mapping):
        raise BadRequest(f"the request body must be a map, not {type(data).__name__}")
    try:
        return body.from_edn(data)
    except ValueError as exc:  # from __post_init__: a check across fields
        raise BadRequest(str(exc)) from None

