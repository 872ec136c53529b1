"""Small thread-safe LRU caches: parsed queries, rules and pull patterns, time views.

Forms given as data are keyed by `cache_key`, which tags numbers with their
type because Python's 1 == 1.0 == True would otherwise let `[?e :a 1]` reuse
the parse of `[?e :a true]`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

V = TypeVar("V")

_SEQ, _MAP, _SET = object(), object(), object()


def cache_key(form: Any) -> Hashable:
    """A hashable key equal for two forms exactly when they parse alike.

    Raises TypeError for forms holding unhashable foreign objects; such
    queries are simply not cached.
    """
    t = type(form)
    if t is str:
        return form
    if isinstance(form, (list, tuple)):
        return (_SEQ, *map(cache_key, form))
    if isinstance(form, Mapping):
        return (_MAP, frozenset((cache_key(k), cache_key(v)) for k, v in form.items()))
    if isinstance(form, (set, frozenset)):
        return (_SET, frozenset(map(cache_key, form)))
    hash(form)
    return (t, form)


class LRU(Generic[V]):
    """At most `size` entries; the least recently used one goes first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value cached for `key`, else `make()`'s, which is then cached."""
        found = self.find(key)
        if found is None:
            found = make()  # outside the lock: parsing may be slow, and may raise
            self.put(key, found)
        return found

    def find(self, key: Hashable) -> V | None:
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
            return found

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._data[key] = value
            if len(self._data) > self._size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def cached(cache: LRU[V], form: Any, make: Callable[[Any], V], scope: object = None) -> V:
    """`make(form)`, from `cache` when this form was seen before (with the same `scope` object).

    A scoped entry should hold its scope (a schema, say), so that the id in
    its key is not reused while the entry lives.
    """
    try:
        key = cache_key(form)
    except TypeError:
        return make(form)
    if scope is not None:
        key = (id(scope), key)
    return cache.get(key, lambda: make(form))
