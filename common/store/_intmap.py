"""A persistent map keyed by entity id: a pyrsistent PMap of small dict chunks.

Entity ids are dense and a transaction allocates them consecutively, so
grouping 64 ids per chunk turns a 1,000-entity batch into ~16 PMap updates
instead of 1,000 (each PMap update costs microseconds of pure Python, and a
growing PMap rehashes itself in Python too).  A chunk dict is never mutated
once published: an evolver copies it on first write.  Measured on 1,000-entity
batches of 5 attributes: about 30% faster transactions, and `build_db` of 1M
datoms several times faster than with PMaps keyed by id.
"""

from __future__ import annotations

from typing import Any, Iterator

from pyrsistent import PMap, pmap

SHIFT = 6
_NO_CHUNKS: PMap = pmap()
_MISSING = object()


class IntMap:
    """Immutable `int -> value` map; `sorted_values()` walks it in key order."""

    __slots__ = ("_chunks", "_size")

    def __init__(self, chunks: PMap = _NO_CHUNKS, size: int = 0) -> None:
        self._chunks = chunks
        self._size = size

    @classmethod
    def from_dict(cls, items: dict[int, Any]) -> IntMap:
        chunks: dict[int, dict[int, Any]] = {}
        for k, v in items.items():
            try:
                chunks[k >> SHIFT][k] = v
            except KeyError:
                chunks[k >> SHIFT] = {k: v}
        return cls(pmap(chunks), len(items))

    def get(self, k: int, default: Any = None) -> Any:
        try:
            return self._chunks[k >> SHIFT].get(k, default)
        except KeyError:
            return default

    def __contains__(self, k: int) -> bool:
        return self.get(k, _MISSING) is not _MISSING

    def __getitem__(self, k: int) -> Any:
        v = self.get(k, _MISSING)
        if v is _MISSING:
            raise KeyError(k)
        return v

    def __len__(self) -> int:
        return self._size

    def values(self) -> Iterator[Any]:
        for chunk in self._chunks.values():
            yield from chunk.values()

    def keys(self) -> Iterator[int]:
        for chunk in self._chunks.values():
            yield from chunk

    def sorted_values(self) -> Iterator[Any]:
        chunks = self._chunks
        for cid in sorted(chunks.keys()):
            chunk = chunks[cid]
            for k in sorted(chunk):
                yield chunk[k]

    def evolver(self) -> IntMapEvolver:
        return IntMapEvolver(self)

    def __repr__(self) -> str:
        return f"IntMap({dict(sorted((k, self[k]) for k in self.keys()))!r})"


class IntMapEvolver:
    """Edits of an IntMap; `persistent()` publishes them as a new IntMap."""

    __slots__ = ("_chunks", "_dirty", "_size")

    def __init__(self, m: IntMap) -> None:
        self._chunks = m._chunks
        self._dirty: dict[int, dict[int, Any]] = {}  # private chunk copies
        self._size = m._size

    def _chunk(self, cid: int) -> dict[int, Any] | None:
        chunk = self._dirty.get(cid)
        if chunk is None and cid in self._chunks:
            chunk = self._chunks[cid]
        return chunk

    def get(self, k: int, default: Any = None) -> Any:
        chunk = self._chunk(k >> SHIFT)
        return default if chunk is None else chunk.get(k, default)

    def __contains__(self, k: int) -> bool:
        chunk = self._chunk(k >> SHIFT)
        return chunk is not None and k in chunk

    def __setitem__(self, k: int, v: Any) -> None:
        cid = k >> SHIFT
        chunk = self._dirty.get(cid)
        if chunk is None:
            chunk = self._dirty[cid] = dict(self._chunks[cid]) if cid in self._chunks else {}
        if k not in chunk:
            self._size += 1
        chunk[k] = v

    def discard(self, k: int) -> None:
        if k in self:
            cid = k >> SHIFT
            chunk = self._dirty.get(cid)
            if chunk is None:
                chunk = self._dirty[cid] = dict(self._chunks[cid])
            del chunk[k]
            self._size -= 1

    def __len__(self) -> int:
        return self._size

    def values(self) -> Iterator[Any]:
        return self.persistent().values()

    def persistent(self) -> IntMap:
        if self._dirty:
            ev = self._chunks.evolver()
            for cid, chunk in self._dirty.items():
                if chunk:
                    ev[cid] = chunk
                elif cid in ev:
                    del ev[cid]
            self._chunks = ev.persistent()
            self._dirty = {}  # the chunks are published now: copy again before writing
        return IntMap(self._chunks, self._size)


EMPTY_INTMAP = IntMap()
