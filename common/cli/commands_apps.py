"""`jobstreamer apps ...` and `jobstreamer jobs ...`: applications and their job definitions."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from . import _apps, views
from ._session import Session, output_options, pass_session
from .client import path

_PATH = click.Path(exists=True, path_type=Path)


@click.group("apps")
def apps() -> None:
    """Applications: upload a source tree, a zip or a wheel; list them."""


@contextlib.contextmanager
def _upload_progress(session: Session, total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr while a person watches; nothing in a pipe."""
    console = session.output.err
    if not console.is_terminal:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda sent: progress.update(task, completed=sent)


@apps.command("upload")
@click.argument("source", type=_PATH, metavar="DIR|FILE")
@click.option("--name", help="The application's name [default: the one the bundle declares].")
@output_options
@pass_session
def apps_upload(session: Session, source: Path, name: str | None) -> None:
    """Upload an application: a directory (zipped on the fly), a .zip of one, or a wheel.

    An upload of unchanged code keeps the current version: versions are content hashes.
    """
    payload = _apps.bundle_bytes(source)
    client = session.client()
    with _upload_progress(session, len(payload), f"uploading {source.name}") as progress:
        reply = _apps.upload(client, payload, name=name, progress=progress)
    session.output.emit(reply, views.uploaded)


@apps.command("list")
@output_options
@pass_session
def apps_list(session: Session) -> None:
    """The applications on the bus, with their current version and tasks."""
    session.output.emit(session.client().get("/apps"), views.apps)


@click.group("jobs")
def jobs() -> None:
    """Job definitions: put them from EDN or JSON files; list an application's jobs."""


@jobs.command("put")
@click.argument("file", type=_PATH, metavar="FILE.edn")
@click.option("--app", required=True, help="The application the jobs belong to.")
@output_options
@pass_session
def jobs_put(session: Session, file: Path, app: str) -> None:
    """Create or replace jobs from FILE (EDN, or JSON for .json): one job map or a vector of them."""
    replies = _apps.put_jobs(session.client(), app, _apps.read_jobs(file))
    session.output.emit(replies, views.jobs_put)


@jobs.command("list")
@click.argument("app")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@output_options
@pass_session
def jobs_list(session: Session, app: str, limit: int) -> None:
    """The jobs of APP, with their latest execution."""
    session.output.emit(session.client().get(path(app, "jobs"), limit=limit), views.jobs)


COMMANDS = (apps, jobs)
