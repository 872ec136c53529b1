"""What every command gets: the environment main.py read, the bus URL, the output.

Commands take the environment from here rather than from os.environ, so
main.py stays the one place that reads it (STYLE.md, "Configuration").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from ._config import TokenFile, config_dir
from .client import BusClient, Credentials
from .render import Format, Output

F = TypeVar("F", bound=Callable[..., Any])

TOKENS_FILE = "tokens.edn"
_FORMAT_KEY = "jobstreamer.format"


@dataclass
class Session:
    env: Mapping[str, str]
    bus: str
    output: Output = field(default_factory=Output)

    def password(self) -> str | None:
        """JOBSTREAMER_PASSWORD, falling back to JOBSTREAMER_ADMIN_PASSWORD (API.md, "Secrets")."""
        return self.env.get("JOBSTREAMER_PASSWORD") or self.env.get("JOBSTREAMER_ADMIN_PASSWORD") or None

    def user(self) -> str:
        return self.env.get("JOBSTREAMER_USER") or "admin"

    def tokens(self) -> TokenFile:
        return TokenFile(config_dir(self.env) / TOKENS_FILE)

    def client(self) -> BusClient:
        credentials = Credentials(
            token=self.env.get("JOBSTREAMER_TOKEN") or None, user=self.user(), password=self.password()
        )
        return BusClient(self.bus, credentials=credentials, tokens=self.tokens())


def format_given(ctx: click.Context) -> Format:
    """The format `--edn`/`--json` asked for so far (the group's flags parse before its Session exists)."""
    fmt: Format = ctx.meta.get(_FORMAT_KEY, Format.TEXT)
    return fmt


def _set_format(fmt: Format) -> Callable[[click.Context, click.Parameter, bool], None]:
    def callback(ctx: click.Context, _: click.Parameter, given: bool) -> None:
        if given:
            ctx.meta[_FORMAT_KEY] = fmt
            session = ctx.find_object(Session)
            if session is not None:
                session.output.format = fmt

    return callback


def output_options(command: F) -> F:
    """`--edn` and `--json`, accepted by the group and by every command that prints data."""
    for fmt in (Format.JSON, Format.EDN):
        command = click.option(
            f"--{fmt.value}",
            is_flag=True,
            expose_value=False,
            callback=_set_format(fmt),
            help=f"Print {fmt.name} for machines instead of a table.",
        )(command)
    return command


pass_session = click.make_pass_decorator(Session)
