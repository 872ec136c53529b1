"""`importlib.resources` over an application bundle held in memory.

`importlib.resources.files("hello") / "data.json"` inside a task reads the
bundle's file, the same as when the app runs from its source tree.
"""

from __future__ import annotations

import io
import os
import posixpath
from importlib.resources.abc import Traversable, TraversableResources
from typing import Any, Iterator, Mapping


class BundleTraversable(Traversable):
    """A file or directory of the bundle; `path` is relative to its root ("" is the root)."""

    def __init__(self, files: Mapping[str, bytes], path: str) -> None:
        self._files = files
        self._path = path

    @property
    def name(self) -> str:
        return posixpath.basename(self._path)

    def _prefix(self) -> str:
        return self._path + "/" if self._path else ""

    def is_file(self) -> bool:
        return self._path in self._files

    def is_dir(self) -> bool:
        prefix = self._prefix()
        return any(p.startswith(prefix) for p in self._files)

    def iterdir(self) -> Iterator[BundleTraversable]:
        prefix = self._prefix()
        children = {p[len(prefix) :].split("/", 1)[0] for p in self._files if p.startswith(prefix)}
        return (BundleTraversable(self._files, prefix + name) for name in sorted(children))

    def joinpath(self, *descendants: str | os.PathLike[str]) -> BundleTraversable:
        joined = posixpath.normpath(posixpath.join(self._path, *(os.fspath(d) for d in descendants)))
        return BundleTraversable(self._files, "" if joined == "." else joined)

    def read_bytes(self) -> bytes:
        try:
            return self._files[self._path]
        except KeyError:
            raise FileNotFoundError(self._path) from None

    def read_text(self, encoding: str | None = None) -> str:
        # UTF-8, as the source tree's own files are, whatever the worker's locale.
        return self.read_bytes().decode(encoding or "utf-8")

    def open(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode not in ("r", "rb"):
            raise ValueError(f"application bundles are read-only: mode {mode!r}")
        data = io.BytesIO(self.read_bytes())
        if mode == "rb":
            return data
        if not args and kwargs.get("encoding") is None:
            kwargs["encoding"] = "utf-8"
        return io.TextIOWrapper(data, *args, **kwargs)

    def __repr__(self) -> str:
        return f"BundleTraversable({self._path!r})"


class BundleResources(TraversableResources):
    def __init__(self, files: Mapping[str, bytes], directory: str) -> None:
        self._root = BundleTraversable(files, directory)

    def files(self) -> BundleTraversable:
        return self._root
