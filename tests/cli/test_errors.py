"""User errors are one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from jobstreamer.common.cli.client import BusClient, BusError, Credentials

from ._fake_bus import TOKEN, FakeBus, error
from .conftest import Invoke


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again once we return


def test_an_unreachable_bus(jobstreamer: Invoke, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    result = jobstreamer("apps", "list", JOBSTREAMER_BUS=url)
    assert result.exit_code == 1
    assert _one_line(result.stderr) == f"Error: cannot reach the bus at {url}: connection refused"


def test_the_bus_error_message_is_shown(jobstreamer: Invoke, bus: FakeBus) -> None:
    bus.routes[("POST", "/hello/job/nojob/executions")] = error(404, "no job 'nojob' in application 'hello'")
    result = jobstreamer("run", "hello", "nojob")
    assert result.exit_code == 1
    assert _one_line(result.stderr) == "Error: no job 'nojob' in application 'hello'"


def test_a_route_the_bus_lacks_is_named(bus: FakeBus) -> None:
    bus.routes[("PUT", "/x")] = (405, {})
    with pytest.raises(BusError) as caught:
        BusClient(bus.url, credentials=Credentials(token=TOKEN)).put("/x")
    assert caught.value.message == "PUT /x: 405 Method Not Allowed"
    assert caught.value.status == 405


def test_without_credentials_the_user_learns_how_to_log_in(jobstreamer: Invoke, bus: FakeBus) -> None:
    result = jobstreamer("agents", JOBSTREAMER_PASSWORD=None)
    assert result.exit_code == 1
    assert _one_line(result.stderr) == (
        f"Error: the bus at {bus.url} wants a login: run `jobstreamer login`, "
        "or set JOBSTREAMER_TOKEN or JOBSTREAMER_PASSWORD"
    )


def test_a_wrong_password(jobstreamer: Invoke) -> None:
    result = jobstreamer("agents", JOBSTREAMER_PASSWORD="nope")
    assert _one_line(result.stderr) == "Error: wrong user or password"


@pytest.mark.parametrize("url", ["ftp://bus", "http://", "http://bus:port"])
def test_a_malformed_bus_url(jobstreamer: Invoke, url: str) -> None:
    result = jobstreamer("--bus", url, "agents")
    assert result.exit_code == 2
    assert "Invalid value for '--bus'" in result.stderr


def test_a_bus_url_without_scheme_means_http(jobstreamer: Invoke, bus: FakeBus) -> None:
    bus.reply("GET", "/agents", [])
    result = jobstreamer("--bus", bus.url.removeprefix("http://") + "/", "agents")
    assert result.exit_code == 0, result.output


def test_a_bad_jobs_file(jobstreamer: Invoke, tmp_path: Path) -> None:
    bad = tmp_path / "jobs.edn"
    bad.write_text('{:job/name "x"')
    result = jobstreamer("jobs", "put", str(bad), "--app", "hello")
    assert result.exit_code == 1
    assert _one_line(result.stderr).startswith(f"Error: {bad}: not valid EDN: unexpected end of input")


def test_a_file_that_is_no_bundle(jobstreamer: Invoke, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hi")
    result = jobstreamer("apps", "upload", str(text))
    assert _one_line(result.stderr) == f"Error: {text}: expected a directory, a .zip of one, or a wheel"


def test_a_bad_setting_of_a_server(jobstreamer: Invoke) -> None:
    result = jobstreamer("agent", "--port", "http")
    assert result.exit_code == 1
    assert _one_line(result.stderr) == "Error: invalid --port 'http': expected a whole number"


def test_a_server_without_the_cluster_secret(jobstreamer: Invoke, tmp_path: Path) -> None:
    result = jobstreamer("agent", "--port", "0", "--data", str(tmp_path))
    assert result.exit_code == 1
    assert "set JOBSTREAMER_SECRET" in _one_line(result.stderr)


def test_a_reply_that_is_not_edn(jobstreamer: Invoke, bus: FakeBus) -> None:
    bus.routes[("GET", "/agents")] = (200, b"<html>Welcome</html>")
    result = jobstreamer("agents")
    assert result.exit_code == 1
    assert _one_line(result.stderr).startswith(f"Error: {bus.url} answered GET /agents with no EDN: ")


def test_an_error_that_is_not_edn_shows_the_status_line(jobstreamer: Invoke, bus: FakeBus) -> None:
    bus.routes[("GET", "/agents")] = (502, b"<html>Bad Gateway</html>")
    result = jobstreamer("agents")
    assert _one_line(result.stderr) == "Error: GET /agents: 502 Bad Gateway"
