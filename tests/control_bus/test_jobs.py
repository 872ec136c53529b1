"""Job definitions: validation (with generated definitions) and the jobs of an app."""

from __future__ import annotations

import json
import keyword
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobstreamer.common import edn
from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import BadRequest, Conflict, NotFound
from jobstreamer.common.wire import json as edn_json
from jobstreamer.control_bus.executions import STATES
from jobstreamer.control_bus.jobs import (
    STEP_OUTCOMES,
    TIME_MONITOR_ACTIONS,
    Job,
    StatusNotification,
    Step,
    TimeMonitor,
    parse_job,
)
from tests.control_bus._domain import bus, greet_job, hello_with_job, hello_zip, k

EXAMPLE = """
{:job/name "nightly-etl"
 :job/exclusive? true
 :job/steps [{:step/name "extract" :step/task "etl.tasks:extract"
              :step/params {:limit 100}
              :step/next {:completed "load" :failed "cleanup"}}
             {:step/name "load" :step/task "etl.tasks:load"}
             {:step/name "cleanup" :step/shell ["echo" "cleaning"]}]
 :job/time-monitor {:time-monitor/duration 1800 :time-monitor/action :stop}
 :job/status-notifications [{:status-notification/batch-status :failed
                             :status-notification/url "http://hooks.example/x"}]}
"""

COMPLETED, FAILED, STOP = Keyword("completed"), Keyword("failed"), Keyword("stop")
RESULTS, HITS = Keyword("results"), Keyword("hits")
STATS = Keyword("job/stats")


def test_the_api_example_parses() -> None:
    job = parse_job(edn.loads(EXAMPLE))
    assert job.name == "nightly-etl" and job.exclusive
    assert [s.name for s in job.steps] == ["extract", "load", "cleanup"]
    assert job.steps[0].next == {COMPLETED: "load", FAILED: "cleanup"}
    assert job.steps[0].params == {Keyword("limit"): 100}
    assert job.steps[2].shell == ("echo", "cleaning")
    assert job.time_monitor == TimeMonitor(1800, STOP)
    assert job.status_notifications == (StatusNotification("http://hooks.example/x", FAILED),)
    assert parse_job(job.to_edn()) == job


def test_json_mapped_data_is_normalised() -> None:
    text = json.dumps(edn_json.to_json(edn.loads(EXAMPLE)))
    assert '"stop"' in text and '"failed"' in text  # keywords became strings on the way
    assert parse_job(edn_json.loads(text)) == parse_job(edn.loads(EXAMPLE))


def test_string_keys_and_exit_status_outcomes() -> None:
    job = parse_job(
        {
            "job/name": "j",
            ":job/steps": [
                {
                    "step/name": "a",
                    "step/task": "m:f",
                    "step/next": {"completed": "b", "SKIPPED": "b", ":failed": "a"},
                },
                {"step/name": "b", "step/shell": ["true"]},
            ],
        }
    )
    assert job.steps[0].next == {COMPLETED: "b", "SKIPPED": "b", FAILED: "a"}


def test_what_a_get_adds_is_dropped_on_the_way_back() -> None:
    fetched = {
        **edn.loads(EXAMPLE),
        Keyword("job/stats"): {},
        Keyword("job/latest-execution"): {},
        Keyword("job/created"): None,
        Keyword("job/key"): "x/nightly-etl",
    }
    assert parse_job(fetched) == parse_job(edn.loads(EXAMPLE))


# -- generated definitions --

names = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s)
)
tasks = st.builds(
    lambda mod, fn: ".".join(mod) + ":" + fn,
    st.lists(identifiers, min_size=1, max_size=3),
    identifiers,
)
shells = st.lists(st.text(max_size=8), min_size=1, max_size=3).filter(lambda argv: argv[0] != "")
params = st.dictionaries(
    identifiers.map(Keyword),
    st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=8), st.booleans()),
    max_size=3,
)
exit_statuses = st.from_regex(r"[A-Z][A-Z_]{0,8}", fullmatch=True)
outcomes = st.one_of(st.sampled_from(sorted(STEP_OUTCOMES)), exit_statuses)
monitors = st.builds(
    TimeMonitor, st.integers(1, 10**6), st.sampled_from(sorted(TIME_MONITOR_ACTIONS))
)
notifications = st.one_of(
    st.builds(
        StatusNotification,
        names.map(lambda n: f"https://hooks.example/{n}"),
        st.sampled_from(sorted(STATES)),
        st.none() | exit_statuses,
    ),
    st.builds(StatusNotification, st.just("http://localhost:8080/hook"), st.none(), exit_statuses),
)


