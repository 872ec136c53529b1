"""The datom store against issue #2's targets: transact, query, pull, open, memory.

Transactions write flat user maps (5 attributes: a unique identity, a ref, a
keyword, a string, a number) and nested customer maps (a user owning four
order components).  Queries, pulls, opens and the memory figure read stores
of customers built once, in 1,000-entity transactions, and cached under
bench/.cache/ (the file names carry a hash of the store's on-disk code, so a
format change rebuilds them).  Opens and memory are measured in a fresh
process: `python -m bench.store open|memory PATH` is that process.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import psutil

from jobstreamer.common import store
from jobstreamer.common.edn import K
from jobstreamer.common.store import Conn, connect

from ._report import Figure

log = logging.getLogger(__name__)

BENCH = Path(__file__).resolve().parent
CACHE = BENCH / ".cache"
# Bump when a dataset changes shape, so cached stores are rebuilt.
DATASET_VERSION = 2

SCHEMA = """{:user/email  {:db/unique :db.unique/identity}
 :user/org    {:db/valueType :db.type/ref}
 :user/orders {:db/valueType :db.type/ref :db/cardinality :db.cardinality/many
               :db/isComponent true}
 :order/id    {:db/unique :db.unique/identity}}"""

ORDERS = 4  # per customer
DATOMS_PER_CUSTOMER = 2 + ORDERS + ORDERS * 4  # email, name, order refs; 4 attributes per order
CUSTOMERS_PER_TX = 200  # 200 x (1 user + 4 orders) = 1,000 entities per transaction
PLANS = (K("plan/free"), K("plan/team"), K("plan/enterprise"))
STATUSES = (K("order.status/open"), K("order.status/paid"), K("order.status/shipped"))

POINT = "[:find ?e . :in $ ?email :where [?e :user/email ?email]]"
JOIN = """[:find ?order ?status :in $ ?email
           :where [?user :user/email ?email] [?user :user/orders ?order]
                  [?order :order/status ?status]]"""
PULL = "[:user/name {:user/orders [:order/total]}]"


@dataclass(frozen=True, slots=True)
class Sizes:
    batches: int  # timed 1,000-entity transactions per store and shape
    singles: int  # timed 1-entity transactions per store
    customers: int  # in the query store (5 entities each; a multiple of CUSTOMERS_PER_TX)
    samples: int  # timed calls per query
    history_datoms: int  # in the store that is opened and weighed
    opens: int  # fresh processes per open figure (the median is reported)


FULL = Sizes(batches=50, singles=1_000, customers=20_000, samples=5_000, history_datoms=1_000_000, opens=3)
# --quick: about 10 s all told; the figures only show the harness works.
QUICK = Sizes(batches=3, singles=100, customers=1_000, samples=300, history_datoms=50_000, opens=1)


# --- data ---------------------------------------------------------------------


def _email(i: int) -> str:
    return f"customer{i}@example.com"


def _user(i: int, org: int) -> dict[str, Any]:
    """A flat entity of 5 attributes: identity, string, number, keyword, ref."""
    return {
        "user/email": f"user{i}@example.com",
        "user/name": f"User {i}",
        "user/age": 18 + i % 60,
        "user/plan": PLANS[i % len(PLANS)],
        "user/org": org,
    }


def _customer(i: int) -> dict[str, Any]:
    """A user owning four orders: 5 entities, 22 datoms."""
    orders = [
        {
            "order/id": f"order-{i}-{j}",
            "order/total": (i * 7 + j * 13) % 500 + 0.99,
            "order/status": STATUSES[(i + j) % len(STATUSES)],
            "order/placed": 1_700_000_000 + i * 60 + j,
        }
        for j in range(ORDERS)
    ]
    return {"user/email": _email(i), "user/name": f"Customer {i}", "user/orders": orders}


def _customers(tx: int) -> list[dict[str, Any]]:
    """The `tx`th transaction of customers: 1,000 entities."""
    return [_customer(i) for i in range(tx * CUSTOMERS_PER_TX, (tx + 1) * CUSTOMERS_PER_TX)]


# --- cached stores --------------------------------------------------------------


def _cache_key() -> str:
    """Changes with the dataset version and with the store's storage code."""
    digest = hashlib.sha256(str(DATASET_VERSION).encode())
    for name in ("_codec.py", "_sqlite.py"):
        digest.update((Path(store.__file__).parent / name).read_bytes())
    return digest.hexdigest()[:12]


