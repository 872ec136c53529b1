"""An application bundle: an immutable source tree read from a directory, a zip
of a source tree, or a wheel.

The version is the content hash: sha256 over the sorted (relative posix path,
file bytes) pairs, so one tree uploaded as a directory or as a zip gets one
version.  Left out everywhere: hidden files and directories (any component
starting with "." - .git, .venv, .DS_Store), `__pycache__` and `*.pyc`/`*.pyo`.
From a wheel also `*.dist-info/RECORD` and its signatures: they only restate
the hashes of the other files, so re-signing a wheel keeps its version.

A zip or directory whose only entry is a directory that is not a package (no
`__init__.py`), such as `hello-1.0/` from `zip -r`, is unwrapped first.

Modules are importable from the bundle root, or from `src/` when the root has
none (the "src layout").  A directory on the way to a module that has no
`__init__.py` is a namespace package (PEP 420) with an empty source.
"""

from __future__ import annotations

import hashlib
import io
import os
import tomllib
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Mapping

from jobstreamer.common.errors import BadRequest

# A zip bomb must not fill the bus's memory; 256 MiB is far beyond any source tree.
MAX_BUNDLE_BYTES = 256 * 1024 * 1024
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
_WHEEL_MANIFESTS = ("RECORD", "RECORD.jws", "RECORD.p7s")


@dataclass(frozen=True, slots=True)
class ModuleEntry:
    """Where a module's source is.  A namespace package's `path` is its
    directory, ending in "/", and its source is empty."""

    path: str
    is_package: bool


@dataclass(frozen=True, slots=True)
class Bundle:
    version: str
    files: Mapping[str, bytes]
    modules: Mapping[str, ModuleEntry]
    # The name the bundle declares (wheel METADATA, pyproject [project].name, or
    # its single top-level package); `POST /apps` falls back to it without ?name=.
    declared_name: str | None

    @property
    def top_level(self) -> frozenset[str]:
        """The top-level module names the application owns."""
        return frozenset(name for name in self.modules if "." not in name)

    def source_bytes(self, module: str) -> bytes:
        entry = self.modules[module]
        return b"" if entry.path.endswith("/") else self.files[entry.path]

    @property
    def resources(self) -> dict[str, bytes]:
        """Every file that is not a module's source."""
        sources = {e.path for e in self.modules.values()}
        return {p: b for p, b in self.files.items() if p not in sources}


