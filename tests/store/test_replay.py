"""Property: a random sequence of transactions, replayed from the file, gives the same database.

Random transactions over a small schema with unique, card-many, ref and
component attributes - entity maps, upserts, lookup refs, retractions,
retractEntity - are transacted to a file-backed conn (some fail, which must
leave no trace), optionally with a checkpoint in the middle; reopening the
file must give the same datoms in every index, the same history and the same
`as_of` views.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from hypothesis import event, given
from hypothesis import strategies as st

from jobstreamer.common.edn import K, Vector
from jobstreamer.common.store import StorageError, StoreError, connect

from ._dbs import observed

SCHEMA = """
{:p/email {:db/unique :db.unique/identity}
 :p/code  {:db/unique :db.unique/value}
 :p/tags  {:db/cardinality :db.cardinality/many}
 :p/age   {:db/index true}
 :p/friend {:db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
 :p/best  {:db/valueType :db.type/ref}
 :p/part  {:db/valueType :db.type/ref :db/isComponent true :db/cardinality :db.cardinality/many}}
"""
ADD, RETRACT, RETRACT_ENTITY = K("db/add"), K("db/retract"), K("db/retractEntity")

emails = st.sampled_from([f"{n}@x" for n in "abcdef"])
tags = st.sampled_from(["red", "green", K("blue")])
# :p/data is not in the schema: any value type goes, cardinality one.
data_values = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.sampled_from([K("k/a"), True, Decimal("1.25"), UUID(int=42)]),
    st.just(datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=timezone.utc)),
    st.lists(st.integers(0, 3), max_size=3).map(Vector),
)


def ops(existing: list[int]) -> st.SearchStrategy[list[Any]]:
    """One transaction's data; `existing` are entity ids in the current db."""
    entity = st.sampled_from(existing) if existing else st.nothing()
    lookup = emails.map(lambda e: Vector([K("p/email"), e]))
    target = st.one_of(entity, lookup, st.sampled_from(["t1", "t2"]))
    person = st.fixed_dictionaries(
        {"p/age": st.integers(0, 3)},  # so no map is empty
        optional={
            "db/id": st.sampled_from(["t1", "t2"]) | entity,
            "p/email": emails,
            "p/code": st.integers(0, 4),
            "p/tags": st.lists(tags, max_size=2),
            "p/data": data_values,
            "p/best": target,
            "p/friend": st.lists(target, max_size=2),
            "p/part": st.lists(st.fixed_dictionaries({"p/age": st.integers(0, 3)}), max_size=2),
        },
    )
    op = st.one_of(
        person,
        st.tuples(st.just(ADD), entity | lookup | st.just("t1"), st.just("p/tags"), tags),
        st.tuples(st.just(ADD), entity, st.just("p/friend"), target),
        st.tuples(st.just(RETRACT), entity | lookup, st.just("p/tags"), tags),
        st.tuples(st.just(RETRACT), entity, st.sampled_from(["p/age", "p/best", "p/data"])),
        st.tuples(st.just(RETRACT_ENTITY), entity | lookup),
    ).map(lambda x: list(x) if isinstance(x, tuple) else x)
    return st.lists(op, min_size=1, max_size=4)


@given(st.data())
def test_a_store_replayed_from_its_file_is_the_same_database(data: st.DataObject) -> None:
    n_txs = data.draw(st.integers(1, 10), label="transactions")
    checkpoint_after = data.draw(st.none() | st.integers(0, n_txs - 1), label="checkpoint after")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bus.db")
        with connect(path, schema=SCHEMA, checkpoint_every=None) as conn:
            for i in range(n_txs):
                existing = sorted({d.e for d in conn.db().datoms("eavt")})
                tx_data = data.draw(ops(existing), label=f"tx {i}")
                try:
                    conn.transact(tx_data)
                    event("committed")
                except StorageError:
                    raise
                except StoreError as e:  # it must leave no trace in the file
                    event(f"rejected: {type(e).__name__}")
                if i == checkpoint_after:
                    conn.checkpoint()
            db = conn.db()
            ts = sorted({d.tx for d in db.history().datoms("eavt")})
            expected = observed(db, ts)  # history reads the log: while it is open
        with connect(path) as conn:
            assert observed(conn.db(), ts) == expected