@st.composite
def jobs(draw: st.DrawFn) -> Job:
    step_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    steps = []
    for name in step_names:
        is_task = draw(st.booleans())
        steps.append(
            Step(
                name=name,
                task=draw(tasks) if is_task else None,
                shell=None if is_task else tuple(draw(shells)),
                params=draw(params),
                next=draw(st.dictionaries(outcomes, st.sampled_from(step_names), max_size=3)),
            )
        )
    return Job(
        name=draw(names),
        steps=tuple(steps),
        exclusive=draw(st.booleans()),
        time_monitor=draw(st.none() | monitors),
        status_notifications=tuple(draw(st.lists(notifications, max_size=2))),
    )


@given(jobs())
def test_valid_definitions_round_trip(job: Job) -> None:
    assert parse_job(job.to_edn()) == job
    assert parse_job(edn.loads(edn.dumps(job.to_edn()))) == job
    assert parse_job(edn_json.loads(json.dumps(edn_json.to_json(job.to_edn())))) == job


Mutation = Callable[[dict[Keyword, Any], int], str]


def _step(data: dict[Keyword, Any], i: int) -> dict[Keyword, Any]:
    step: dict[Keyword, Any] = data[Keyword("job/steps")][i]
    return step


def _set(data: dict[Keyword, Any], key: str, value: Any) -> None:
    data[Keyword(key)] = value


def _set_step(data: dict[Keyword, Any], i: int, key: str, value: Any) -> None:
    _step(data, i)[Keyword(key)] = value


def _no_name(data: dict[Keyword, Any], i: int) -> str:
    del data[Keyword("job/name")]
    return "job/name"


def _duplicate_step(data: dict[Keyword, Any], i: int) -> str:
    steps = data[Keyword("job/steps")]
    steps.append(dict(steps[i]))
    return f"job/steps[{len(steps) - 1}].step/name"


def _task_and_shell(data: dict[Keyword, Any], i: int) -> str:
    _set_step(data, i, "step/task", "m:f")
    _set_step(data, i, "step/shell", ["true"])
    return f"job/steps[{i}].step/task"


def _neither(data: dict[Keyword, Any], i: int) -> str:
    _step(data, i).pop(Keyword("step/task"), None)
    _step(data, i).pop(Keyword("step/shell"), None)
    return f"job/steps[{i}].step/task"


def _replace(key: str, value: Any, field: str) -> Mutation:
    def mutate(data: dict[Keyword, Any], i: int) -> str:
        _set(data, key, value)
        return field

    return mutate


def _replace_in_step(
    key: str, value: Any, clear: str | None = None, suffix: str | None = None
) -> Mutation:
    def mutate(data: dict[Keyword, Any], i: int) -> str:
        if clear:
            _step(data, i).pop(Keyword(clear), None)
        _set_step(data, i, key, value)
        return f"job/steps[{i}].{suffix or key}"

    return mutate


MUTATIONS: list[Mutation] = [
    _no_name,
    _replace("job/name", "has space", "job/name"),
    _replace("job/steps", [], "job/steps"),
    _replace("job/steps", "x", "job/steps"),
    _duplicate_step,
    _task_and_shell,
    _neither,
    _replace_in_step("step/task", "no-colon", clear="step/shell"),
    _replace_in_step("step/task", "a.b-c:f", clear="step/shell"),
    _replace_in_step("step/task", "m:class", clear="step/shell"),
    _replace_in_step("step/shell", [], clear="step/task"),
    _replace_in_step("step/shell", ["ls", 3], clear="step/task"),
    _replace_in_step("step/params", [1]),
    _replace_in_step(
        "step/next", {COMPLETED: "no step has this name!"}, suffix="step/next.completed"
    ),
    _replace_in_step("step/name", ""),
    _replace_in_step("step/bogus", 1),
    _replace("job/bogus", 1, "job/bogus"),
    _replace("job/exclusive?", "yes", "job/exclusive?"),
    _replace(
        "job/time-monitor",
        {Keyword("time-monitor/duration"): 10, Keyword("time-monitor/action"): "explode"},
        "job/time-monitor.time-monitor/action",
    ),
    _replace(
        "job/time-monitor",
        {Keyword("time-monitor/duration"): 0, Keyword("time-monitor/action"): STOP},
        "job/time-monitor.time-monitor/duration",
    ),
    _replace(
        "job/status-notifications",
        [
            {
                Keyword("status-notification/url"): "ftp://x",
                Keyword("status-notification/batch-status"): FAILED,
            }
        ],
        "job/status-notifications[0].status-notification/url",
    ),
    _replace(
        "job/status-notifications",
        [{Keyword("status-notification/url"): "http://x/"}],
        "job/status-notifications[0].status-notification/batch-status",
    ),
]


