"""Uploading an application and putting its jobs: shared by `apps upload`, `jobs put` and `up`."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobstreamer.common import edn
from jobstreamer.common.errors import BadRequest
from jobstreamer.common.wire import json as edn_json

from .client import ZIP, BusClient, path


def bundle_bytes(source: Path) -> bytes:
    """The upload for `source`: a directory zipped in memory, or a zip or wheel as it is."""
    if source.is_dir():
        # The bus's own function, so a directory zips the way the bus reads one;
        # from the bundle reader, which imports no store (~170 ms).
        from jobstreamer.control_bus._bundle import zip_directory

        return zip_directory(source)
    if not source.is_file():
        raise BadRequest(f"{source}: no such file or directory")
    if not zipfile.is_zipfile(source):
        raise BadRequest(f"{source}: expected a directory, a .zip of one, or a wheel")
    return source.read_bytes()


def upload(
    client: BusClient, payload: bytes, *, name: str | None = None, progress: Callable[[int], None] | None = None
) -> Any:
    """POST /apps: the registered application (API.md)."""
    return client.request(
        "POST", "/apps", query={"name": name}, body=payload, content_type=ZIP, progress=progress, timeout=300
    )


def read_jobs(source: Path) -> list[Any]:
    """The job definitions in an EDN or JSON file: one map, or a vector of them."""
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise BadRequest(f"{source}: {error.strerror or error}") from None
    try:
        data = edn_json.loads(text) if source.suffix == ".json" else edn.loads(text)
    except (ValueError, edn.EDNDecodeError) as error:
        kind = "JSON" if source.suffix == ".json" else "EDN"
        raise BadRequest(f"{source}: not valid {kind}: {error}") from None
    jobs = list(data) if isinstance(data, (list, tuple)) else [data]
    if not jobs or not all(isinstance(job, dict) for job in jobs):
        raise BadRequest(f"{source}: expected a job map or a vector of job maps")
    return jobs


def put_jobs(client: BusClient, app: str, jobs: list[Any]) -> list[Any]:
    """POST /:app/jobs for each definition (an upsert by :job/name): the bus's replies."""
    return [client.post(path(app, "jobs"), job) for job in jobs]

