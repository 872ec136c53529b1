"""Listeners, ported from DataScript's listen.cljc (tx-meta has no counterpart)."""

from __future__ import annotations

import logging

import pytest

from jobstreamer.common.edn import K
from jobstreamer.common.store import TX0, Datom, TransactionError


def test_listen(make_conn):
    conn = make_conn()
    reports = []
    conn.transact([[":db/add", -1, "name", "Alex"], [":db/add", -2, "name", "Boris"]])
    key = conn.listen(reports.append, key="test")
    assert key == "test"
    conn.transact([[":db/add", -1, "name", "Dima"], [":db/add", -1, "age", 19], [":db/add", -2, "name", "Evgeny"]])
    conn.transact(
        [
            [":db/add", -1, "name", "Fedor"],
            [":db/add", 1, "name", "Alex2"],  # updates
            [":db/retract", 2, "name", "Not Boris"],  # skipped
            [":db/retract", 4, "name", "Evgeny"],
        ]
    )
    conn.unlisten("test")
    conn.transact([[":db/add", -1, "name", "Geogry"]])

    name, age = K("name"), K("age")
    assert [r.tx_data for r in reports] == [
        [Datom(3, name, "Dima", TX0 + 2), Datom(3, age, 19, TX0 + 2), Datom(4, name, "Evgeny", TX0 + 2)],
        [
            Datom(5, name, "Fedor", TX0 + 3),
            Datom(1, name, "Alex", TX0 + 3, False),
            Datom(1, name, "Alex2", TX0 + 3),
            Datom(4, name, "Evgeny", TX0 + 3, False),
        ],
    ]
    assert reports[1].db_after is not conn.db()


def test_listen_returns_a_key_when_none_is_given(make_conn):
    conn = make_conn()
    seen = []
    key = conn.listen(seen.append)
    conn.transact([{"name": "a"}])
    conn.unlisten(key)
    conn.transact([{"name": "b"}])
    assert len(seen) == 1
    assert seen[0].db_after is not None


def test_listeners_see_the_published_value(make_conn):
    conn = make_conn()
    seen = []
    conn.listen(lambda report: seen.append(conn.db() is report.db_after))
    conn.transact([{"name": "a"}])
    assert seen == [True]


def test_failing_listener_is_logged_and_others_still_run(make_conn, caplog):
    conn = make_conn()
    seen = []

    def boom(report):
        raise RuntimeError("listener bug")

    conn.listen(boom)
    conn.listen(seen.append)
    with caplog.at_level(logging.ERROR):
        report = conn.transact([{"name": "a"}])
    assert seen == [report]
    assert conn.db() is report.db_after
    assert "listener" in caplog.text and "listener bug" in caplog.text


def test_failed_transaction_calls_no_listener(make_conn):
    conn = make_conn()
    seen = []
    conn.listen(seen.append)
    with pytest.raises(TransactionError):
        conn.transact([[":db/add", 1, "name", None]])
    assert seen == []


def test_listener_may_transact(make_conn):
    conn = make_conn()
    names = []

    def follow_up(report):
        if any(d.a == K("name") for d in report.tx_data):
            conn.transact([[":db/add", report.tx_data[0].e, "seen", True]])
        names.append(report.tx)

    conn.listen(follow_up)
    first = conn.transact([{"name": "a"}])
    assert {(d.a.full, d.v) for d in conn.db().datoms("eavt", first.tx_data[0].e)} == {("name", "a"), ("seen", True)}
    assert sorted(names) == [TX0 + 1, TX0 + 2]
