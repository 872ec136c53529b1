"""docker-compose.yml and the Dockerfile name only commands and options the CLI has.

No Docker engine runs here, so the file is checked against the CLI instead:
every service's command parses as `jobstreamer ...` would parse it, and its
settings resolve with the secrets compose passes in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from jobstreamer.common.cli.main import cli
from jobstreamer.common.settings import AGENT_SETTINGS, BUS_SETTINGS, resolve

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
TABLES = {"control-bus": BUS_SETTINGS, "agent": AGENT_SETTINGS}
# ${NAME:?message}: compose refuses to start without NAME; no default value.
REQUIRED = re.compile(r"\$\{(JOBSTREAMER_[A-Z_]+):\?[^}]+\}")

by_service = pytest.mark.parametrize("name", sorted(SERVICES))


def _command(name: str) -> tuple[str, list[str]]:
    command, *args = SERVICES[name]["command"]
    return command, args


def test_one_bus_and_two_agents() -> None:
    commands = sorted(_command(name)[0] for name in SERVICES)
    assert commands == ["agent", "agent", "control-bus"]


@by_service
def test_the_command_exists(name: str) -> None:
    command, _ = _command(name)
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output


@by_service
def test_every_option_is_accepted_and_every_value_valid(name: str) -> None:
    command, args = _command(name)
    sub = cli.commands[command]
    with cli.make_context("jobstreamer", [command, *args], resilient_parsing=False) as parent:
        context = sub.make_context(command, args, parent=parent)  # raises on an unknown option
    environment = {key: "set-by-compose" for key in SERVICES[name]["environment"]}
    settings = resolve(TABLES[command], cli=context.params, env=environment)
    assert settings.secret is not None
    if command == "agent":
        assert settings.control_bus == "ws://bus:45102/join"  # no multicast in compose networks


@by_service
def test_secrets_come_from_the_environment_without_defaults(name: str) -> None:
    environment = SERVICES[name]["environment"]
    for key, value in environment.items():
        match = REQUIRED.fullmatch(value)
        assert match and match[1] == key, f"{name}: {key}={value!r} must be ${{{key}:?...}}"
    expected = {"JOBSTREAMER_SECRET", "JOBSTREAMER_ADMIN_PASSWORD"} if name == "bus" else {"JOBSTREAMER_SECRET"}
    assert set(environment) == expected


def test_the_bus_port_matches_the_published_one() -> None:
    command, args = _command("bus")
    port = args[args.index("--port") + 1]
    assert SERVICES["bus"]["ports"] == [f"{port}:{port}"]
    assert f"127.0.0.1:{port}/healthcheck" in " ".join(SERVICES["bus"]["healthcheck"]["test"])


def test_the_image_runs_the_cli() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["jobstreamer"]' in dockerfile
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
