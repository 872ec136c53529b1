"""The datom store: DataScript semantics, append-only, every past state queryable.

    conn = connect(":memory:", schema={"user/email": {":db/unique": ":db.unique/identity"}})
    report = conn.transact([{"user/email": "a@b.c", "user/name": "Ann"}])
    db = conn.db()          # an immutable snapshot
    db.datoms("avet", "user/email", "a@b.c")

See docs/store.md and API.md ("The store's Python API").
"""

from ._conn import Conn, connect
from ._datom import TX0, Datom
from ._build import build_db
from ._index import Db
from ._schema import Schema
from ._transact import TxReport
from ._view import DbView
from .errors import (
    CasFailed,
    QueryError,
    SchemaError,
    StorageError,
    StoreError,
    TransactionError,
    UniqueConflict,
)

__all__ = [
    "TX0",
    "CasFailed",
    "Conn",
    "Datom",
    "Db",
    "DbView",
    "QueryError",
    "Schema",
    "SchemaError",
    "StorageError",
    "StoreError",
    "TransactionError",
    "TxReport",
    "UniqueConflict",
    "build_db",
    "connect",
]
