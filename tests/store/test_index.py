"""Index access, ported from DataScript's index.cljc, plus bulk building and replay.

`seek-datoms`, `rseek-datoms` and `index-range` have no counterpart here.
"""

from __future__ import annotations

import itertools
from unittest.mock import patch
from datetime import datetime, timezone
from uuid import UUID

import pytest
from hypothesis import given, settings, strategies as st

from jobstreamer.common.edn import K, Vector
from jobstreamer.common.store import TX0, Datom, QueryError, build_db
from jobstreamer.common.store import _intmap
from jobstreamer.common.store._intmap import IntMap

from .conftest import db_with, empty_db, schema_of
from ._dbs import INDEXES
from ._fake import FakeDb


def dvec(datoms):
    return [(d.e, d.a.full, d.v) for d in datoms]


@pytest.fixture
def db():
    return db_with(
        empty_db({"age": {":db/index": True}}),
        [
            [":db/add", 1, "name", "Petr"],
            [":db/add", 1, "age", 44],
            [":db/add", 2, "name", "Ivan"],
            [":db/add", 2, "age", 25],
            [":db/add", 3, "name", "Sergey"],
            [":db/add", 3, "age", 11],
        ],
    )


def test_main_indexes_sort_order(db):
    assert dvec(db.datoms("aevt")) == [
        (1, "age", 44), (2, "age", 25), (3, "age", 11),
        (1, "name", "Petr"), (2, "name", "Ivan"), (3, "name", "Sergey"),
    ]
    assert dvec(db.datoms("eavt")) == [
        (1, "age", 44), (1, "name", "Petr"), (2, "age", 25),
        (2, "name", "Ivan"), (3, "age", 11), (3, "name", "Sergey"),
    ]
    # :name is not indexed, so AVET leaves it out.
    assert dvec(db.datoms("avet")) == [(3, "age", 11), (2, "age", 25), (1, "age", 44)]


def test_components_filter(db):
    assert dvec(db.datoms("eavt", 1)) == [(1, "age", 44), (1, "name", "Petr")]
    assert dvec(db.datoms("eavt", 1, "age")) == [(1, "age", 44)]
    assert dvec(db.datoms("eavt", 1, "age", 44)) == [(1, "age", 44)]
    assert dvec(db.datoms("eavt", 1, "age", 45)) == []
    assert dvec(db.datoms("eavt", 1, "age", 44, TX0 + 1)) == [(1, "age", 44)]
    assert dvec(db.datoms("eavt", 1, "age", 44, TX0 + 2)) == []
    assert dvec(db.datoms("avet", "age")) == [(3, "age", 11), (2, "age", 25), (1, "age", 44)]
    assert dvec(db.datoms("avet", "age", 25)) == [(2, "age", 25)]
    assert dvec(db.datoms("avet", "age", 25, 2)) == [(2, "age", 25)]
    assert dvec(db.datoms("avet", "age", 25, 3)) == []
    assert dvec(db.datoms("aevt", "name", 2)) == [(2, "name", "Ivan")]
    assert dvec(db.datoms("aevt", "name", 2, "Ivan")) == [(2, "name", "Ivan")]
    assert dvec(db.datoms("eavt", 4)) == []
    assert dvec(db.datoms("aevt", "nothing")) == []


def test_trailing_nones_mean_any(db):
    assert dvec(db.datoms("eavt", 1, None, None)) == dvec(db.datoms("eavt", 1))
    assert dvec(db.datoms("avet", "age", None)) == dvec(db.datoms("avet", "age"))


def test_first_datom_like_find_datom(db):
    assert dvec([next(db.datoms("eavt"))]) == [(1, "age", 44)]
    assert dvec([next(db.datoms("eavt", 1, "name"))]) == [(1, "name", "Petr")]
    assert next(db.datoms("eavt", 1, "name", "Ivan"), None) is None
    assert next(empty_db().datoms("eavt"), None) is None


@pytest.mark.parametrize("components", [["name"], ["alias"], ["name", "Ivan"], ["name", "Ivan", 1]])
def test_avet_needs_an_indexed_attribute(db, components):
    with pytest.raises(QueryError, match=f"Attribute :{components[0]} should be marked as :db/index true"):
        list(db.datoms("avet", *components))


def test_unknown_index(db):
    with pytest.raises(QueryError, match="Unknown index 'veat'"):
        db.datoms("veat")


@pytest.mark.parametrize(
    "value, result",
    [
        ([1], []), ([1, 1], []), ([1, 2], [1]), ((1, 2), [1]), (Vector((1, 2)), [1]),
        ([1, 3], []), ([1, 2, 2], []), ([1, 2, 3], [2]), ([1, 2, 3, 4], []),
    ],
)
def test_sequence_values_compare_whole_issue_470(value, result):
    db = db_with(empty_db({"path": {":db/index": True}}), [{":db/id": 1, "path": [1, 2]}, {":db/id": 2, "path": [1, 2, 3]}])
    assert [d.e for d in db.datoms("avet", "path", value)] == result


