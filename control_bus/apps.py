"""The applications registry: uploaded bundles, their versions and tasks.

An upload is read into a `Bundle` (control_bus/_bundle.py), checked (every
`.py` file compiles; the name is valid), its tasks are found by reading the
AST (nothing from the upload is ever imported on the bus), its bytes are
kept as `<data>/bundles/<hash>.zip`, and the version is transacted and made
current.  The version is the content hash, so an identical re-upload changes
nothing, and a refused upload leaves the previous version current.

Versions are never deleted (executions stay pinned to theirs); deleting an
application removes it, its jobs and their executions, and leaves its
versions and bundle files for a later upload of the same name to find.
"""

from __future__ import annotations

import ast
import asyncio
import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import BadRequest, NotFound
from jobstreamer.common.store import Db

from ._bundle import Bundle, read_bundle, zip_directory
from ._lookup import app_eid, check_name, now
from ._store import BusStore
from . import executions

# Bundles parsed from disk and kept for the /code server; a handful of
# versions is what a cluster runs at once.
DEFAULT_BUNDLE_CACHE = 16

_NAME = Keyword("application/name")
_CURRENT = Keyword("application/current")
_VERSION = Keyword("application/version")
_VERSIONS = Keyword("application/versions")
_APP_TASKS = Keyword("application/tasks")
_KEY = Keyword("version/key")
_UPLOADED = Keyword("version/uploaded")
_SIZE = Keyword("version/size")
_TASKS = Keyword("version/tasks")
_MODULES = Keyword("version/modules")
_IS_CURRENT = Keyword("version/current?")
_IS_NEW = Keyword("version/new?")
_RETRACT_ENTITY = Keyword("db/retractEntity")

View = dict[Keyword, Any]
# An alias, because `Apps.list` shadows the builtin in the class body.
Views = list[View]

_VERSION_PATTERN = (
    "[:application/version :version/uploaded :version/size :version/modules :version/tasks]"
)


