"""Build databases for tests the way DataScript's tests do (init-db, db-with)."""

from __future__ import annotations

from typing import Any, Iterable

from jobstreamer.common.store import TX0, Datom, Db, Schema, build_db
from jobstreamer.common.store._schema import as_keyword


def init_db(schema: Any, datoms: Iterable[tuple[int, str, Any]]) -> Db:
    """A database holding exactly `datoms`, all from one transaction."""
    ds = [Datom(e, as_keyword(a), v, TX0 + 1) for e, a, v in datoms]
    return build_db(Schema(schema), ds, basis_t=TX0 + 1, max_eid=max((d.e for d in ds), default=0))


def db_with(db: Db, tx: Any) -> Db:
    """`db` plus one transaction of `tx` (EDN text or data), committed nowhere."""
    return db.with_tx(tx).db_after
