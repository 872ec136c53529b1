"""Fixtures: a fake bus, and the CLI invoked in-process with an isolated environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from click.testing import CliRunner, Result

from jobstreamer.common.cli.main import cli

from ._fake_bus import PASSWORD, FakeBus, running

# Variables the CLI reads; each test starts with none of them from the outer shell.
VARIABLES = (
    "JOBSTREAMER_BUS", "JOBSTREAMER_TOKEN", "JOBSTREAMER_USER", "JOBSTREAMER_PASSWORD",
    "JOBSTREAMER_ADMIN_PASSWORD", "JOBSTREAMER_SECRET", "XDG_CONFIG_HOME",
)


class Invoke(Protocol):
    def __call__(self, *args: str, input: str | None = None, **env: str | None) -> Result: ...


@pytest.fixture
def bus() -> Iterator[FakeBus]:
    with running() as fake:
        yield fake


@pytest.fixture
def config_home(tmp_path: Path) -> Path:
    return tmp_path / "config"


@pytest.fixture
def jobstreamer(bus: FakeBus, config_home: Path) -> Invoke:
    """`jobstreamer ARGS` against the fake bus, logged in by password unless told otherwise."""

    def invoke(*args: str, input: str | None = None, **env: str | None) -> Result:
        base: dict[str, str | None] = dict.fromkeys(VARIABLES)
        base |= {"JOBSTREAMER_BUS": bus.url, "JOBSTREAMER_PASSWORD": PASSWORD, "XDG_CONFIG_HOME": str(config_home)}
        return CliRunner().invoke(cli, list(args), env=base | env, input=input, prog_name="jobstreamer")

    return invoke
