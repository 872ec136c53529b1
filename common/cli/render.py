"""What the CLI prints: readable tables for people, EDN or JSON for machines.

Data goes to stdout; notes, progress bars and spinners go to stderr, so
`jobstreamer ... --json | jq` always reads clean JSON.  Machine output is the
bus's own data, unchanged: EDN as the bus wrote it, JSON by the wire's JSON
view (common/wire/json.py).  A stream (log lines) is one document a line.
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import click
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from jobstreamer.common import edn
from jobstreamer.common.edn import Keyword
from jobstreamer.common.wire import json as edn_json


class Format(enum.Enum):
    TEXT = "text"
    EDN = "edn"
    JSON = "json"


# Colours for the execution and agent states people scan for.
_STYLES = {
    "completed": "green",
    "ready": "green",
    "failed": "bold red",
    "abandoned": "red",
    "gone": "red",
    "unknown": "red",
    "stopped": "yellow",
    "stopping": "yellow",
    "blocked": "yellow",
    "started": "cyan",
    "starting": "cyan",
    "queued": "blue",
}


def cell(value: Any) -> str:
    """A value as a table cell: keywords by name, instants in local time."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Keyword):
        return value.full
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    return edn.dumps(value)


def styled(value: Any) -> Text:
    """A state, coloured by what it means."""
    text = cell(value)
    return Text(text, style=_STYLES.get(text, ""))


Column = tuple[str, Callable[[Mapping[Any, Any]], Any]]


def key(name: str) -> Callable[[Mapping[Any, Any]], Any]:
    """A column getter for the keyword `name` (e.g. "job/name")."""
    keyword = Keyword(name)
    return lambda row: row.get(keyword)


def table(rows: Sequence[Mapping[Any, Any]], columns: Sequence[Column], *, empty: str) -> RenderableType:
    if not rows:
        return Text(empty, style="dim")
    grid = Table(box=None, header_style="bold", pad_edge=False)
    for header, _ in columns:
        grid.add_column(header, overflow="fold")
    for row in rows:
        grid.add_row(*(_as_cell(get(row)) for _, get in columns))
    return grid


def _as_cell(value: Any) -> RenderableType:
    return value if isinstance(value, Text) else Text(cell(value))


def machine_text(data: Any, fmt: Format, *, compact: bool = False) -> str:
    """`data` as EDN or JSON text."""
    if fmt is Format.EDN:
        return edn.dumps(data)
    if compact:
        return edn_json.dumps(data)
    return json.dumps(edn_json.to_json(data), indent=2, ensure_ascii=False)


class Output:
    """Where a command's results and notes go, in the format asked for."""

    def __init__(self, fmt: Format = Format.TEXT) -> None:
        self.format = fmt
        # Consoles look up sys.stdout/stderr when they print, so click's test
        # runner sees the output.
        self.out = Console(highlight=False, soft_wrap=False)
        self.err = Console(stderr=True, highlight=False)

    @property
    def for_machines(self) -> bool:
        return self.format is not Format.TEXT

    def emit(self, data: Any, view: Callable[[Any], RenderableType]) -> None:
        """`data` for machines, or `view(data)` for people."""
        if self.for_machines:
            click.echo(machine_text(data, self.format))
        else:
            self.out.print(view(data))

    def emit_line(self, data: Any, view: Callable[[Any], RenderableType]) -> None:
        """One item of a stream: a one-line document for machines."""
        if self.for_machines:
            click.echo(machine_text(data, self.format, compact=True))
        else:
            self.out.print(view(data), soft_wrap=True)

    @contextlib.contextmanager
    def busy(self, message: str) -> Iterator[None]:
        """A spinner on stderr while a person waits; nothing when stderr is no terminal."""
        if not self.err.is_terminal:
            yield
            return
        with self.err.status(message + "…"):
            yield

    def note(self, message: str) -> None:
        """A remark for a person, never mixed into the data."""
        click.echo(message, err=True)