def test_mixed_type_values_sort_without_raising():
    values = [
        "b", 2, 1.5, True, K("kw"), "a", (1, "x"), (1, 2),
        datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 1, 1), UUID(int=5), {"m": 1}, {1, 2},
    ]
    db = db_with(
        empty_db({"v": {":db/index": True, ":db/cardinality": ":db.cardinality/many"}}),
        [[":db/add", 1, "v", v] for v in values],
    )
    by_avet = [d.v for d in db.datoms("avet", "v")]
    by_eavt = [d.v for d in db.datoms("eavt", 1, "v")]
    assert len(by_avet) == len(values) and by_avet == by_eavt
    # numbers together and in order, strings together and in order
    assert [v for v in by_avet if type(v) in (int, float)] == [1.5, 2]
    assert [v for v in by_avet if type(v) is str] == ["a", "b"]


def test_vaet_holds_refs_only():
    db = db_with(
        empty_db({"friend": {":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/many"}, "boss": {":db/valueType": ":db.type/ref"}}),
        [{":db/id": 1, "friend": [2, 3], "boss": 3, "n": 3}, {":db/id": 2, "friend": 3}],
    )
    assert dvec(db.datoms("vaet")) == [(1, "friend", 2), (1, "boss", 3), (1, "friend", 3), (2, "friend", 3)]
    assert dvec(db.datoms("vaet", 3)) == [(1, "boss", 3), (1, "friend", 3), (2, "friend", 3)]
    assert dvec(db.datoms("vaet", 3, "friend")) == [(1, "friend", 3), (2, "friend", 3)]
    assert dvec(db.datoms("vaet", 3, "friend", 2)) == [(2, "friend", 3)]
    assert dvec(db.datoms("vaet", 3, "n")) == []


def test_unique_attributes_are_in_avet():
    db = db_with(empty_db({"email": {":db/unique": ":db.unique/value"}}), [{"email": "b"}, {"email": "a"}])
    assert dvec(db.datoms("avet")) == [(2, "email", "a"), (1, "email", "b")]
    assert db.entid(["email", "a"]) == 2


def test_idents_resolve_like_lookup_refs():
    db = db_with(empty_db(), [{"db/ident": K("color/red"), "rgb": "f00"}])
    assert db.entid(K("color/red")) == 1
    assert dvec(db.datoms("eavt", K("color/red"), "rgb")) == [(1, "rgb", "f00")]
    assert db.entid(K("color/blue")) is None


SCHEMA = {
    "email": {":db/unique": ":db.unique/identity"},
    "tags": {":db/cardinality": ":db.cardinality/many", ":db/index": True},
    "friend": {":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/many"},
    "age": {":db/index": True},
}

ops = st.lists(
    st.one_of(
        st.tuples(st.just(":db/add"), st.integers(1, 8), st.just("email"), st.integers(0, 12).map(lambda i: f"u{i}")),
        st.tuples(st.just(":db/add"), st.integers(1, 8), st.just("tags"), st.sampled_from(["a", "b", "c"])),
        st.tuples(st.just(":db/add"), st.integers(1, 8), st.just("friend"), st.integers(1, 8)),
        st.tuples(st.just(":db/add"), st.integers(1, 8), st.just("age"), st.integers(0, 3)),
        st.tuples(st.just(":db/retract"), st.integers(1, 8), st.sampled_from(["tags", "friend", "age", "email"])),
        st.tuples(st.just(":db/retractEntity"), st.integers(1, 8)),
    ),
    max_size=30,
)


def _apply(db, batch):
    try:
        return db.with_tx([list(op) for op in batch])
    except Exception:  # unique conflicts: this batch is simply skipped
        return None


@settings(max_examples=60)
@given(st.lists(ops, max_size=5))
def test_transact_build_and_replay_agree(batches):
    """Incremental indexes, `build_db` and `with_datoms` replay give the same datoms in every index."""
    schema = schema_of(SCHEMA)
    db = empty_db(SCHEMA)
    reports = []
    for batch in batches:
        report = _apply(db, batch)
        if report is not None:
            reports.append(report)
            db = report.db_after
    built = build_db(schema, list(db.all_datoms()), basis_t=db.basis_t, max_eid=db.max_eid)
    replayed = empty_db(SCHEMA)
    for r in reports:
        replayed = replayed.with_datoms(r.tx_data, r.tx, r.db_after.max_eid)
    oracle = FakeDb(schema, [(d.e, d.a, d.v, d.tx) for d in db.all_datoms()])
    for index in INDEXES:
        expected = list(db.datoms(index))
        assert list(built.datoms(index)) == expected
        assert list(replayed.datoms(index)) == expected
        if index != "avet":  # the oracle's bare AVET lists every attribute
            assert list(oracle.datoms(index)) == expected
    for a in ("email", "tags", "age"):
        assert list(oracle.datoms("avet", K(a))) == list(db.datoms("avet", a))
    assert built.datom_count == replayed.datom_count == db.datom_count == len(list(db.datoms("eavt")))
    assert replayed.max_eid == db.max_eid and replayed.basis_t == db.basis_t
    for d in db.datoms("aevt", "email"):
        assert built.entid(["email", d.v]) == replayed.entid(["email", d.v]) == d.e


