"""Build databases for tests the way DataScript's tests do (init-db, db-with), and observe them."""

from __future__ import annotations

from typing import Any, Iterable

from jobstreamer.common.store import TX0, Datom, Db, Schema, build_db
from jobstreamer.common.store._schema import as_keyword

from .conftest import db_with

__all__ = ["INDEXES", "db_with", "init_db", "observed"]

INDEXES = ("eavt", "aevt", "avet", "vaet")


def init_db(schema: Any, datoms: Iterable[tuple[int, str, Any]]) -> Db:
    """A database holding exactly `datoms`, all from one transaction."""
    ds = [Datom(e, as_keyword(a), v, TX0 + 1) for e, a, v in datoms]
    return build_db(Schema(schema), ds, basis_t=TX0 + 1, max_eid=max((d.e for d in ds), default=0))


def observed(db: Any, ts: Iterable[int] = ()) -> dict[Any, Any]:
    """What a reader can observe: every index, the history, the basis, each past value at `ts`.

    Read while the store is open: the history comes from its log.
    """
    seen: dict[Any, Any] = {index: list(db.datoms(index)) for index in INDEXES}
    seen["history"] = list(db.history().datoms("eavt"))
    seen["basis"] = (db.basis_t, db.max_eid)
    for t in ts:
        seen[t] = list(db.as_of(t).datoms("aevt"))
    return seen