class InvalidSource(BadRequest):
    """A `.py` file of an upload does not compile; `path` and `line` say where."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        where = f"{path}, line {line}" if line else path
        super().__init__(f"{where}: {reason}", field="file")
        self.path = path
        self.line = line


@dataclass(frozen=True, slots=True)
class _Upload:
    """A validated upload, its bytes already on disk."""

    name: str
    bundle: Bundle
    size: int
    tasks: tuple[str, ...]


class Apps:
    """The registry of applications, over the bus store and `<data_dir>/bundles/`."""

    def __init__(
        self,
        store: BusStore,
        *,
        data_dir: str | os.PathLike[str],
        bundle_cache: int = DEFAULT_BUNDLE_CACHE,
    ) -> None:
        """`data_dir` is the bus's data directory; bundles go to its `bundles/`."""
        self._store = store
        self._bundles_dir = Path(data_dir) / "bundles"
        self._cache: OrderedDict[str, Bundle] = OrderedDict()
        self._cache_size = bundle_cache

    # -- registering --

    async def register(
        self,
        payload: bytes | os.PathLike[str],
        *,
        name: str | None = None,
        filename: str | None = None,
    ) -> View:
        """Register an upload as the application's current version.

        `payload` is zip bytes (a zipped source tree or a wheel), or a path to a
        directory, a zip or a wheel.  The name is `name`, else the one the
        bundle declares (wheel metadata, pyproject, single top-level package),
        else `filename` without its extension.  Returns the version as
        `versions()` shows it, plus `:version/new? false` when that exact
        bundle was already registered (then nothing else changed, except that
        it became current again).  Raises BadRequest (`InvalidSource` with
        field "file" for a file that does not compile; field "name").
        """
        upload = await asyncio.to_thread(self._prepare, payload, name, filename)
        self._remember(upload.bundle)
        added = False

        def tx(db: Db) -> list[Any] | None:
            nonlocal added
            version_eid = db.entid([_KEY, _version_key(upload.name, upload.bundle.version)])
            app = db.entid([_NAME, upload.name])
            if version_eid is not None and app is not None:
                current = db.entity(app).get(_CURRENT)
                if current is not None and current.eid == version_eid:
                    return None
            added = version_eid is None
            return _register_tx(upload, added, now())

        await self._store.transact_with(tx)
        view = _version_view(
            self._store.db(), self._version_entity(upload.name, upload.bundle.version), True
        )
        return {_NAME: upload.name, **view, _IS_NEW: added}

    def _prepare(
        self, payload: bytes | os.PathLike[str], name: str | None, filename: str | None
    ) -> _Upload:
        """Everything that must happen off the loop: read, check, discover, store."""
        if not isinstance(payload, bytes):
            path = Path(payload)
            filename = filename or path.name
            payload = zip_directory(path) if path.is_dir() else path.read_bytes()
        bundle = read_bundle(payload)
        trees = _compile_all(bundle)
        app_name = check_name(_name_for(bundle, name, filename), "name", "application")
        tasks = tuple(sorted(_discover_tasks(bundle, trees)))
        self._write_bundle(bundle.version, payload)
        return _Upload(name=app_name, bundle=bundle, size=len(payload), tasks=tasks)

    def _write_bundle(self, version: str, payload: bytes) -> None:
        target = self.bundle_path(version)
        if target.exists():
            return  # content-addressed: the same bytes hash the same
        self._bundles_dir.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self._bundles_dir, prefix=".upload-", suffix=".zip")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def bundle_path(self, version: str) -> Path:
        """Where the bundle of content hash `version` is kept."""
        return self._bundles_dir / f"{version}.zip"

    # -- reading --

    def list(self) -> Views:
        """Every application, by name: name, current version, its upload time and tasks."""
        db = self._store.db()
        names = db.q("[:find [?n ...] :where [?a :application/name ?n]]") or []
        return [self._summary(db, name) for name in sorted(names)]

    def get(self, name: str) -> View:
        """One application with its current version's tasks and all versions; NotFound."""
        db = self._store.db()
        summary = self._summary(db, name)
        summary[_VERSIONS] = self._versions(db, name)
        return summary

    def versions(self, name: str) -> Views:
        """The application's versions, newest first; NotFound for an unknown app."""
        return self._versions(self._store.db(), name)

    def current_version(self, name: str) -> str:
        """The content hash of the application's current version; NotFound."""
        db = self._store.db()
        current = db.entity(app_eid(db, name))[_CURRENT]
        return str(current[_VERSION])

    async def bundle(self, name: str, version: str) -> Bundle:
        """The bundle of `version` of application `name`; NotFound if never uploaded.

        A `code_server.BundleSource`.  Bundles are read from disk once and kept
        in an LRU cache; the read runs off the event loop.
        """
        self._version_entity(name, version)  # only versions the store knows, by key
        cached = self._cache.get(version)
        if cached is not None:
            self._cache.move_to_end(version)
            return cached
        path = self.bundle_path(version)
        if not path.is_file():
            raise NotFound(f"the bundle of {name}@{version} is missing from {self._bundles_dir}")
        bundle = await asyncio.to_thread(read_bundle, path)
        self._remember(bundle)
        return bundle

    def _remember(self, bundle: Bundle) -> None:
        self._cache[bundle.version] = bundle
        self._cache.move_to_end(bundle.version)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _summary(self, db: Db, name: str) -> View:
        current = db.entity(app_eid(db, name))[_CURRENT]
        return {
            _NAME: name,
            _VERSION: current[_VERSION],
            _UPLOADED: current[_UPLOADED],
            _APP_TASKS: sorted(current.get(_TASKS, ())),
        }

    def _versions(self, db: Db, name: str) -> Views:
        app = app_eid(db, name)
        current = db.entity(app)[_CURRENT].eid
        eids = db.q("[:find [?v ...] :in $ ?a :where [?v :version/application ?a]]", app) or []
        # Newest first; the entity id breaks ties between uploads in one instant.
        eids.sort(key=lambda eid: (db.entity(eid)[_UPLOADED], eid), reverse=True)
        return [_version_view(db, eid, eid == current) for eid in eids]

    def _version_entity(self, name: str, version: str) -> int:
        eid = self._store.db().entid([_KEY, _version_key(name, version)])
        if eid is None:
            raise NotFound(
                f"no version {version} of application {name}", field="application/version"
            )
        return eid

    # -- deleting --

    async def delete(self, name: str) -> None:
        """Delete the application, its jobs and their executions; keep its versions.

        NotFound for an unknown app; Conflict (409) while one of its executions
        has not finished.
        """

        def tx(db: Db) -> list[Any]:
            app = app_eid(db, name)
            jobs = db.q("[:find [?j ...] :in $ ?a :where [?j :job/application ?a]]", app) or []
            retract = executions.retract_executions(db, jobs, f"application {name!r}")
            return [*retract, *([_RETRACT_ENTITY, e] for e in [*jobs, app])]

        await self._store.transact_with(tx)


