from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobstreamer.common.cli.commands_executions import parse_params, parse_value
from jobstreamer.common.edn import Keyword, Vector

from ._fake_bus import FakeBus
from .conftest import Invoke


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-1.5", -1.5),
        ("true", True),
        ("nil", None),
        (":fast", Keyword("fast")),
        ("[1 2]", Vector([1, 2])),
        ('"quoted"', "quoted"),
        ("you", "you"),  # a bare word is text, not an EDN symbol
        ("hello world", "hello world"),  # two forms: text
        ("/tmp/file.txt", "/tmp/file.txt"),
        ("2024-01-01", "2024-01-01"),
        ("{:unclosed 1", "{:unclosed 1"),
        ("", ""),
        ("  ", "  "),
    ],
)
def test_values_are_edn_when_they_read_as_edn_else_text(text: str, value: object) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_an_instant_reads_as_a_datetime() -> None:
    assert parse_value('#inst "2024-05-01T12:00:00Z"') == dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)


@given(st.integers())
def test_integers_stay_integers(n: int) -> None:
    assert parse_value(str(n)) == n


def test_only_the_first_equals_sign_splits() -> None:
    assert parse_params(["query=a=b", "ns/key=1"]) == {Keyword("query"): "a=b", Keyword("ns/key"): 1}


@pytest.mark.parametrize("pair", ["novalue", "=3", "two words=1", "1x=2"])
def test_a_malformed_parameter_is_a_usage_error(jobstreamer: Invoke, pair: str) -> None:
    result = jobstreamer("run", "hello", "greet", pair)
    assert result.exit_code == 2
    assert f"parameter {pair!r} is not NAME=VALUE" in result.stderr


def test_parameters_reach_the_bus_as_an_edn_map(jobstreamer: Invoke, bus: FakeBus) -> None:
    bus.reply("POST", "/hello/job/greet/executions", {Keyword("execution/id"): 7}, status=202)
    result = jobstreamer("run", "hello", "greet", "name=you", "n=3", "tags=[:a :b]")
    assert result.exit_code == 0, result.output
    [sent] = bus.requests("POST", "/hello/job/greet/executions")
    assert sent.headers["Content-Type"] == "application/edn"
    tags = Vector([Keyword("a"), Keyword("b")])
    assert sent.data() == {Keyword("name"): "you", Keyword("n"): 3, Keyword("tags"): tags}


def test_wait_mistaken_for_a_parameter_is_explained(jobstreamer: Invoke) -> None:
    result = jobstreamer("run", "hello", "greet", "--wait", "name=you")
    assert result.exit_code == 2
    assert "put --wait after the parameters" in result.stderr
