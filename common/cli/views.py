"""How people see the bus's data: one view per kind of thing (apps, jobs, executions...).

Each view takes the bus's reply as it is (EDN data) and returns something
rich can print; `--edn` and `--json` bypass them entirely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from jobstreamer.common.edn import Keyword

from .render import cell, key, styled, table

Row = Mapping[Any, Any]


def _k(name: str) -> Keyword:
    return Keyword(name)


def results(reply: Any) -> list[Any]:
    """The items of a list reply, whether a bare vector or a page `{:results [...]}`."""
    if isinstance(reply, Mapping):
        return list(reply.get(_k("results"), ()))
    return list(reply or ())


def _short(version: Any) -> str:
    return str(version)[:12] if version else ""


def _count(name: str) -> Any:
    keyword = _k(name)
    return lambda row: len(row.get(keyword) or ())


def _duration(row: Row, start: str, end: str) -> str:
    begun, ended = row.get(_k(start)), row.get(_k(end))
    if not isinstance(begun, datetime) or not isinstance(ended, datetime):
        return ""
    seconds = (ended - begun).total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _status(name: str) -> Any:
    keyword = _k(name)
    return lambda row: styled(row.get(keyword))


def _pairs(rows: Sequence[tuple[str, Any]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for label, value in rows:
        if value is None or value == "":
            continue  # not there yet (no agent while queued, no result while running)
        grid.add_row(label, value if isinstance(value, Text) else Text(cell(value)))
    return grid


# Applications ------------------------------------------------------------------


def apps(reply: Any) -> RenderableType:
    return table(
        results(reply),
        [
            ("NAME", key("application/name")),
            ("VERSION", lambda r: _short(r.get(_k("application/version")))),
            ("UPLOADED", key("version/uploaded")),
            ("TASKS", lambda r: ", ".join(r.get(_k("application/tasks")) or ())),
        ],
        empty="no applications yet: upload one with `jobstreamer apps upload DIR`",
    )


def uploaded(reply: Row) -> RenderableType:
    new = reply.get(_k("version/new?"))
    verdict = "a new version" if new else "unchanged (the bus has this version already)"
    return _pairs([
        ("application", reply.get(_k("application/name"))),
        ("version", reply.get(_k("application/version"))),
        ("", verdict),
        ("tasks", ", ".join(reply.get(_k("application/tasks")) or ()) or "none found"),
    ])


# Jobs ------------------------------------------------------------------------------


def _latest_status(row: Row) -> Text:
    latest = row.get(_k("job/latest-execution")) or {}
    return styled(latest.get(_k("execution/batch-status")))


def jobs(reply: Any) -> RenderableType:
    return table(
        results(reply),
        [
            ("NAME", key("job/name")),
            ("STEPS", lambda r: " → ".join(str(s.get(_k("step/name"))) for s in r.get(_k("job/steps")) or ())),
            ("EXCLUSIVE", key("job/exclusive?")),
            ("LATEST", _latest_status),
        ],
        empty="no jobs: define one with `jobstreamer jobs put FILE.edn --app APP`",
    )


def jobs_put(replies: Sequence[Row]) -> RenderableType:
    return Group(*(Text(f"job {r.get(_k('job/name'))} saved") for r in replies))


# Executions ------------------------------------------------------------------------


def executions(reply: Any) -> RenderableType:
    return table(
        results(reply),
        [
            ("ID", key("execution/id")),
            ("STATUS", _status("execution/batch-status")),
            ("EXIT", key("execution/exit-status")),
            ("STARTED", key("execution/start-time")),
            ("DURATION", lambda r: _duration(r, "execution/start-time", "execution/end-time")),
            ("AGENT", lambda r: (r.get(_k("execution/agent")) or {}).get(_k("agent/name"))),
        ],
        empty="no executions yet",
    )


def execution(reply: Row) -> RenderableType:
    agent = reply.get(_k("execution/agent")) or {}
    summary = _pairs([
        ("execution", reply.get(_k("execution/id"))),
        ("job", f"{reply.get(_k('application/name'))}/{reply.get(_k('job/name'))}"),
        ("status", styled(reply.get(_k("execution/batch-status")))),
        ("exit status", reply.get(_k("execution/exit-status"))),
        ("agent", agent.get(_k("agent/name"))),
        ("duration", _duration(reply, "execution/start-time", "execution/end-time")),
        ("result", reply.get(_k("execution/result"))),
    ])
    steps = reply.get(_k("execution/step-executions")) or ()
    if not steps:
        return summary
    step_table = table(
        steps,
        [
            ("STEP", key("step-execution/step-name")),
            ("STATUS", _status("step-execution/batch-status")),
            ("DURATION", lambda r: _duration(r, "step-execution/start-time", "step-execution/end-time")),
            ("EXCEPTION", key("step-execution/exception")),
        ],
        empty="",
    )
    return Group(summary, Text(""), step_table)


def log_line(line: Row) -> RenderableType:
    time = line.get(_k("log/time"))
    level = cell(line.get(_k("log/level"))).upper()
    step = line.get(_k("log/step"))
    text = Text()
    text.append(cell(time) + " ", style="dim")
    text.append(f"{level:<7} ", style={"ERROR": "red", "WARNING": "yellow"}.get(level, ""))
    if step:
        text.append(f"[{step}] ", style="cyan")
    text.append(cell(line.get(_k("log/message"))))
    return text


# Agents ------------------------------------------------------------------------------


def agents(reply: Any) -> RenderableType:
    return table(
        results(reply),
        [
            ("NAME", key("agent/name")),
            ("ID", lambda r: str(r.get(_k("agent/instance-id")) or "")[:8]),
            ("ADDRESS", lambda r: f"{r.get(_k('agent/host'))}:{r.get(_k('agent/port'))}"),
            ("STATE", _status("agent/state")),
            ("RUNNING", _count("agent/executions")),
        ],
        empty="no agents have joined this bus",
    )
