"""The bus's domain layer on a real store, and small application bundles for it."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobstreamer.common.edn import Keyword
from jobstreamer.control_bus._store import BusStore
from jobstreamer.control_bus.apps import Apps
from jobstreamer.control_bus.executions import Executions
from jobstreamer.control_bus.jobs import Jobs
from jobstreamer.control_bus.users import ScryptParams, Users
from tests._apps import HELLO

# Cheap enough for tests; the parameters travel with each hash.
FAST_SCRYPT = ScryptParams(n=2**8, r=8, p=1)


@dataclass(frozen=True, slots=True)
class Bus:
    store: BusStore
    apps: Apps
    jobs: Jobs
    executions: Executions
    users: Users


@asynccontextmanager
async def bus(data: Path, url: str = ":memory:") -> AsyncIterator[Bus]:
    """Every domain object over one store, as the control bus wires them."""
    async with BusStore.open(url) as store:
        yield Bus(
            store=store,
            apps=Apps(store, data_dir=data),
            jobs=Jobs(store),
            executions=Executions(store),
            users=Users(store, scrypt=FAST_SCRYPT),
        )


def zipped(files: dict[str, str]) -> bytes:
    """A zip of `files` (relative path -> text), as an upload would be."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return buffer.getvalue()


def hello_zip(**changes: str) -> bytes:
    """The hello app of tests/_apps.py, with `tasks=...` etc. replacing modules."""
    return zipped({**HELLO, **{f"hello/{name}.py": text for name, text in changes.items()}})


def k(**values: Any) -> dict[Keyword, Any]:
    """A map with keyword keys: k(**{"job/name": "x"})."""
    return {Keyword(key): value for key, value in values.items()}


def greet_job(name: str = "greet") -> dict[Keyword, Any]:
    """A one-step job running hello.tasks:run."""
    step = k(**{"step/name": "run", "step/task": "hello.tasks:run"})
    return k(**{"job/name": name, "job/steps": [step]})


async def hello_with_job(b: Bus, job: str = "greet") -> str:
    """Register hello and put a one-step job; returns the version."""
    version = await b.apps.register(hello_zip(), name="hello")
    await b.jobs.put("hello", greet_job(job))
    return str(version[Keyword("application/version")])