def read_bundle(source: str | os.PathLike[str] | bytes) -> Bundle:
    """A directory path, a zip file path, or zip bytes (a source tree or a wheel)."""
    if isinstance(source, bytes):
        return _from_zip(source)
    path = Path(source)
    if path.is_dir():
        return from_files(_read_directory(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadRequest(f"cannot read bundle {path}: {exc.strerror}") from exc
    return _from_zip(data)


def from_files(files: Mapping[str, bytes]) -> Bundle:
    """Build a bundle from relative posix paths -> bytes (already read)."""
    is_wheel = any(_is_wheel_metadata(p) for p in files)
    kept = {p: b for p, b in files.items() if _kept(p, is_wheel)}
    if not is_wheel:
        kept = _unwrapped(kept)
    if not kept:
        raise BadRequest("the bundle holds no files")
    frozen = MappingProxyType(dict(sorted(kept.items())))
    modules = MappingProxyType(_module_table(frozen))
    return Bundle(
        version=content_hash(frozen),
        files=frozen,
        modules=modules,
        declared_name=_declared_name(frozen, modules),
    )


def content_hash(files: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        data = files[path]
        # Length prefixes keep (path, bytes) boundaries unambiguous.
        encoded = path.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big") + encoded + len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def zip_directory(root: str | os.PathLike[str]) -> bytes:
    """A directory as zip bytes, for uploading it like a zip (the CLI's `apps upload DIR`).

    Hidden directories and `__pycache__` are pruned here only to save work:
    `Bundle` leaves out the same files on reading, so the zip and the
    directory get one version.
    """
    root = Path(root)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not _skipped_component(d))
            for filename in sorted(filenames):
                path = Path(dirpath, filename)
                if path.is_file():
                    archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


def _read_directory(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not _skipped_component(d)]
        for name in filenames:
            full = Path(dirpath, name)
            rel = full.relative_to(root).as_posix()
            if not _kept(rel, is_wheel=False) or not full.is_file():
                continue
            data = full.read_bytes()
            total += len(data)
            if total > MAX_BUNDLE_BYTES:
                raise BadRequest(f"the bundle is larger than {MAX_BUNDLE_BYTES} bytes")
            files[rel] = data
    return files


def _from_zip(data: bytes) -> Bundle:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise BadRequest(f"the bundle is not a zip file: {exc}") from exc
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if sum(i.file_size for i in infos) > MAX_BUNDLE_BYTES:
            raise BadRequest(f"the bundle is larger than {MAX_BUNDLE_BYTES} bytes")
        files: dict[str, bytes] = {}
        for info in infos:
            rel = PurePosixPath(info.filename)
            if rel.is_absolute() or ".." in rel.parts:
                raise BadRequest(f"the bundle holds an unsafe path {info.filename!r}")
            files[rel.as_posix()] = archive.read(info)
    return from_files(files)


def _skipped_component(name: str) -> bool:
    return name.startswith(".") or name == "__pycache__"


def _is_wheel_metadata(path: str) -> bool:
    parts = path.split("/")
    return len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "WHEEL"


def _kept(path: str, is_wheel: bool) -> bool:
    parts = path.split("/")
    if any(_skipped_component(p) for p in parts) or path.endswith(_SKIPPED_SUFFIXES):
        return False
    return not (is_wheel and len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in _WHEEL_MANIFESTS)


def _unwrapped(files: dict[str, bytes]) -> dict[str, bytes]:
    tops = {p.split("/", 1)[0] for p in files}
    if len(tops) != 1 or all("/" not in p for p in files):
        return files
    (top,) = tops
    if f"{top}/__init__.py" in files:
        return files
    return {p[len(top) + 1 :]: b for p, b in files.items()}


def _import_root(files: Mapping[str, bytes]) -> str:
    # The src layout: what `pip install` of the tree would make importable.
    src_package = any(p.startswith("src/") and p.endswith("/__init__.py") and p.count("/") == 2 for p in files)
    return "src/" if src_package and "src/__init__.py" not in files else ""


def _module_table(files: Mapping[str, bytes]) -> dict[str, ModuleEntry]:
    root = _import_root(files)
    table: dict[str, ModuleEntry] = {}
    for path in files:
        if not path.startswith(root) or not path.endswith(".py"):
            continue
        parts = path[len(root) : -3].split("/")
        if not all(p.isidentifier() for p in parts):
            continue  # not importable: "my-scripts/run.py"
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
            if not parts:
                continue
        # Assigned, so a real __init__.py replaces a namespace placeholder.
        table[".".join(parts)] = ModuleEntry(path, is_package)
        for depth in range(1, len(parts)):
            directory = root + "/".join(parts[:depth]) + "/"
            table.setdefault(".".join(parts[:depth]), ModuleEntry(directory, True))
    return dict(sorted(table.items()))


def _declared_name(files: Mapping[str, bytes], modules: Mapping[str, ModuleEntry]) -> str | None:
    for path, data in files.items():
        parts = path.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
            return HeaderParser().parsestr(data.decode("utf-8", "replace")).get("Name")
    if "pyproject.toml" in files:
        try:
            project = tomllib.loads(files["pyproject.toml"].decode("utf-8")).get("project", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            project = {}
        if isinstance(project.get("name"), str):
            return project["name"]
    packages = [name for name, entry in modules.items() if "." not in name and entry.is_package]
    return packages[0] if len(packages) == 1 else None
