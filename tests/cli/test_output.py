from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from jobstreamer.common import edn
from jobstreamer.common.cli.commands_executions import EXIT_STILL_RUNNING
from jobstreamer.common.edn import Keyword as K
from jobstreamer.common.edn import Vector

from ._fake_bus import FakeBus, Seen
from .conftest import Invoke

START = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
AGENT = {
    K("agent/instance-id"): "2f1c3a9e-0000-4000-8000-000000000001",
    K("agent/name"): "local-1",
    K("agent/host"): "127.0.0.1",
    K("agent/port"): 4510,
    K("agent/state"): K("ready"),
    K("agent/executions"): Vector([42]),
}


def execution(status: str, **more: Any) -> dict[K, Any]:
    return {
        K("execution/id"): 42,
        K("application/name"): "hello",
        K("job/name"): "greet",
        K("execution/batch-status"): K(status),
        **{K(f"execution/{k.replace('_', '-')}"): v for k, v in more.items()},
    }


def test_tables_are_the_default(jobstreamer: Invoke, bus: FakeBus) -> None:
    bus.reply("GET", "/agents", [AGENT])
    result = jobstreamer("agents")
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    assert header.split() == ["NAME", "ID", "ADDRESS", "STATE", "RUNNING"]
    assert row.split() == ["local-1", "2f1c3a9e", "127.0.0.1:4510", "ready", "1"]


def test_an_empty_list_says_so(jobstreamer: Invoke, bus: FakeBus) -> None:
    bus.reply("GET", "/apps", [])
    result = jobstreamer("apps", "list")
    assert "no applications yet" in result.stdout


@pytest.mark.parametrize("where", ["group", "command"])
def test_json_and_edn_print_the_bus_data_unchanged(jobstreamer: Invoke, bus: FakeBus, where: str) -> None:
    bus.reply("GET", "/agents", [AGENT])
    place = (lambda flag: [flag, "agents"]) if where == "group" else (lambda flag: ["agents", flag])
    as_json = jobstreamer(*place("--json"))
    assert json.loads(as_json.stdout) == [
        {
            "agent/instance-id": "2f1c3a9e-0000-4000-8000-000000000001",
            "agent/name": "local-1",
            "agent/host": "127.0.0.1",
            "agent/port": 4510,
            "agent/state": "ready",
            "agent/executions": [42],
        }
    ]
    as_edn = jobstreamer(*place("--edn"))
    assert list(edn.loads(as_edn.stdout)) == [AGENT]


def test_instants_show_in_local_time_and_durations_in_ms(jobstreamer: Invoke, bus: FakeBus) -> None:
    done = execution("completed", start_time=START, end_time=START + dt.timedelta(milliseconds=9),
                     exit_status="COMPLETED")
    bus.reply("GET", "/hello/job/greet/executions", {K("results"): [done], K("hits"): 1})
    result = jobstreamer("executions", "hello", "greet")
    local = START.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert local in result.stdout and "9 ms" in result.stdout and "completed" in result.stdout


def test_log_lines_are_one_document_a_line(jobstreamer: Invoke, bus: FakeBus) -> None:
    lines = [
        {K("log/offset"): i, K("log/time"): START, K("log/level"): K("info"), K("log/message"): f"line {i}",
         K("log/step"): "greet"}
        for i in range(3)
    ]

    def page(seen: Seen) -> tuple[int, Any]:
        offset = int(seen.path_qs.split("offset=")[1])
        return 200, {K("log/lines"): lines[offset : offset + 2], K("log/next-offset"): min(offset + 2, 3)}

    bus.routes[("GET", "/hello/job/greet/execution/42/log")] = page
    text = jobstreamer("logs", "hello", "greet", "42")
    assert [line.split("[greet] ")[1] for line in text.stdout.splitlines()] == ["line 0", "line 1", "line 2"]
    as_json = jobstreamer("logs", "hello", "greet", "42", "--json")
    assert [json.loads(line)["log/message"] for line in as_json.stdout.splitlines()] == ["line 0", "line 1", "line 2"]


def test_follow_stops_once_the_execution_has_ended(jobstreamer: Invoke, bus: FakeBus) -> None:
    bus.reply("GET", "/hello/job/greet/execution/42/log", {K("log/lines"): [], K("log/next-offset"): 0})
    bus.reply("GET", "/hello/job/greet/execution/42", execution("failed"))
    result = jobstreamer("logs", "hello", "greet", "42", "--follow")
    assert result.exit_code == 0
    # Once more after the end: lines can land after the end is recorded.
    assert len(bus.requests("GET", "/hello/job/greet/execution/42/log")) == 2


@pytest.mark.parametrize(
    ("status", "code"), [("completed", 0), ("failed", 1), ("stopped", 1), ("started", EXIT_STILL_RUNNING)]
)
def test_run_wait_exits_by_the_outcome(jobstreamer: Invoke, bus: FakeBus, status: str, code: int) -> None:
    bus.reply("POST", "/hello/job/greet/executions", execution(status, result={K("greeting"): "hello, you"}))
    bus.reply("GET", "/hello/job/greet/execution/42", execution(status))
    result = jobstreamer("run", "hello", "greet", "name=you", "--wait=0.1")
    assert result.exit_code == code, result.output
    [posted] = bus.requests("POST", "/hello/job/greet/executions")
    assert posted.path_qs.endswith("?wait=0.1")
    if status == "completed":
        assert '{:greeting "hello, you"}' in result.stdout
    if code == EXIT_STILL_RUNNING:
        assert "execution 42 is still started after 0.1 s" in result.stderr


def test_run_wait_without_seconds_waits_until_the_end(jobstreamer: Invoke, bus: FakeBus) -> None:
    bus.reply("POST", "/hello/job/greet/executions", execution("started"), status=202)
    answers = iter([execution("started"), execution("completed")])
    bus.routes[("GET", "/hello/job/greet/execution/42")] = lambda seen: (200, next(answers))
    result = jobstreamer("run", "hello", "greet", "--wait", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["execution/batch-status"] == "completed"
    assert len(bus.requests("GET", "/hello/job/greet/execution/42")) == 2


def test_a_queued_execution_shows_only_what_is_known(jobstreamer: Invoke, bus: FakeBus) -> None:
    bus.reply("POST", "/hello/job/greet/executions", execution("queued"), status=202)
    result = jobstreamer("run", "hello", "greet")
    assert result.exit_code == 0
    assert "queued" in result.stdout
    assert "agent" not in result.stdout and "result" not in result.stdout