@contextmanager
def _building(path: Path) -> Iterator[Path]:
    """A scratch path that becomes `path` only once the block finishes."""
    partial = path.with_name(path.name + ".partial")
    for leftover in partial.parent.glob(partial.name + "*"):
        leftover.unlink()
    yield partial
    partial.rename(path)


def _customer_stores(directory: Path, customers: int) -> tuple[Path, Path]:
    """(log only, log + checkpoint) store files holding `customers`, built unless present.

    `customers` is a multiple of CUSTOMERS_PER_TX: the stores are built in
    1,000-entity transactions, as a busy bus would write them.
    """
    stem = f"customers-{customers}-{_cache_key()}"
    log_only, checkpointed = directory / f"{stem}-log.db", directory / f"{stem}-checkpoint.db"
    if not log_only.exists():
        log.info("building %s (%s customers, once)", log_only.name, f"{customers:,}")
        with _building(log_only) as partial:
            # NORMAL: building is not what is measured, and fsyncs would dominate it.
            with connect(str(partial), schema=SCHEMA, checkpoint_every=None, synchronous="NORMAL") as conn:
                for tx in range(customers // CUSTOMERS_PER_TX):
                    conn.transact(_customers(tx))
    if not checkpointed.exists():
        log.info("checkpointing a copy as %s", checkpointed.name)
        with _building(checkpointed) as partial:
            shutil.copyfile(log_only, partial)
            with connect(str(partial), checkpoint_every=None) as conn:
                conn.checkpoint()
    return log_only, checkpointed


def _stale(directory: Path, key: str) -> None:
    """Delete cached stores another dataset version or store format built."""
    for path in directory.glob("customers-*.db"):
        if key not in path.name:
            path.unlink()


# --- measuring ---------------------------------------------------------------------


def _timed(fn: Callable[[Any], Any], args: Sequence[Any], warmup: int) -> list[float]:
    """Seconds each call `fn(arg)` took, sorted; the first `warmup` calls are not timed."""
    for arg in args[:warmup]:
        fn(arg)
    seconds = []
    for arg in args[warmup:]:
        start = time.perf_counter()
        fn(arg)
        seconds.append(time.perf_counter() - start)
    return sorted(seconds)


def _quantile(ordered: Sequence[float], q: float) -> float:
    return ordered[round(q * (len(ordered) - 1))]


def _transacted(
    conn: Conn, make_tx: Callable[[int], list[dict[str, Any]]], count: int
) -> tuple[int, list[float], float]:
    """Datoms written by transactions 1..count, each one's seconds, and their CPU seconds.

    Transaction 0 warms up (parse caches, first index nodes).  Each one's data
    is built just before it, untimed: a heap of prebuilt batches would make
    every garbage collection inside the timed calls slower than in real use.
    """
    conn.transact(make_tx(0))
    datoms, seconds, cpu = 0, [], 0.0
    for i in range(1, count + 1):
        tx = make_tx(i)
        start, cpu_start = time.perf_counter(), time.process_time()
        datoms += len(conn.transact(tx).tx_data)
        seconds.append(time.perf_counter() - start)
        cpu += time.process_time() - cpu_start
    return datoms, sorted(seconds), cpu


# --- the figures --------------------------------------------------------------------

TRANSACT_TARGET = ">= 50,000 datoms/s"
STORAGE_NOTES = {
    "SQLite file": "synchronous=FULL, so every commit is fsynced; automatic checkpoints included",
    ":memory:": "no storage; automatic checkpoints included",
}


def _rate(metric: str, datoms: int, seconds: list[float], cpu: float, note: str, target: bool) -> Figure:
    return Figure(
        "store",
        metric,
        datoms / sum(seconds),
        "datoms/s",
        TRANSACT_TARGET if target else "",
        # The CPU rate tells a slow disk or a busy machine from slow code.
        f"{note}; {len(seconds):,} transactions timed, median {_quantile(seconds, 0.5) * 1e3:.2f} ms "
        f"each; {datoms / cpu:,.0f} datoms per CPU second",
        target_value=50_000 if target else None,
    )


def _transact_figures(directory: Path, sizes: Sizes) -> list[Figure]:
    figures = []
    for where, url in (("SQLite file", str(directory / "transact.db")), (":memory:", ":memory:")):
        with connect(url, schema=SCHEMA) as conn:
            org = conn.transact([{"db/id": "org", "org/name": "Example Ltd"}]).tempids["org"]
            storage = STORAGE_NOTES[where]
            figures += [
                _rate(
                    f"transact 1,000-entity batches, {where}",
                    *_transacted(conn, lambda b: [_user(b * 1_000 + i, org) for i in range(1_000)], sizes.batches),
                    f"flat maps of 5 attributes (unique identity, ref, keyword, string, number); {storage}",
                    target=True,
                ),
                _rate(
                    f"transact 1,000-entity batches of nested maps, {where}",
                    *_transacted(conn, _customers, sizes.batches),
                    "200 users each owning 4 order components (22 datoms a user); "
                    f"the target is stated for flat maps; {storage}",
                    target=False,
                ),
                _rate(
                    f"transact 1-entity transactions, {where}",
                    *_transacted(conn, lambda i: [_user(10**7 + i, org)], sizes.singles),
                    f"one flat 5-attribute map per transaction, into the store above; {storage}",
                    target=False,
                ),
            ]
    return figures


def _check(db: Any, email: str, eid: int) -> None:
    """Fail rather than time a query that answers wrongly."""
    rows, pulled = db.q(JOIN, email), db.pull(PULL, eid)
    if len(rows) != ORDERS or len(pulled[K("user/orders")]) != ORDERS:
        raise RuntimeError(f"wrong answers for {email}: {rows!r}, {pulled!r}")


def _latency_figures(metric: str, seconds: list[float], note: str, target: bool) -> list[Figure]:
    return [
        Figure(
            "store",
            f"{metric}, {name}",
            _quantile(seconds, q) * 1e6,
            "us",
            "< 100 us" if target and name == "p50" else "",
            note,
            target_value=100 if target and name == "p50" else None,
            higher_is_better=False,
        )
        for name, q in (("p50", 0.5), ("p99", 0.99))
    ]


def _query_figures(path: Path, sizes: Sizes) -> list[Figure]:
    warmup = 200
    rng = random.Random(2)
    emails = [_email(rng.randrange(sizes.customers)) for _ in range(warmup + sizes.samples)]
    where = (
        f"over {sizes.customers * (1 + ORDERS):,} entities ({sizes.customers:,} users with "
        f"{ORDERS} orders each, {sizes.customers * DATOMS_PER_CUSTOMER:,} datoms), "
        f"opened from a checkpoint; {sizes.samples:,} random users, parse cache warm"
    )
    with connect(str(path)) as conn:
        db = conn.db()
        eids = [db.q(POINT, email) for email in emails]
        _check(db, emails[0], eids[0])
        return [
            *_latency_figures(
                "point query by unique attribute",
                _timed(lambda email: db.q(POINT, email), emails, warmup),
                f"{POINT} (scalar find); {where}",
                target=True,
            ),
            *_latency_figures(
                "3-clause join",
                _timed(lambda email: db.q(JOIN, email), emails, warmup),
                "user by :user/email -> their :user/orders -> each order's :order/status, "
                f"4 rows of [order status]; {where}",
                target=False,
            ),
            *_latency_figures(
                "pull",
                _timed(lambda eid: db.pull(PULL, eid), eids, warmup),
                f"{PULL}: a name and 4 nested order totals; {where}",
                target=False,
            ),
        ]


def _probe(mode: str, path: Path) -> dict[str, Any]:
    """Run `python -m bench.store mode path` in a fresh process; its answer plus wall time."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.store", mode, str(path)],
        cwd=BENCH.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0 or "ignoring the checkpoint" in done.stderr:
        raise RuntimeError(f"python -m bench.store {mode} {path} failed:\n{done.stderr}")
    return {**json.loads(done.stdout), "wall": wall}


def _open_figures(log_only: Path, checkpointed: Path, sizes: Sizes) -> list[Figure]:
    figures = []
    for label, path, target in (
        ("with a checkpoint", checkpointed, True),
        ("log only (no checkpoint)", log_only, False),
    ):
        runs = sorted((_probe("open", path) for _ in range(sizes.opens)), key=lambda r: r["seconds"])
        median = runs[len(runs) // 2]
        figures.append(
            Figure(
                "store",
                f"open a {median['datoms']:,}-datom history, {label}",
                median["seconds"],
                "s",
                "< 3 s with a checkpoint" if target else "",
                f"connect(path) + conn.db() in a fresh process, median of {len(runs)}, "
                f"{median['cpu']:.2f} s of CPU; the whole process took {median['wall']:.2f} s "
                "with interpreter start and imports; "
                "history of assertions only, so the checkpoint holds every datom; "
                "the file is in the OS page cache",
                target_value=3 if target else None,
                higher_is_better=False,
            )
        )
    return figures


def _memory_figure(checkpointed: Path) -> Figure:
    measured = _probe("memory", checkpointed)
    return Figure(
        "store",
        f"memory, {measured['datoms']:,} current datoms",
        (measured["after"] - measured["before"]) / measured["datoms"],
        "bytes/datom",
        note=(
            "RSS growth of a fresh process opening the store from its checkpoint, after gc: "
            "Datom tuples and values plus the EAVT, AEVT, AVET (unique attributes) and VAET (refs) "
            "indexes, SQLite's page cache and allocator slack; no history (time views read "
            "it from the file)"
        ),
    )


def run(quick: bool = False) -> list[Figure]:
    """Every store figure; `quick` uses small sizes (about 5-10 s) and says so in each note."""
    sizes = QUICK if quick else FULL
    CACHE.mkdir(exist_ok=True)
    (CACHE / ".gitignore").write_text("# bench/store.py's cached stores and scratch files\n*\n")
    key = _cache_key()
    _stale(CACHE, key)
    per_tx = DATOMS_PER_CUSTOMER * CUSTOMERS_PER_TX
    history_customers = -(-sizes.history_datoms // per_tx) * CUSTOMERS_PER_TX
    # The scratch directory sits on the repository's disk, not a tmpfs /tmp,
    # so fsyncs cost what they cost where a store would live.
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="run-") as scratch:
        datasets = Path(scratch) if quick else CACHE  # quick sizes are cheap to rebuild
        figures = _transact_figures(Path(scratch), sizes)
        figures += _query_figures(_customer_stores(datasets, sizes.customers)[1], sizes)
        log_only, checkpointed = _customer_stores(datasets, history_customers)
        figures += _open_figures(log_only, checkpointed, sizes)
        figures.append(_memory_figure(checkpointed))
    if quick:
        figures = [replace(f, note=f"--quick sizes, not the issue's: {f.note}") for f in figures]
    return figures


# --- the fresh process ---------------------------------------------------------------


def _open_probe(path: str) -> dict[str, Any]:
    start, cpu = time.perf_counter(), time.process_time()
    conn = connect(path)
    db = conn.db()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    conn.close()
    return {"seconds": seconds, "cpu": cpu, "datoms": db.datom_count}


def _memory_probe(path: str) -> dict[str, Any]:
    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    conn = connect(path)
    db = conn.db()
    gc.collect()
    after = process.memory_info().rss
    conn.close()
    return {"before": before, "after": after, "datoms": db.datom_count}


PROBES = {"open": _open_probe, "memory": _memory_probe}

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)  # so _probe sees an ignored checkpoint
    mode, path = sys.argv[1:]
    print(json.dumps(PROBES[mode](path)))
