"""`jobstreamer agents` and `jobstreamer login`."""

from __future__ import annotations

import click

from . import views
from ._session import Session, output_options, pass_session


@click.command("agents")
@output_options
@pass_session
def agents(session: Session) -> None:
    """The agents that joined the bus, with their state and running executions."""
    session.output.emit(session.client().get("/agents"), views.agents)


@click.command("login")
@click.option("--user", help="The user to log in as [default: JOBSTREAMER_USER, else admin].")
@pass_session
def login(session: Session, user: str | None) -> None:
    """Log in to the bus and save the token for later commands (readable by you alone).

    The password comes from JOBSTREAMER_PASSWORD (or JOBSTREAMER_ADMIN_PASSWORD),
    else it is asked for.
    """
    user = user or session.user()
    password = session.password() or click.prompt(f"password for {user}", hide_input=True)
    client = session.client()
    tokens = session.tokens()
    tokens.save(client.url, client.login(user, password))
    session.output.note(f"logged in to {client.url} as {user}; token saved in {tokens.path}")


COMMANDS = (agents, login)
