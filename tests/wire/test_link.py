from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobstreamer.common import edn
from jobstreamer.common.edn import K
from jobstreamer.common.errors import BadRequest
from jobstreamer.common.wire import link
from jobstreamer.common.wire.link import Heartbeat, LinkMessage, LogWaiting, Progress, Ready

READY = Ready(instance_id="7c1e", name="alpha", host="10.0.0.5", port=4510, running=(7, 9), finished=(5,))
MESSAGES = [
    READY,
    Heartbeat(stats={K("agent/load"): 0.5, K("agent/running"): 2}),
    Progress(execution_id=7),
    LogWaiting(execution_id=7),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.kind)
def test_round_trip(message: LinkMessage) -> None:
    assert link.decode(link.encode(message)) == message


def test_the_edn_is_the_documented_one() -> None:
    assert edn.loads(link.encode(Progress(execution_id=7))) == {K("command"): K("progress"), K("execution/id"): 7}
    assert edn.loads(link.encode(LogWaiting(execution_id=7))) == {K("command"): K("log"), K("execution/id"): 7}
    assert edn.loads(link.encode(READY)) == {
        K("command"): K("ready"),
        K("agent/instance-id"): "7c1e",
        K("agent/name"): "alpha",
        K("agent/host"): "10.0.0.5",
        K("agent/port"): 4510,
        K("agent/running"): edn.Vector((7, 9)),
        K("agent/finished"): edn.Vector((5,)),
    }


def test_messages_are_immutable_values_for_match() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        READY.port = 1  # type: ignore[misc]

    def describe(message: LinkMessage) -> str:
        match message:
            case Ready(name=name, running=running):
                return f"{name} ready with {len(running)}"
            case Progress(execution_id=n):
                return f"execution {n} changed"
            case LogWaiting(n):
                return f"execution {n} has log lines"
            case Heartbeat(stats):
                return f"heartbeat {len(stats)}"
        raise AssertionError(message)

    described = [describe(link.decode(link.encode(m))) for m in MESSAGES]
    assert described == ["alpha ready with 2", "heartbeat 2", "execution 7 changed", "execution 7 has log lines"]


def test_unknown_keys_are_ignored() -> None:
    assert link.decode("{:command :progress :execution/id 3 :agent/hint 1}") == Progress(execution_id=3)


@pytest.mark.parametrize(
    ("text", "message", "field"),
    [
        ("{:command :launch :execution/id 1}", "unknown :command :launch", K("command")),
        ('{:command "progress" :execution/id 1}', "unknown :command progress", K("command")),
        ("{:command {:a 1} :execution/id 1}", "unknown :command", K("command")),
        ("{:execution/id 1}", "message lacks :command", K("command")),
        ("{:command :progress}", "progress message lacks :execution/id", K("execution/id")),
        ('{:command :log :execution/id "7"}', ":execution/id in log message: expected an integer, got str",
         K("execution/id")),
        ("{:command :log :execution/id true}", "expected an integer, got bool", K("execution/id")),
        ('{:command :ready :agent/instance-id "i" :agent/name "n" :agent/host "h" :agent/port 1 '
         ":agent/running [1 :two] :agent/finished []}", "expected an integer, got Keyword", K("agent/running")),
        ("{:command :heartbeat :agent/stats [1]}", "expected a map, got Vector", K("agent/stats")),
        ("[:command :ready]", "a message is an EDN map, not Vector", None),
        ("{:command :ready", "malformed message: unexpected end of input", None),
        ("", "a message is an EDN map, not NoneType", None),
    ],
)
def test_bad_messages_are_refused(text: str, message: str, field: object) -> None:
    with pytest.raises(BadRequest) as caught:
        link.decode(text)
    assert message in caught.value.message
    assert caught.value.field == field
    assert caught.value.status == 400


@given(
    st.builds(
        Ready,
        instance_id=st.uuids().map(str),
        name=st.text(),
        host=st.text(),
        port=st.integers(0, 65535),
        running=st.lists(st.integers(min_value=1)).map(tuple),
        finished=st.lists(st.integers(min_value=1)).map(tuple),
    )
)
def test_ready_round_trips(message: Ready) -> None:
    assert link.decode(link.encode(message)) == message