def test_build_db_keeps_ids_and_values():
    datoms = [Datom(1, K("n"), [1, 2], TX0 + 1), Datom(2, K("n"), {"a": 1}, TX0 + 2), Datom(TX0 + 2, K("at"), "x", TX0 + 2)]
    db = build_db(schema_of({}), datoms, basis_t=TX0 + 2, max_eid=2)
    assert [(d.e, d.v, d.tx) for d in db.datoms("eavt")] == [
        (1, Vector((1, 2)), TX0 + 1), (2, {"a": 1}, TX0 + 2), (TX0 + 2, "x", TX0 + 2)
    ]
    assert db.with_tx([{"n": 3}]).tempids  # the next id follows max_eid
    assert db.with_tx([{"n": 3}]).db_after.max_eid == 3


@given(st.lists(st.tuples(st.integers(0, 3000), st.booleans()), max_size=200))
def test_intmap_matches_a_dict(ops):
    """Also across the switch of its chunk table from a dict to a PMap (`_intmap.SMALL` chunks)."""
    versions = [(IntMap(), {})]
    m, model = IntMap(), {}
    ev = m.evolver()
    for k, add in ops:
        if add:
            ev[k] = k * 2
            model[k] = k * 2
        else:
            ev.discard(k)
            model.pop(k, None)
        if k % 7 == 0:
            versions.append((ev.persistent(), dict(model)))
            list(versions[-1][0].sorted_values())  # its order is cached now; later edits must not touch it
    versions.append((ev.persistent(), dict(model)))
    for m, model in versions:  # every published version stays as it was
        assert len(m) == len(model)
        assert list(m.sorted_values()) == [model[k] for k in sorted(model)]
        assert all(m.get(k) == v and k in m for k, v in model.items())
        assert IntMap.from_dict(model).get(3001) is None
        assert list(IntMap.from_dict(model).sorted_values()) == list(m.sorted_values())


IDS = (1, 2, 63, 64, 65, 200, 2100, 9000)  # over several IntMap chunks
SPREAD_IDS = st.sampled_from(IDS)


@settings(max_examples=40)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from([":db/add", ":db/retract"]),
                SPREAD_IDS,
                st.sampled_from(["tags", "friend", "age"]),
                st.sampled_from([1, 2, 63, 9000]),
            ),
            min_size=1,
            max_size=8,
        ),
        max_size=6,
    )
)
def test_cached_orders_never_go_stale(batches):
    """Each value caches its index orders when read; later transactions leave them right."""
    with patch.object(_intmap, "SMALL", 2):  # chunk tables switch to PMaps early
        versions = [empty_db(SCHEMA)]
        for batch in batches:
            db = versions[-1]
            first_reads = entity_reads(db)  # fills the caches of this value
            versions.append(db.with_tx([list(op) for op in batch]).db_after)
            assert entity_reads(db) == first_reads
        for db in versions:
            oracle = FakeDb(db.schema, [(d.e, d.a, d.v, d.tx) for d in db.datoms("aevt")])
            fresh = build_db(db.schema, list(oracle.datoms("eavt")), basis_t=db.basis_t, max_eid=db.max_eid)
            assert entity_reads(db) == entity_reads(fresh)
            for v, e in itertools.product(IDS, IDS):  # VAET keeps a lone referrer as a bare datom
                assert list(db.datoms("vaet", v, "friend", e)) == list(oracle.datoms("vaet", v, K("friend"), e))
            for index in ("eavt", "aevt", "vaet"):
                assert list(db.datoms(index)) == list(oracle.datoms(index))


def entity_reads(db):
    seen = {index: list(db.datoms(index)) for index in INDEXES}
    for e in IDS:
        seen[e] = list(db.datoms("eavt", e))
        seen[e, "tags"] = list(db.datoms("eavt", e, "tags"))
        seen["vaet", e] = list(db.datoms("vaet", e))
    return seen


def test_datoms_of_one_attribute_in_bulk_are_sorted_by_entity():
    db = db_with(empty_db(), [{":db/id": e, "n": e % 7} for e in itertools.chain(range(200, 0, -1), [TX0 + 5])])
    es = [d.e for d in db.datoms("aevt", "n")]
    assert es == sorted(es) and len(es) == 201


def test_avet_with_an_entity_that_resolves_to_nothing(db):
    assert list(db.datoms("avet", "age", 25, K("nobody"))) == []
    with pytest.raises(QueryError):
        list(db.datoms("avet", "age", 25, ["name", "Nobody"]))  # :name is not unique
