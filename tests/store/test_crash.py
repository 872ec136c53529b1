"""A writer killed at any moment leaves whole transactions only (issue #2, "Persistence").

A subprocess appends LARGE transactions (and checkpoints) to a store file in
a loop; the test SIGKILLs it at random moments - while it encodes, while
SQLite writes and commits, while it checkpoints - then reopens the file and
checks that every transaction in it is whole and that none is half there.
"""

from __future__ import annotations

import functools
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from jobstreamer.common.edn import K
from jobstreamer.common.store import _sqlite
from jobstreamer.common.store._codec import encode_datoms, row_crc
from jobstreamer.common.store._datom import TX0, Datom
from jobstreamer.common.store._sqlite import SqliteStorage
from jobstreamer.common.store._storage import Checkpoint, TxRecord

DATOMS_PER_TX = 100_000
# As many kills as fit in the budget (keeping the test under ~10 s on a busy
# 2-core box), but at least MIN_KILLS.
KILL_BUDGET_S, MIN_KILLS = 4.5, 4
ROOT = Path(__file__).resolve().parents[2]
# The moments the writer announces, in order, for each tx; the test kills it
# at a random point in the phase that follows one of them.
PHASES = ("begin", "encoded", "committed", "checkpointed")


@functools.lru_cache(maxsize=4)  # the checks compare the same tx more than once
def tx_datoms(tx: int) -> tuple[Datom, ...]:
    """The datoms of transaction `tx`: fully determined by `tx`, so a reader can check them."""
    base = (tx - TX0) * DATOMS_PER_TX
    n, label = K("crash/n"), K("crash/label")
    return tuple(
        Datom(base + i, n, i * tx, tx) if i % 2 else Datom(base + i, label, f"{tx}:{i}", tx)
        for i in range(DATOMS_PER_TX)
    )


def writer(path: str) -> None:
    """The subprocess: append the next transactions until killed, announcing each phase."""

    def say(phase: str, tx: int) -> None:
        print(phase, tx, flush=True)

    encode = _sqlite.encode_datoms

    def encode_and_say(datoms: tuple[Datom, ...]) -> str:
        text = encode(datoms)
        say("encoded", datoms[0].tx)
        return text

    _sqlite.encode_datoms = encode_and_say  # type: ignore[assignment]
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    last = conn.execute("SELECT max(tx) FROM log").fetchone()[0] if "log" in tables else None
    conn.close()
    storage = SqliteStorage(path)
    # A tiny page cache makes SQLite spill a transaction into the WAL while it
    # is being written, so a kill mid-INSERT leaves uncommitted frames in the
    # file: the case recovery must discard.
    storage._db.execute("PRAGMA cache_size = 16")
    tx = (last or TX0) + 1
    while True:
        datoms = tx_datoms(tx)
        max_eid = datoms[-1].e
        say("begin", tx)
        storage.append(TxRecord(tx, datetime.now(timezone.utc), datoms, max_eid))
        say("committed", tx)
        storage.write_checkpoint(Checkpoint(tx, max_eid, datoms))
        say("checkpointed", tx)
        tx += 1


def start_writer(path: str) -> subprocess.Popen[str]:
    code = f"from tests.store.test_crash import writer; writer({path!r})"
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )


def events(proc: subprocess.Popen[str]) -> tuple[str, int, float]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"the writer died on its own (exit {proc.wait()})"
    phase, tx = line.split()
    return phase, int(tx), time.monotonic()


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)  # no chance to clean up, as in a crash
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


def calibrate(path: str) -> dict[str, float]:
    """Seconds each phase takes, from one writer life left to run a whole tx."""
    proc = start_writer(path)
    at: dict[str, float] = {}
    while True:
        phase, _, when = events(proc)
        if phase in at:  # the next tx began: every phase has been timed
            break
        at[phase] = when
    stop(proc)
    ends = [at[p] for p in PHASES[1:]] + [when]
    return {p: end - at[p] for p, end in zip(PHASES, ends)}


def check_store(path: str, verified_upto: int, committed: set[int]) -> int:
    """Every tx in the file whole, none missing, the checkpoint readable; returns the last tx.

    A row is compared with the EDN of its whole transaction (cheaper than
    decoding it); `records()` decodes the newest at the end of the test.
    """
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT tx, instant, max_eid, data, crc FROM log WHERE tx > ? ORDER BY tx",
        [verified_upto],
    ).fetchall()
    conn.close()
    assert [r[0] for r in rows] == list(range(verified_upto + 1, verified_upto + 1 + len(rows)))
    assert committed <= {r[0] for r in rows} | set(range(TX0 + 1, verified_upto + 1)), (
        "a tx reported committed is missing"
    )
    for tx, instant, max_eid, data, crc in rows:
        assert data == encode_datoms(tx_datoms(tx))
        assert crc == row_crc(tx, instant, max_eid, data)
    storage = SqliteStorage(path)
    try:
        checkpoint = storage.latest_checkpoint()
        if checkpoint is not None:  # the old one or the new one, never a mix
            assert checkpoint.datoms == tx_datoms(checkpoint.tx)
    finally:
        storage.close()
    return rows[-1][0] if rows else verified_upto


def test_a_writer_killed_at_random_moments_leaves_whole_transactions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "bus.db")
    durations = calibrate(path)
    seed = random.randrange(1 << 32)
    print("random seed", seed)  # shown by pytest if the test fails
    rng = random.Random(seed)
    verified = check_store(path, TX0, set())
    deadline, kills = time.monotonic() + KILL_BUDGET_S, 0
    while kills < MIN_KILLS or time.monotonic() < deadline:
        target = PHASES[kills % 3]  # each phase in turn; a random moment within it
        kills += 1
        proc = start_writer(path)
        committed: set[int] = set()
        while True:
            phase, tx, _ = events(proc)
            if phase == "committed":
                committed.add(tx)
            if phase == target:
                break
        time.sleep(rng.uniform(0, durations[target] * 1.2))
        stop(proc)
        verified = check_store(path, verified, committed)
    assert "ignoring the checkpoint" not in caplog.text
    storage = SqliteStorage(path)
    try:
        (last,) = storage.records(after_tx=verified - 1)
        assert last.datoms == tx_datoms(verified)
        conn = storage._db.conn
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        storage.close()
