"""`jobstreamer up`: its secrets file, and one real start of a bus, an agent and the demo."""

from __future__ import annotations

import json
import re
import signal
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobstreamer.common.cli.main import cli
from jobstreamer.common.cli.up import ADMIN_PASSWORD, SECRET, UP_ENV, cluster_secrets

from ._processes import jobstreamer
from .conftest import VARIABLES


def test_secrets_are_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = cluster_secrets(tmp_path, {})
    assert len(first[SECRET]) >= 32 and first[ADMIN_PASSWORD]
    assert stat.S_IMODE((tmp_path / UP_ENV).stat().st_mode) == 0o600
    assert cluster_secrets(tmp_path, {}) == first


def test_secrets_from_the_environment_win_and_are_never_written(tmp_path: Path) -> None:
    given = {SECRET: "from-env-secret", ADMIN_PASSWORD: "from-env-password"}
    assert cluster_secrets(tmp_path, given) == given
    assert not (tmp_path / UP_ENV).exists()
    # Half given: only the other half is generated and saved.
    assert cluster_secrets(tmp_path, {SECRET: "from-env-secret"})[SECRET] == "from-env-secret"
    saved = (tmp_path / UP_ENV).read_text()
    assert "from-env" not in saved and ADMIN_PASSWORD in saved and SECRET not in saved.replace(ADMIN_PASSWORD, "")


@pytest.mark.netns  # the bus browses for agents with zeroconf; fixed ports stay private
def test_up_starts_a_cluster_that_runs_the_demo_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    data, config = tmp_path / "up", tmp_path / "config"
    env = {name: "" for name in VARIABLES} | {"XDG_CONFIG_HOME": str(config)}
    with jobstreamer("up", "--port", "0", "--agents", "1", "--data", str(data), env=env) as up:
        up.expect("Press Ctrl-C to stop")
        match = re.search(r"JOBSTREAMER_BUS=(\S+) JOBSTREAMER_PASSWORD=(\S+) \S*jobstreamer (run .*)$", up.output, re.M)
        assert match, up.output
        bus, password, command = match.groups()
        result = CliRunner().invoke(
            cli,
            [*command.split()[:-1], "--wait=30", "--json"],
            env={**env, "JOBSTREAMER_BUS": bus, "JOBSTREAMER_PASSWORD": password},
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["execution/result"] == {"greeting": "hello, you"}
        assert up.interrupt(signal.SIGINT) == 0
    secret = cluster_secrets(data, {})[SECRET]
    assert secret not in up.output
    for log in (data / "logs").iterdir():
        assert secret not in log.read_text() and password not in log.read_text()
        assert "Traceback" not in log.read_text()
