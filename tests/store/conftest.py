"""Fixtures for store tests: connections and databases built through transact.

    def test_x(make_conn):
        conn = make_conn({"name": {":db/unique": ":db.unique/identity"}})

`make_conn(schema)` takes a schema whose property values may be written as
text (":db.unique/identity"), opens an in-memory connection, and closes it
after the test.  `schema_of` and `db_with` are plain helpers for modules
that want them without fixtures.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from jobstreamer.common.edn import Keyword
from jobstreamer.common.store import Conn, Db, Schema, connect


def _kw(x: Any) -> Any:
    if isinstance(x, str) and x.startswith(":"):
        return Keyword(x[1:])
    return x


def schema_of(data: dict[Any, Any] | None) -> Schema:
    """A Schema from a dict whose keywords may be written as ":ns/name" text."""
    return Schema(
        {a: {_kw(k): _kw(v) for k, v in props.items()} for a, props in (data or {}).items()}
    )


def empty_db(schema: dict[Any, Any] | None = None) -> Db:
    return Db.empty(schema_of(schema))


def db_with(db: Db, tx_data: Any) -> Db:
    """DataScript's `d/db-with`: the value after `tx_data`, persisted nowhere."""
    return db.with_tx(tx_data).db_after


@pytest.fixture
def make_conn() -> Iterator[Callable[..., Conn]]:
    conns: list[Conn] = []

    def make(schema: dict[Any, Any] | None = None, url: str = ":memory:", **options: Any) -> Conn:
        conn = connect(url, schema=schema_of(schema), **options)
        conns.append(conn)
        return conn

    yield make
    for conn in conns:
        conn.close()


def facts(db: Any) -> set[tuple[int, str, Any]]:
    """DataScript's `tdc/all-datoms`: every current (e, attribute name, v)."""
    return {(d.e, d.a.full, d.v) for d in db.datoms("eavt")}


def entity_map(db: Any, eid: Any) -> dict[str, Any] | None:
    """DataScript's `tdc/entity-map`: refs as {"db/id": e}, card-many values as sets."""
    e = db.entid(eid)
    datoms = list(db.datoms("eavt", e)) if e is not None else []
    if not datoms:
        return None
    out: dict[str, Any] = {"db/id": e}
    for d in datoms:
        attr = db.schema.attr(d.a)
        v = {"db/id": d.v} if attr.ref else d.v
        if attr.many:
            out.setdefault(d.a.full, []).append(v)
        else:
            out[d.a.full] = v
    for k, v in out.items():
        if isinstance(v, list):
            out[k] = v if any(isinstance(x, dict) for x in v) else set(v)
    return out
