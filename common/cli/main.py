"""The `jobstreamer` command group, and the one place the CLI reads the environment."""

from __future__ import annotations

import os
from typing import Any

import click

from jobstreamer.common.errors import JobstreamerError

from . import commands_apps, commands_cluster, commands_executions, commands_servers
from ._session import Session, format_given, output_options
from .client import DEFAULT_BUS, normalise_url
from .render import Output


class _Group(click.Group):
    """Turns a JobstreamerError into one line on stderr and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except JobstreamerError as error:
            raise click.ClickException(error.message) from None


def _bus_url(_: click.Context, __: click.Parameter, value: str) -> str:
    try:
        return normalise_url(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--bus",
    envvar="JOBSTREAMER_BUS",
    default=DEFAULT_BUS,
    show_default=True,
    callback=_bus_url,
    metavar="URL",
    help="The control bus the client commands talk to [env: JOBSTREAMER_BUS].",
)
@output_options
@click.version_option(package_name="jobstreamer", prog_name="jobstreamer")
@click.pass_context
def cli(ctx: click.Context, bus: str) -> None:
    """jobstreamer: a control bus, agents that run jobs, and a client for both.

    Start with `jobstreamer up`: a bus and two agents on this machine, with a
    demo application.
    """
    ctx.obj = Session(env=os.environ, bus=bus, output=Output(format_given(ctx)))


for module in (commands_servers, commands_apps, commands_executions, commands_cluster):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    cli(prog_name="jobstreamer")
