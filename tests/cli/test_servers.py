"""`jobstreamer control-bus` and `jobstreamer agent` as processes: they print their port and never a secret."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from ._processes import jobstreamer

SECRET = "cluster-secret-that-must-not-leak"
ADMIN_PASSWORD = "admin-password-that-must-not-leak"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_agent_prints_its_port_stops_on_a_signal_and_never_the_secret(tmp_path: Path, sig: int) -> None:
    # A bus that is not there: the agent keeps trying, and logs each attempt.
    args = ("agent", "--port", "0", "--data", str(tmp_path), "--control-bus", "ws://127.0.0.1:9/join")
    with jobstreamer(*args, env={"JOBSTREAMER_SECRET": SECRET}) as agent:
        port = int(agent.expect(r"listening on port (\d+)")[1])
        assert port > 0
        assert agent.interrupt(sig) == 0
    assert SECRET not in agent.output
    assert "Traceback" not in agent.output


@pytest.mark.netns  # the bus browses for agents with zeroconf
def test_a_bus_prints_its_url_and_never_a_secret(tmp_path: Path) -> None:
    env = {"JOBSTREAMER_SECRET": SECRET, "JOBSTREAMER_ADMIN_PASSWORD": ADMIN_PASSWORD}
    args = ("control-bus", "--host", "127.0.0.1", "--port", "0", "--data", str(tmp_path))
    with jobstreamer(*args, env=env) as bus:
        assert int(bus.expect(r"listening on http://127\.0\.0\.1:(\d+)")[1]) > 0
        assert bus.interrupt(signal.SIGTERM) == 0
    assert SECRET not in bus.output and ADMIN_PASSWORD not in bus.output
    assert "Traceback" not in bus.output


def test_a_secret_given_on_the_command_line_is_not_echoed_in_errors(tmp_path: Path) -> None:
    with jobstreamer("agent", "--secret", "   ", "--data", str(tmp_path), env={}) as agent:
        assert agent.process.wait(30) == 1
    assert agent.output.strip() == "Error: invalid --secret: expected a non-empty value"


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ("agent", "--port", str(port), "--interface", "127.0.0.1", "--data", str(tmp_path),
                "--control-bus", "ws://127.0.0.1:9/join")
        with jobstreamer(*args, env={"JOBSTREAMER_SECRET": SECRET}) as agent:
            assert agent.process.wait(30) == 1
    assert agent.output.strip().splitlines()[-1].endswith(f"('127.0.0.1', {port}): address already in use")
    assert "Traceback" not in agent.output