def _version_key(name: str, version: str) -> str:
    return f"{name}@{version}"


def _register_tx(upload: _Upload, added: bool, uploaded: datetime) -> list[Any]:
    version: dict[str, Any] = {
        ":db/id": "version",
        ":version/key": _version_key(upload.name, upload.bundle.version),
        ":version/application": "app",
    }
    if added:
        version |= {
            ":application/version": upload.bundle.version,
            ":version/uploaded": uploaded,
            ":version/size": upload.size,
            ":version/modules": len(upload.bundle.modules),
        }
        if upload.tasks:
            version[":version/tasks"] = list(upload.tasks)
    app = {":db/id": "app", ":application/name": upload.name, ":application/current": "version"}
    return [app, version]


def _version_view(db: Db, eid: int, current: bool) -> View:
    view: View = db.pull(_VERSION_PATTERN, eid)
    view[_TASKS] = sorted(view.get(_TASKS, ()))
    view[_IS_CURRENT] = current
    return view


def _name_for(bundle: Bundle, name: str | None, filename: str | None) -> str | None:
    if name:
        return name
    if bundle.declared_name:
        return bundle.declared_name
    if filename:
        stem = Path(filename).name
        # A wheel's file name starts with its distribution name: hello-1.0-py3-none-any.whl.
        return stem.split("-", 1)[0] if stem.endswith(".whl") else stem.rsplit(".", 1)[0]
    raise BadRequest(
        "the bundle does not declare its name (no wheel metadata, pyproject name or single"
        " top-level package): give one with ?name=",
        field="name",
    )


def _compile_all(bundle: Bundle) -> dict[str, ast.Module]:
    """Every `.py` file's syntax tree, by path; InvalidSource for the first that fails."""
    trees: dict[str, ast.Module] = {}
    for path, data in bundle.files.items():
        if not path.endswith(".py"):
            continue
        try:
            tree = ast.parse(data, filename=path)
            # Some errors ("'return' outside function") only show when compiling.
            compile(tree, path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            raise InvalidSource(path, exc.lineno, exc.msg) from None
        except ValueError as exc:  # null bytes, on Python 3.11
            raise InvalidSource(path, None, str(exc)) from None
        trees[path] = tree
    return trees


def _discover_tasks(bundle: Bundle, trees: dict[str, ast.Module]) -> list[str]:
    """ "module:function" for every public top-level function of every module."""
    tasks: list[str] = []
    for module, entry in bundle.modules.items():
        tree = trees.get(entry.path)
        if tree is None:
            continue  # a namespace package: no source
        tasks.extend(
            f"{module}:{node.name}"
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and not node.name.startswith("_")
        )
    return tasks
