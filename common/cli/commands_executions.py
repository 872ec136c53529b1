"""`jobstreamer run`, `executions`, `logs` and `stop`: executions of a job."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import click

from jobstreamer.common import edn
from jobstreamer.common.edn import Keyword, Symbol
from jobstreamer.common.wire.json import is_keyword_name

from . import views
from ._session import Session, output_options, pass_session
from .client import BusClient, path
from .render import cell

F = TypeVar("F", bound=Callable[..., Any])

# API.md, "States": an execution never leaves these.
TERMINAL = frozenset(Keyword(s) for s in ("completed", "failed", "stopped", "abandoned"))
COMPLETED = Keyword("completed")
_ID, _STATUS = Keyword("execution/id"), Keyword("execution/batch-status")
_LINES, _NEXT = Keyword("log/lines"), Keyword("log/next-offset")

# Exit statuses of `run --wait`, besides 0 for :completed.
EXIT_FAILED = 1
EXIT_STILL_RUNNING = 124  # as timeout(1) does

# One `?wait=` request blocks the bus's handler at most this long; longer
# waits take several, so no proxy or idle timeout cuts a long one.
WAIT_CHUNK = 30.0


def parse_value(text: str) -> Any:
    """A parameter's value: its EDN reading when it has one (n=3 is 3), else the text itself.

    A bare word reads as an EDN symbol, which no task wants: name=you is "you".
    """
    if not text.strip():
        return text
    try:
        value = edn.loads(text)
    except edn.EDNDecodeError:
        return text
    return text if isinstance(value, Symbol) else value


def parse_params(pairs: Sequence[str]) -> dict[Keyword, Any]:
    params: dict[Keyword, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not is_keyword_name(name):
            raise click.UsageError(f"parameter {pair!r} is not NAME=VALUE (VALUE is EDN, or else text)")
        params[Keyword(name)] = parse_value(text)
    return params


class _Seconds(click.ParamType):
    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        if "=" in str(value):
            self.fail(
                f"{value!r} is a parameter, not seconds: put --wait after the parameters, "
                "or give it a value (--wait=60)", param, ctx,
            )
        try:
            seconds = float(value)
        except ValueError:
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not seconds >= 0:
            self.fail("expected a number of seconds of at least 0", param, ctx)
        return seconds


def _an_execution(command: F) -> F:
    """The arguments APP JOB ID naming one execution."""
    for argument in reversed((
        click.argument("app"),
        click.argument("job"),
        click.argument("execution_id", metavar="ID", type=click.IntRange(0)),
    )):
        command = argument(command)
    return command


def _execution_path(app: str, job: str, execution_id: int, *more: str) -> str:
    return path(app, "job", job, "execution", execution_id, *more)


def _await_end(client: BusClient, app: str, job: str, execution: Any, seconds: float) -> Any:
    """The execution once it ends or `seconds` pass, by `?wait=` requests of up to WAIT_CHUNK."""
    deadline = time.monotonic() + seconds
    while execution.get(_STATUS) not in TERMINAL:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        chunk = min(left, WAIT_CHUNK)
        started = time.monotonic()
        execution = client.request(
            "GET", _execution_path(app, job, execution[_ID]), query={"wait": f"{chunk:g}"}, timeout=chunk + 30
        )
        if time.monotonic() - started < 0.05 and execution.get(_STATUS) not in TERMINAL:
            time.sleep(0.2)  # a bus that answers at once rather than waiting: don't spin
    return execution


@click.command("run")
@click.argument("app")
@click.argument("job")
@click.argument("params", nargs=-1, metavar="[NAME=VALUE]...")
@click.option("--wait", type=_Seconds(), is_flag=False, flag_value=math.inf, default=None, metavar="[SECONDS]",
              help="Wait for the execution to end (at most SECONDS); exit 1 if it did not complete, "
                   f"{EXIT_STILL_RUNNING} if it is still running.")
@output_options
@pass_session
@click.pass_context
def run(ctx: click.Context, session: Session, app: str, job: str, params: Sequence[str],
        wait: float | None) -> None:
    """Run JOB of APP now, with parameters NAME=VALUE (VALUE is read as EDN when it can be: n=3 is a number)."""
    arguments = parse_params(params)
    client = session.client()
    route = path(app, "job", job, "executions")
    if wait is None:
        session.output.emit(client.post(route, arguments), views.execution)
        return
    with session.output.busy(f"running {app}/{job}"):
        first = min(wait, WAIT_CHUNK)
        execution = client.request(
            "POST", route, query={"wait": f"{first:g}"}, data=arguments, timeout=first + 30
        )
        execution = _await_end(client, app, job, execution, wait - first)
    session.output.emit(execution, views.execution)
    status = execution.get(_STATUS)
    if status not in TERMINAL:
        session.output.note(f"execution {execution.get(_ID)} is still {cell(status)} after {wait:g} s")
        ctx.exit(EXIT_STILL_RUNNING)
    if status != COMPLETED:
        ctx.exit(EXIT_FAILED)


@click.command("executions")
@click.argument("app")
@click.argument("job")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@output_options
@pass_session
def executions(session: Session, app: str, job: str, limit: int) -> None:
    """The executions of JOB, newest first."""
    reply = session.client().get(path(app, "job", job, "executions"), limit=limit)
    session.output.emit(reply, views.executions)


@click.command("execution")
@_an_execution
@output_options
@pass_session
def execution(session: Session, app: str, job: str, execution_id: int) -> None:
    """One execution: its state, result and steps."""
    session.output.emit(session.client().get(_execution_path(app, job, execution_id)), views.execution)


# How often `logs --follow` asks for new lines while the execution runs.  The
# bus will stream them (?follow=1, issue #6); until then a person watching
# cannot tell half a second from live.
FOLLOW_INTERVAL = 0.5


def _log_pages(client: BusClient, app: str, job: str, execution_id: int, offset: int,
               follow: bool) -> Iterator[list[Any]]:
    """Pages of log lines from `offset`; with `follow`, until the execution has ended."""
    route = _execution_path(app, job, execution_id, "log")
    ended = False
    while True:
        page = client.get(route, offset=offset)
        lines, next_offset = list(page.get(_LINES, ())), page.get(_NEXT, offset)
        if lines and next_offset > offset:
            yield lines
            offset = next_offset
            continue
        if not follow or ended:
            return
        # The last lines may land after the end is recorded: one more page after it.
        ended = client.get(_execution_path(app, job, execution_id)).get(_STATUS) in TERMINAL
        if not ended:
            time.sleep(FOLLOW_INTERVAL)


@click.command("logs")
@_an_execution
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the execution ends.")
@click.option("--offset", type=click.IntRange(0), default=0, help="Start at this line offset.")
@output_options
@pass_session
def logs(session: Session, app: str, job: str, execution_id: int, follow: bool, offset: int) -> None:
    """The log lines of an execution (one EDN or JSON document a line with --edn/--json)."""
    for lines in _log_pages(session.client(), app, job, execution_id, offset, follow):
        for line in lines:
            session.output.emit_line(line, views.log_line)


@click.command("stop")
@_an_execution
@output_options
@pass_session
def stop(session: Session, app: str, job: str, execution_id: int) -> None:
    """Stop a running execution (its worker is killed if the task does not return)."""
    session.output.emit(session.client().put(_execution_path(app, job, execution_id, "stop")), views.execution)


COMMANDS = (run, executions, execution, logs, stop)