@given(jobs(), st.sampled_from(MUTATIONS), st.data())
def test_mutated_definitions_are_refused_with_their_field(
    job: Job, mutate: Mutation, data: st.DataObject
) -> None:
    definition = job.to_edn()
    i = data.draw(st.integers(0, len(job.steps) - 1))
    field = mutate(definition, i)
    with pytest.raises(BadRequest) as refused:
        parse_job(definition)
    assert refused.value.field == field and refused.value.status == 400


@pytest.mark.parametrize("data", [None, [], "x", {Keyword("job/name"): "j"}])
def test_not_a_definition(data: Any) -> None:
    with pytest.raises(BadRequest):
        parse_job(data)


# -- the jobs of an app, in the store --


async def test_put_needs_an_existing_app(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        with pytest.raises(NotFound) as missing:
            await b.jobs.put("nope", greet_job())
        assert missing.value.status == 404
        with pytest.raises(BadRequest):  # validation comes first
            await b.jobs.put("nope", {})


async def test_put_creates_then_replaces(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        await b.apps.register(hello_zip(), name="hello")
        monitor = k(**{"time-monitor/duration": 60, "time-monitor/action": STOP})
        created = await b.jobs.put(
            "hello", {**greet_job(), **k(**{"job/time-monitor": monitor, "job/exclusive?": True})}
        )
        assert created[Keyword("job/time-monitor")] == monitor
        assert created[STATS] == k(total=0, success=0, failure=0, **{"average-duration": None})
        replaced = await b.jobs.put("hello", greet_job())
        assert Keyword("job/time-monitor") not in replaced  # left out, so gone
        assert replaced[Keyword("job/exclusive?")] is False
        assert replaced[Keyword("job/created")] == created[Keyword("job/created")]
        assert b.jobs.job("hello", "greet") == parse_job(greet_job())
        # What a client fetched can be put back as it is.
        assert await b.jobs.put("hello", replaced) == replaced
        assert b.jobs.list("hello")[HITS] == 1


async def test_list_filters_and_pages(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        await b.apps.register(hello_zip(), name="hello")
        for name in ("nightly-etl", "Hourly-ETL", "cleanup", "etl-check"):
            await b.jobs.put("hello", greet_job(name))
        everything = b.jobs.list("hello")
        assert [j[Keyword("job/name")] for j in everything[RESULTS]] == [
            "Hourly-ETL",
            "cleanup",
            "etl-check",
            "nightly-etl",
        ]
        etl = b.jobs.list("hello", q="etl", limit=2, offset=1)
        assert etl[HITS] == 3 and etl[Keyword("limit")] == 2 and etl[Keyword("offset")] == 1
        assert [j[Keyword("job/name")] for j in etl[RESULTS]] == ["etl-check", "nightly-etl"]
        with pytest.raises(BadRequest) as bad:
            b.jobs.list("hello", limit=-1)
        assert bad.value.field == "limit"
        with pytest.raises(NotFound):
            b.jobs.list("nope")


async def test_get_has_stats_and_the_latest_execution(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        await hello_with_job(b)
        ok = await b.executions.create("hello", "greet", {})
        await b.executions.apply_agent_state(
            ok,
            k(
                **{
                    "execution/batch-status": COMPLETED,
                    "execution/start-time": edn.loads('#inst "2024-05-01T12:00:00Z"'),
                    "execution/end-time": edn.loads('#inst "2024-05-01T12:00:03Z"'),
                }
            ),
        )
        bad = await b.executions.create("hello", "greet", {})
        await b.executions.apply_agent_state(bad, k(**{"execution/batch-status": FAILED}))
        job = b.jobs.get("hello", "greet")
        assert job[STATS] == k(total=2, success=1, failure=1, **{"average-duration": 3.0})
        assert job[Keyword("job/latest-execution")][Keyword("execution/id")] == bad
        with pytest.raises(NotFound):
            b.jobs.get("hello", "nope")


async def test_delete_waits_for_executions(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        await hello_with_job(b)
        execution = await b.executions.create("hello", "greet", {})
        with pytest.raises(Conflict):
            await b.jobs.delete("hello", "greet")
        await b.executions.mark(execution, Keyword("stopped"))
        await b.jobs.delete("hello", "greet")
        assert b.store.db().entity(execution) is None
        with pytest.raises(NotFound):
            await b.jobs.delete("hello", "greet")
