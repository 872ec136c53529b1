"""`jobstreamer control-bus`, `jobstreamer agent` and `jobstreamer up`.

The server commands only resolve their settings and hand them to the same
objects the tests start (STYLE.md, "Keep the CLI thin").  The bus and the
agent are imported when their command runs, so the client commands start
without loading them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from jobstreamer.common.settings import AGENT_SETTINGS, BUS_SETTINGS, Setting, click_options, resolve

from ._session import Session, pass_session
from .up import DEFAULT_AGENTS, DEFAULT_DATA, DEFAULT_PORT, LocalCluster, die_with_parent


def _serve(
    session: Session,
    table: Sequence[Setting],
    options: Mapping[str, Any],
    run: Callable[[Mapping[str, Any]], Coroutine[Any, Any, None]],
) -> None:
    settings = resolve(table, cli=options, env=session.env)
    die_with_parent(session.env)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # A line per request (heartbeat fetches, log pages) buries what matters.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # `run` makes SIGTERM stop the server cleanly (common/serve.py), and
    # asyncio.run turns SIGINT into cancelling it; either way the same context
    # managers close.  Until `run` installs its handler, as the loop starts,
    # SIGTERM is a KeyboardInterrupt too, so a stop right after start is graceful.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        asyncio.run(run(settings))
    except KeyboardInterrupt:
        pass
    except OSError as error:  # a port in use, a data directory it may not write: the user's to fix
        raise click.ClickException(error.strerror or str(error)) from None


@click.command("control-bus")
@click_options(BUS_SETTINGS)
@pass_session
def control_bus(session: Session, **options: Any) -> None:
    """Run a control bus: the REST API, the web console, and the links to agents."""
    from jobstreamer.control_bus.app import run_bus

    _serve(session, BUS_SETTINGS, options, run_bus)


@click.command("agent")
@click_options(AGENT_SETTINGS)
@pass_session
def agent(session: Session, **options: Any) -> None:
    """Run an agent: it finds a bus (or joins --control-bus) and runs executions for it."""
    from jobstreamer.agent.app import run_agent

    _serve(session, AGENT_SETTINGS, options, run_agent)


@click.command("up")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="The bus's port on 127.0.0.1; 0 picks a free one.")
@click.option("--agents", default=DEFAULT_AGENTS, show_default=True, type=click.IntRange(0, 64),
              help="How many local agents to start.")
@click.option("--data", default=DEFAULT_DATA, show_default=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the bus's store, the agents and the generated secrets (up.env).")
@pass_session
def up(session: Session, port: int, agents: int, data: Path) -> None:
    """Start a bus and local agents on this machine, load the demo app, and wait for Ctrl-C."""
    with LocalCluster(data=data.expanduser(), port=port, agents=agents, env=session.env,
                      output=session.output) as cluster:
        cluster.wait()


COMMANDS = (control_bus, agent, up)
