"""Runs through the whole spine (issue #3): a bus and one agent as real processes, the demo job over REST.

The cluster is what `jobstreamer up --agents 1` starts (common/cli/up.py):
a bus and an agent as child processes on 127.0.0.1, port 0, the agent
linked by --control-bus with its default --max-executions (the CPU count),
and the demo app hello with its job greet.  The bus still browses for
agents with zeroconf, so everything runs in a private network namespace
(tests/netns.py): nothing, not even mDNS on lo, is seen outside.

One client (aiohttp, one session, logged in once) POSTs
/hello/job/greet/executions?wait=30 and takes the time until the finished
execution comes back: sequentially for the round trip, then with 32 requests
in flight for the throughput (the bus queues what the agent has no free
worker for).  CPU per run is the change in each process's user+system time
over the throughput phase, divided by the runs.
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import psutil
from rich.console import Console

from jobstreamer.common import edn
from jobstreamer.common.cli.render import Output
from jobstreamer.common.cli.up import ADMIN_PASSWORD, LocalCluster, cluster_secrets
from jobstreamer.common.edn import Keyword
from tests.netns import private_netns

from ._report import Figure

NAME = "e2e"
RUN = "/hello/job/greet/executions?wait=30"
BODY = edn.dumps({Keyword("name"): "bench"}).encode()
HEADERS = {"Content-Type": "application/edn", "Accept": "application/edn"}
_STATUS, _RESULT = Keyword("execution/batch-status"), Keyword("execution/result")
TARGET_P50_MS = 10.0


@dataclass(frozen=True, slots=True)
class Sizes:
    warmup: int  # runs before anything is timed: workers import the app, connections open
    sequential: int
    concurrent: int
    concurrency: int


FULL = Sizes(warmup=30, sequential=300, concurrent=1_000, concurrency=32)
QUICK = Sizes(warmup=10, sequential=50, concurrent=200, concurrency=32)


class _Client:
    """One long-lived session to the bus, logged in once."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self._session = session
        self._url = url
        self._headers = {**HEADERS, "Authorization": f"Token {token}"}

    async def run(self) -> float:
        """One run of greet, waited for: its round trip in seconds."""
        started = time.perf_counter()
        async with self._session.post(self._url + RUN, data=BODY, headers=self._headers) as response:
            text = await response.text()
        elapsed = time.perf_counter() - started
        execution = edn.loads(text)
        if response.status != 201 or execution[_STATUS] != Keyword("completed"):
            raise RuntimeError(f"a run did not complete: {response.status} {text[:500]}")
        return elapsed


async def _log_in(session: aiohttp.ClientSession, url: str, password: str) -> str:
    body = edn.dumps({Keyword("user/id"): "admin", Keyword("user/password"): password})
    async with session.post(url + "/auth", data=body, headers=HEADERS) as response:
        reply = edn.loads(await response.text())
        response.raise_for_status()
    return str(reply[Keyword("token")])


def _cpu_seconds(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system
    return total


@dataclass(frozen=True, slots=True)
class _Processes:
    bus: psutil.Process
    agent: psutil.Process

    @classmethod
    def of(cls, parent: psutil.Process) -> _Processes:
        children = {" ".join(p.cmdline()[3:4]): p for p in parent.children()}  # python -m <module> <command>
        return cls(bus=children["control-bus"], agent=children["agent"])

    def workers(self) -> list[psutil.Process]:
        return self.agent.children()

    def cpu(self) -> tuple[float, float, float]:
        """CPU seconds so far of the bus, the agent, and its workers."""
        return _cpu_seconds([self.bus]), _cpu_seconds([self.agent]), _cpu_seconds(self.workers())


def _percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _measure(url: str, password: str, processes: _Processes, sizes: Sizes) -> list[Figure]:
    # One connection per request in flight, kept alive across runs.
    connector = aiohttp.TCPConnector(limit=sizes.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = _Client(session, url, await _log_in(session, url, password))
        for _ in range(sizes.warmup):
            await client.run()

        sequential = [await client.run() for _ in range(sizes.sequential)]

        remaining = sizes.concurrent
        latencies: list[float] = []

        async def keep_running() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                latencies.append(await client.run())

        # Worker CPU is summed over the agent's children now, so a worker that died meanwhile is left out.
        before, client_before = processes.cpu(), time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(keep_running() for _ in range(sizes.concurrency)))
        wall = time.perf_counter() - started
        after, client_cpu = processes.cpu(), time.process_time() - client_before

    bus_cpu, agent_cpu, worker_cpu = ((b - a) / sizes.concurrent * 1000 for a, b in zip(before, after))
    p50 = statistics.median(sequential) * 1000
    return [
        Figure(NAME, f"round trip p50, {sizes.sequential:,} sequential runs", p50, "ms",
               f"< {TARGET_P50_MS:g} ms", "POST ...executions?wait=30 until the completed execution returns",
               target_value=TARGET_P50_MS, higher_is_better=False),
        Figure(NAME, f"round trip p99, {sizes.sequential:,} sequential runs", _percentile(sequential, 0.99) * 1000,
               "ms"),
        Figure(NAME, f"throughput, {sizes.concurrent:,} runs at concurrency {sizes.concurrency}",
               sizes.concurrent / wall, "runs/s",
               note=f"round trip under load p50 {statistics.median(latencies) * 1000:.1f} ms, "
                    f"p99 {_percentile(latencies, 0.99) * 1000:.1f} ms"),
        Figure(NAME, "bus CPU per run (throughput phase)", bus_cpu, "ms"),
        Figure(NAME, "agent CPU per run (throughput phase)", agent_cpu, "ms", note="the agent process alone"),
        Figure(NAME, "worker CPU per run (throughput phase)", worker_cpu, "ms", note="all warm workers together"),
        Figure(NAME, "client CPU per run (throughput phase)", client_cpu / sizes.concurrent * 1000, "ms",
               note="this benchmark's own aiohttp client, on the same CPUs"),
    ]


def run(quick: bool = False) -> list[Figure]:
    sizes = QUICK if quick else FULL
    # The bench's client must not log in with a developer's own settings, nor pass them on.
    env = {name: value for name, value in os.environ.items() if not name.startswith("JOBSTREAMER_")}
    quiet = Output()
    quiet.out = quiet.err = Console(file=io.StringIO())  # `up`'s banner and spinners
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as scratch, private_netns():
        data = Path(scratch)
        with LocalCluster(data=data, port=0, agents=1, env=env, output=quiet) as cluster:
            processes = _Processes.of(psutil.Process())
            password = cluster_secrets(data, env)[ADMIN_PASSWORD]
            figures = asyncio.run(_measure(cluster.url, password, processes, sizes))
            workers = len(processes.workers())
    notes = ("--quick sizes" if quick else "", f"one agent, {workers} warm workers")
    return [replace(f, note="; ".join(filter(None, (notes[0], f.note, notes[1])))) for f in figures]
