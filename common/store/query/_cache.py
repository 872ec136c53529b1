"""Parse once: a small thread-safe LRU keyed by query text or a frozen form of query data.

Data keys tag numbers with their type because Python's 1 == 1.0 == True
would otherwise let `[?e :a 1]` reuse the parse of `[?e :a true]`.
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
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
                return found
        value = make()  # outside the lock: parsing may be slow, and may raise
        with self._lock:
            self._data[key] = value
            if len(self._data) > self._size:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def cached(cache: LRU[V], form: Any, make: Callable[[Any], V]) -> V:
    """`make(form)`, from `cache` when this form was seen before."""
    try:
        key = cache_key(form)
    except TypeError:
        return make(form)
    return cache.get(key, lambda: make(form))
