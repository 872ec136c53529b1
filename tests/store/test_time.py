"""Time views: as_of (inclusive), since (exclusive), history, with Datomic semantics (issue #2)."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobstreamer.common.edn import K
from jobstreamer.common.store import TX0, Datom, StoreError, connect
from jobstreamer.common.store._time import HistoryView, SinceView
from jobstreamer.common.store.errors import QueryError

SCHEMA = """
{:name   {:db/unique :db.unique/identity}
 :age    {:db/index true}
 :tags   {:db/cardinality :db.cardinality/many}
 :friend {:db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
 :best   {:db/valueType :db.type/ref}
 :part   {:db/valueType :db.type/ref :db/isComponent true :db/cardinality :db.cardinality/many}}
"""
INDEXES = ("eavt", "aevt", "avet", "vaet")
NAME, AGE, TAGS, FRIEND, PART = K("name"), K("age"), K("tags"), K("friend"), K("part")


@pytest.fixture
def conn():
    with connect(":memory:", schema=SCHEMA) as c:
        yield c


@pytest.fixture
def story(conn):
    """Ivan is born, ages, befriends Oleg, then is retracted entirely."""
    r1 = conn.transact('[{:db/id "ivan" :name "Ivan" :age 19 :tags ["a" "b"]}]')
    r2 = conn.transact('[{:name "Ivan" :age 20} [:db/retract [:name "Ivan"] :tags "a"]]')
    r3 = conn.transact('[{:name "Oleg" :friend [[:name "Ivan"]] :part [{:name "Oleg/part"}]}]')
    r4 = conn.transact('[[:db/retractEntity [:name "Ivan"]]]')
    ivan = r1.tempids["ivan"]
    return conn, (r1, r2, r3, r4), ivan


def t(report: Any) -> int:
    return report.db_after.basis_t


def same_datoms(a: Any, b: Any) -> None:
    for index in INDEXES:
        assert list(a.datoms(index)) == list(b.datoms(index)), index


# -- as_of ---------------------------------------------------------------------------


def test_as_of_is_inclusive(story):
    conn, (r1, r2, r3, r4), ivan = story
    db = conn.db()
    assert db.as_of(t(r1)).pull("[:name :age :tags]", ivan) == {NAME: "Ivan", AGE: 19, TAGS: ["a", "b"]}
    # card-one replacement: the old value as of the earlier tx, the new one after
    assert db.as_of(t(r2)).pull("[:age :tags]", ivan) == {AGE: 20, TAGS: ["b"]}
    assert db.as_of(t(r3)).pull("[:name {:_friend [:name]}]", ivan) == {NAME: "Ivan", K("_friend"): [{NAME: "Oleg"}]}
    assert db.as_of(t(r4)).pull("[:name]", ivan) is None
    for r in (r1, r2, r3, r4):
        same_datoms(db.as_of(t(r)), r.db_after)
        assert db.as_of(t(r)).basis_t == t(r)


def test_as_of_bounds(story):
    conn, (r1, *_), _ = story
    db = conn.db()
    assert list(db.as_of(TX0).datoms("eavt")) == []
    assert db.as_of(db.basis_t) is db
    assert db.as_of(db.basis_t + 100) is db  # nothing after the basis to undo
    # a t that is no tx id names the last tx before it: here, none
    assert list(db.as_of(t(r1) - 1).datoms("eavt")) == []


def test_as_of_a_datetime(story):
    conn, (r1, r2, r3, r4), _ = story
    db = conn.db()
    same_datoms(db.as_of(r2.tx_instant), r2.db_after)
    same_datoms(db.as_of(r4.tx_instant + timedelta(days=1)), r4.db_after)
    assert list(db.as_of(r1.tx_instant - timedelta(days=1)).datoms("eavt")) == []
    naive_utc = r2.tx_instant.astimezone(timezone.utc).replace(tzinfo=None)
    same_datoms(db.as_of(naive_utc), r2.db_after)


@pytest.mark.parametrize("bad", [-1, 0, 5, TX0 - 1, 1.5, True, "1", None])
def test_bad_t_is_a_query_error(conn, bad):
    conn.transact('[{:name "x"}]')
    with pytest.raises(QueryError, match="transaction id"):
        conn.db().as_of(bad)
    with pytest.raises(QueryError, match="transaction id"):
        conn.db().since(bad)


def test_as_of_views_are_cached_per_connection(story):
    conn, (r1, *_), _ = story
    assert conn.db().as_of(t(r1)) is conn.db().as_of(t(r1))
    assert conn.db().history() is conn.db().history()


def test_a_speculative_value_does_not_leave_stale_views(conn):
    conn.transact('[{:name "a"}]')
    ahead = conn.db().with_tx('[{:name "b"}]').db_after  # not in the log
    assert [d.v for d in ahead.history().datoms("aevt", NAME)] == ["a"]  # history is the log's
    conn.transact('[{:name "c"}]')  # the same tx id, now committed
    assert [d.v for d in conn.db().history().datoms("aevt", NAME)] == ["a", "c"]


def test_as_of_a_persistent_store_after_reopen(tmp_path):
    path = str(tmp_path / "store.db")
    with connect(path, schema=SCHEMA) as c:
        r1 = c.transact('[{:name "Ivan" :age 1}]')
        c.transact('[{:name "Ivan" :age 2}]')
        c.checkpoint()
        c.transact('[{:name "Ivan" :age 3}]')
    with connect(path) as c:
        db = c.db()
        assert db.as_of(t(r1)).pull("[:age]", [NAME, "Ivan"]) == {AGE: 1}
        assert [d.v for d in db.history().datoms("eavt", [NAME, "Ivan"], AGE) if d.added] == [1, 2, 3]


# -- since ---------------------------------------------------------------------------


def test_since_is_exclusive(story):
    conn, (r1, r2, r3, r4), ivan = story
    db = conn.db()
    assert isinstance(db.since(t(r1)), SinceView)
    after_r2 = db.as_of(t(r2)).since(t(r1))
    assert {(d.a, d.v) for d in after_r2.datoms("eavt", ivan)} == {(AGE, 20)}
    assert list(db.since(t(r4)).datoms("eavt")) == []
    assert {d.tx for d in db.since(t(r2)).datoms("eavt")} == {t(r3)}


def test_since_resolves_lookup_refs_through_the_whole_db(story):
    conn, (r1, r2, r3, r4), _ = story
    db = conn.db()
    oleg = db.entid([NAME, "Oleg"])
    later = db.since(t(r3))
    # Oleg's name was asserted in r3, before the bound, yet the lookup ref resolves.
    assert later.entid([NAME, "Oleg"]) == oleg
    assert list(later.datoms("eavt", [NAME, "Oleg"])) == []


def test_since_composes(story):
    conn, (r1, r2, r3, r4), _ = story
    db = conn.db()
    assert db.since(t(r1)).since(t(r2)).since_t == t(r2)
    assert db.since(t(r2)).since(t(r1)).since_t == t(r2)
    window = db.since(t(r1)).as_of(t(r3))  # (r1, r3]
    assert {d.tx for d in window.datoms("eavt")} == {t(r2), t(r3)}
    assert db.as_of(t(r3)).since(t(r1)).basis_t == t(r3)


# -- history -------------------------------------------------------------------------


def test_history_holds_assertions_and_retractions(story):
    conn, (r1, r2, r3, r4), ivan = story
    h = conn.db().history()
    assert h.is_history and isinstance(h, HistoryView)
    logged = [d for r in (r1, r2, r3, r4) for d in r.tx_data]
    assert sorted(h.datoms("eavt"), key=_key) == sorted(logged, key=_key)
    ages = [(d.v, d.tx, d.added) for d in h.datoms("eavt", ivan, AGE)]
    assert ages == [(19, t(r1), True), (19, t(r2), False), (20, t(r2), True), (20, t(r4), False)]


def test_history_shows_retract_entity(story):
    conn, (r1, r2, r3, r4), ivan = story
    h = conn.db().history()
    retracted = {(d.a, d.v) for d in h.datoms("eavt", ivan) if not d.added and d.tx == t(r4)}
    assert retracted == {(NAME, "Ivan"), (AGE, 20), (TAGS, "b")}
    # the reference to Ivan went too
    oleg = conn.db().entid([NAME, "Oleg"])
    assert [(d.e, d.added, d.tx) for d in h.datoms("vaet", ivan, FRIEND)] == [(oleg, True, t(r3)), (oleg, False, t(r4))]


def test_history_datoms_take_every_index_prefix(story):
    conn, (r1, r2, r3, r4), ivan = story
    h = conn.db().history()
    every = list(h.datoms("eavt"))

    def expect(pred: Any) -> list[tuple[Any, ...]]:
        return sorted(_key(d) for d in every if pred(d))

    def got(index: str, *components: Any) -> list[tuple[Any, ...]]:
        return sorted(_key(d) for d in h.datoms(index, *components))

    assert got("eavt", ivan) == expect(lambda d: d.e == ivan)
    assert got("eavt", ivan, "age") == expect(lambda d: d.e == ivan and d.a is AGE)
    assert got("eavt", ivan, ":age", 19) == expect(lambda d: d.e == ivan and d.a is AGE and d.v == 19)
    assert got("eavt", ivan, AGE, 19, t(r2)) == [_key(Datom(ivan, AGE, 19, t(r2), False))]
    assert got("aevt", AGE) == expect(lambda d: d.a is AGE)
    assert got("aevt", AGE, ivan) == expect(lambda d: d.a is AGE and d.e == ivan)
    assert got("aevt", AGE, ivan, 20) == expect(lambda d: d.a is AGE and d.e == ivan and d.v == 20)
    assert got("avet", AGE, 20) == expect(lambda d: d.a is AGE and d.v == 20)
    assert got("avet", NAME, "Ivan", ivan) == expect(lambda d: d.a is NAME and d.e == ivan)
    assert got("vaet", ivan) == expect(lambda d: d.v == ivan and d.a is FRIEND)
    # Lookup refs resolve through the current value, where Ivan is gone.
    assert got("eavt", [NAME, "Oleg"], FRIEND, [NAME, "Ivan"]) == []
    assert got("eavt", [NAME, "Oleg"], FRIEND, ivan) == expect(lambda d: d.a is FRIEND)
    assert got("eavt", 999) == [] and got("eavt", [NAME, "nobody"]) == []
    with pytest.raises(QueryError, match="should be marked as :db/index"):
        list(h.datoms("avet", TAGS))
    # index order, then tx: an assertion precedes its retraction
    assert list(h.datoms("aevt", AGE)) == sorted(h.datoms("aevt", AGE), key=lambda d: (d.e, d.v, d.tx))


def test_history_lookup_refs_resolve_against_the_db(story):
    conn, (r1, r2, r3, r4), _ = story
    db = conn.db()
    oleg = db.entid([NAME, "Oleg"])
    part = db.entid([NAME, "Oleg/part"])
    h = db.history()
    assert [d.v for d in h.datoms("eavt", [NAME, "Oleg"], PART)] == [part]
    assert [d.e for d in h.datoms("vaet", [NAME, "Oleg/part"], PART)] == [oleg]
    assert [d.e for d in h.datoms("aevt", PART, oleg, [NAME, "Oleg/part"])] == [oleg]


def test_history_composes(story):
    conn, (r1, r2, r3, r4), ivan = story
    db = conn.db()
    assert db.as_of(t(r2)).history() is db.history().as_of(t(r2))
    assert {d.tx for d in db.history().as_of(t(r2)).datoms("eavt")} == {t(r1), t(r2)}
    assert db.history().history() is db.history()
    since_r2 = db.since(t(r2)).history()
    assert since_r2.is_history and {d.tx for d in since_r2.datoms("eavt")} == {t(r3), t(r4)}
    assert {d.tx for d in db.history().since(t(r3)).datoms("eavt")} == {t(r4)}


def test_pull_and_entity_refuse_history(story):
    conn, _, ivan = story
    with pytest.raises(QueryError, match="history"):
        conn.db().history().pull("[*]", ivan)
    with pytest.raises(QueryError, match="history"):
        conn.db().history().entity(ivan)


def test_views_offer_the_db_methods(story):
    conn, (r1, r2, r3, r4), ivan = story
    old = conn.db().as_of(t(r2))
    assert old.entity(ivan)["age"] == 20
    assert old.pull_many("[:age]", [ivan]) == [{AGE: 20}]
    assert conn.db().since(t(r1)).as_of(t(r2)).entity(ivan)["age"] == 20


def test_history_query_with_five_element_patterns(story):
    conn, (r1, r2, r3, r4), ivan = story
    found = conn.db().history().q("[:find ?v ?tx ?added :in $ ?e :where [?e :age ?v ?tx ?added]]", ivan)
    assert set(found) == {(19, t(r1), True), (19, t(r2), False), (20, t(r2), True), (20, t(r4), False)}


def test_queries_over_time_views(story):
    conn, (r1, r2, r3, r4), ivan = story
    db = conn.db()
    ages = "[:find [?age ...] :where [_ :age ?age]]"
    assert db.as_of(t(r1)).q(ages) == [19]
    assert sorted(db.since(t(r2)).q("[:find [?n ...] :where [_ :name ?n]]")) == ["Oleg", "Oleg/part"]
    retracted = "[:find ?v ?tx :in $ ?e :where [?e :age ?v ?tx false]]"
    assert set(db.history().q(retracted, ivan)) == {(19, t(r2)), (20, t(r4))}
    assert db.as_of(t(r2)).q("[:find (pull ?e [:name :age]) . :where [?e :age 20]]") == {NAME: "Ivan", AGE: 20}


def _key(d: Datom) -> tuple[Any, ...]:
    return (d.e, d.a.full, repr(d.v), d.tx, d.added)


# -- the property from issue #2 ------------------------------------------------------

_E = st.integers(1, 6)
_OPS = st.one_of(
    st.tuples(st.just("add"), _E, st.sampled_from(["age", "tags"]), st.integers(0, 3)),
    st.tuples(st.just("add"), _E, st.sampled_from(["friend", "best", "part"]), _E),
    st.tuples(st.just("add"), _E, st.just("name"), st.sampled_from(["a", "b", "c"])),
    st.tuples(st.just("retract"), _E, st.sampled_from(["age", "tags", "name"]), st.integers(0, 3)),
    st.tuples(st.just("retract"), _E, st.sampled_from(["friend", "best", "part"]), _E),
    st.tuples(st.just("retractEntity"), _E),
)


def _tx_data(ops: list[tuple[Any, ...]]) -> list[list[Any]]:
    out = []
    for op in ops:
        if op[0] == "retractEntity":
            out.append([K("db/retractEntity"), op[1]])
        else:
            out.append([K(f"db/{op[0]}"), op[1], K(op[2]), op[3]])
    return out


@given(st.lists(st.lists(_OPS, min_size=1, max_size=5), min_size=1, max_size=8))
def test_as_of_every_tx_equals_its_db_after(txs):
    with connect(":memory:", schema=SCHEMA) as conn:
        reports = []
        for ops in txs:
            try:
                reports.append(conn.transact(_tx_data(ops)))
            except StoreError:
                pass  # a refused transaction leaves nothing behind
        db = conn.db()
        for r in reports:
            same_datoms(db.as_of(t(r)), r.db_after)
            assert db.as_of(t(r)).max_eid == r.db_after.max_eid
            assert sorted(map(_key, db.history().as_of(t(r)).datoms("eavt"))) == sorted(
                _key(d) for rr in reports if t(rr) <= t(r) for d in rr.tx_data
            )
            current_since = [d for d in db.datoms("eavt") if d.tx > t(r)]
            assert list(db.since(t(r)).datoms("eavt")) == current_since
