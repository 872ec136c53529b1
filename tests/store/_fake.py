"""A deliberately naive DbView over a list of datoms.

It is the oracle for the real indexes: the same queries and pulls must give
the same answers on both (tests/store/test_oracle.py), and it lets the query
and pull engines be tested without going through transact.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from jobstreamer.common.edn import Keyword
from jobstreamer.common.store._datom import TX0, Datom
from jobstreamer.common.store._schema import Attr, Schema
from jobstreamer.common.store.errors import QueryError

_ORDER = {
    "eavt": lambda d: (d.e, d.a, d.v, d.tx),
    "aevt": lambda d: (d.a, d.e, d.v, d.tx),
    "avet": lambda d: (d.a, d.v, d.e, d.tx),
    "vaet": lambda d: (d.v, d.a, d.e, d.tx),
}


def _sort_key(index: str):
    order = _ORDER[index]

    def key(d: Datom) -> tuple[Any, ...]:
        # Mixed value types sort by type name first, so sorting never raises.
        return tuple((type(x).__name__, x) for x in order(d))

    return key


class FakeDb:
    is_history = False

    def __init__(self, schema: Schema | dict | None, facts: Iterable[tuple[Any, ...]]) -> None:
        self.schema = schema if isinstance(schema, Schema) else Schema(schema)
        tx = TX0 + 1
        self._datoms = [
            Datom(f[0], f[1] if isinstance(f[1], Keyword) else Keyword(f[1]), f[2], f[3] if len(f) > 3 else tx)
            for f in facts
        ]
        self.basis_t = max((d.tx for d in self._datoms), default=TX0)

    def attr(self, a: Keyword) -> Attr:
        return self.schema.attr(a)

    def entid(self, eid: Any) -> int | None:
        if isinstance(eid, int) and not isinstance(eid, bool):
            return eid
        if isinstance(eid, Keyword):
            eid = (Keyword("db/ident"), eid)
        if isinstance(eid, (list, tuple)) and len(eid) == 2:
            a = eid[0] if isinstance(eid[0], Keyword) else Keyword(str(eid[0]).lstrip(":"))
            if self.schema.attr(a).unique is None:
                raise QueryError(f"lookup ref attribute {a} is not :db/unique")
            for d in self._datoms:
                if d.a is a and d.v == eid[1]:
                    return d.e
            return None
        raise QueryError(f"expected an entity id, lookup ref or ident, got {eid!r}")

    def datoms(self, index: str, *components: Any) -> Iterator[Datom]:
        order = _ORDER[index]
        comps = list(components)
        # Resolve entity positions the way the real indexes do.
        e_pos = {"eavt": 0, "aevt": 1, "avet": 2, "vaet": 2}[index]
        if len(comps) > e_pos:
            e = self.entid(comps[e_pos])
            if e is None:
                return iter(())
            comps[e_pos] = e
        if index == "avet" and comps and not self.schema.attr(comps[0]).indexed:
            raise QueryError(f"attribute {comps[0]} is not indexed (:db/index)")
        pool = self._datoms
        if index == "vaet":
            pool = [d for d in pool if self.schema.attr(d.a).ref]
        hits = [d for d in pool if list(order(d)[: len(comps)]) == comps]
        return iter(sorted(hits, key=_sort_key(index)))
