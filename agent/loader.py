"""Importing application code from the bus, inside a worker process (PEP 451).

`CodeLoader.activate(app, version)` installs an `AppImporter` at the front of
`sys.meta_path`.  The importer owns the application's top-level names: only
those are ever asked of the bus, so the stdlib and installed packages go to the
normal finders, and the app's own packages shadow installed ones of the same
name.  The first activation of a version fetches the whole bundle in one
message (telling the bus the digests held from the app's previous version, so
unchanged modules come back as `:has-latest` without their source); later
ones are answered from memory.

Switching to another version, or app, purges the modules the old and the new
importer own from `sys.modules`, so the next import sees the new code.  A
worker runs one execution at a time, so one importer is active at a time.

A module's `__file__` is "<app hello@abc12345>/hello/tasks.py" and its source
is in `linecache`, so tracebacks show the file, line and text.  A top-level
name of the stdlib or `jobstreamer` is never claimed: purging it would break
the worker itself.
"""

from __future__ import annotations

import importlib.abc
import linecache
import sys
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from types import CodeType, ModuleType
from typing import Sequence

from jobstreamer.common.errors import JobstreamerError
from jobstreamer.common.wire import code

from ._code_client import CodeClient, CodeUnavailable, WebSocketCodeClient
from ._resources import BundleResources

__all__ = ["AppImporter", "CodeClient", "CodeFetchError", "CodeLoader", "CodeUnavailable", "WebSocketCodeClient"]

_NEVER_OWNED = frozenset(sys.stdlib_module_names) | {"jobstreamer"}


@dataclass(frozen=True, slots=True)
class _Source:
    digest: str
    source: str
    path: str
    is_package: bool

    @property
    def is_namespace(self) -> bool:
        return self.path.endswith("/")

    @property
    def directory(self) -> str:
        """The bundle directory a package holds, or a module sits in ("" for the root)."""
        return self.path.rstrip("/") if self.is_namespace else self.path.rpartition("/")[0]


@dataclass(frozen=True, slots=True)
class _Version:
    app: str
    version: str
    modules: Mapping[str, _Source]
    files: Mapping[str, bytes]  # every file of the bundle, sources included, for importlib.resources


def _location(app: str, version: str) -> str:
    return f"<app {app}@{version[:8]}>"


class AppImporter(importlib.abc.MetaPathFinder, importlib.abc.InspectLoader):
    """The finder and loader of one application version."""

    def __init__(self, loaded: _Version) -> None:
        self._loaded = loaded
        self.app = loaded.app
        self.version = loaded.version
        self.location = _location(loaded.app, loaded.version)
        self.owned = frozenset(n for n in loaded.modules if "." not in n) - _NEVER_OWNED

    def __repr__(self) -> str:
        return f"AppImporter({self.location})"

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] not in self.owned:
            return None
        entry = self._loaded.modules.get(fullname)
        if entry is None:
            return None
        spec = ModuleSpec(fullname, self, origin=self._filename(entry), is_package=entry.is_package)
        spec.has_location = not entry.is_namespace
        if entry.is_package:
            spec.submodule_search_locations = [f"{self.location}/{entry.directory}"]
        return spec

    def _filename(self, entry: _Source) -> str:
        return f"{self.location}/{entry.path}"

    def _entry(self, fullname: str) -> _Source:
        try:
            return self._loaded.modules[fullname]
        except KeyError:
            raise ImportError(f"no module {fullname} in {self.location}", name=fullname) from None

    def get_source(self, fullname: str) -> str:
        return self._entry(fullname).source

    def is_package(self, fullname: str) -> bool:
        return self._entry(fullname).is_package

    def get_code(self, fullname: str) -> CodeType:
        entry = self._entry(fullname)
        filename = self._filename(entry)
        if not entry.is_namespace:
            # mtime None: linecache.checkcache never drops it for a missing file.
            linecache.cache[filename] = (len(entry.source), None, entry.source.splitlines(True), filename)
        return compile(entry.source, filename, "exec", dont_inherit=True)

    def get_resource_reader(self, fullname: str) -> BundleResources:
        return BundleResources(self._loaded.files, self._entry(fullname).directory)

    def forget(self) -> None:
        """Drop this version's modules from `sys.modules` and its sources from linecache."""
        for name in [n for n in sys.modules if n.partition(".")[0] in self.owned]:
            del sys.modules[name]
        for filename in [f for f in linecache.cache if f.startswith(self.location + "/")]:
            del linecache.cache[filename]
        # PathFinder remembers "no finder" for our package locations after a miss.
        for entry in [p for p in sys.path_importer_cache if p.startswith(self.location + "/")]:
            del sys.path_importer_cache[entry]


class CodeFetchError(JobstreamerError):
    """The bus answered a code request with an error (its status is kept)."""


class CodeLoader:
    """Fetches, keeps and activates application versions for one worker."""

    def __init__(self, client: CodeClient, *, versions_kept: int = 8) -> None:
        self._client = client
        self._versions_kept = versions_kept
        self._versions: OrderedDict[tuple[str, str], _Version] = OrderedDict()
        self.active: AppImporter | None = None

    def activate(self, app: str, version: str) -> AppImporter:
        if self.active is not None and (self.active.app, self.active.version) == (app, version):
            return self.active
        importer = AppImporter(self._load(app, version))
        self.deactivate()
        importer.forget()  # an installed package the app shadows must be re-imported from the app
        sys.meta_path.insert(0, importer)
        self.active = importer
        return importer

    def deactivate(self) -> None:
        if self.active is not None:
            sys.meta_path.remove(self.active)
            self.active.forget()
            self.active = None

    def _load(self, app: str, version: str) -> _Version:
        key = (app, version)
        if key in self._versions:
            self._versions.move_to_end(key)
            return self._versions[key]
        previous = next((v for v in reversed(self._versions.values()) if v.app == app), None)
        held = previous.modules if previous is not None else {}
        reply = self._client.request(
            code.BundleRequest(app, version, {n: s.digest for n, s in held.items()}, None)
        )
        if isinstance(reply, code.CodeError):
            raise CodeFetchError(reply.message, status=reply.status)
        if not isinstance(reply, code.Bundle):
            raise CodeFetchError(f"the bus answered a bundle request with {reply.kind}", status=502)
        loaded = self._versions[key] = _unpack(reply, held)
        if len(self._versions) > self._versions_kept:
            self._versions.popitem(last=False)
        return loaded


def _unpack(bundle: code.Bundle, held: Mapping[str, _Source]) -> _Version:
    modules = {}
    for entry in bundle.modules:
        if isinstance(entry, code.Module):
            source = entry.source
        elif entry.module in held and held[entry.module].digest == entry.digest:
            source = held[entry.module].source
        else:
            raise CodeFetchError(f"the bus says {entry.module} is unchanged, but it was never sent", status=502)
        modules[entry.module] = _Source(entry.digest, source, entry.path, entry.is_package)
    files = dict(bundle.resources)
    files.update((m.path, m.source.encode("utf-8")) for m in modules.values() if not m.is_namespace)
    return _Version(bundle.app, bundle.version, modules, files)
