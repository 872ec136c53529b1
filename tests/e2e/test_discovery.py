"""Issue #3 step 2: agents announced over zeroconf join a bus by themselves; --control-bus skips discovery."""

from __future__ import annotations

import time

import psutil
import pytest

from jobstreamer.common.edn import Keyword

from ._cluster import Http, Servers

pytestmark = pytest.mark.netns

MDNS_PORT = 5353
# "Within seconds": zeroconf's own probing and announcing take about a second.
JOIN_TIMEOUT = 10.0


def _mdns_sockets(pid: int) -> list[object]:
    return [c for c in psutil.Process(pid).net_connections(kind="udp") if c.laddr and c.laddr.port == MDNS_PORT]


def test_announced_agents_join_with_their_stats_whether_they_start_before_or_after_the_bus(
    servers: Servers,
) -> None:
    early = servers.agent("early")
    assert early.port  # it prints its port once announced: before any bus browses
    bus = servers.bus()
    late = servers.agent("late")  # announced while the bus browses
    http = Http(bus.port)
    http.log_in()
    started = time.monotonic()

    agents = http.ready_agents(2, timeout=JOIN_TIMEOUT)

    assert time.monotonic() - started < JOIN_TIMEOUT
    by_name = {agent[Keyword("agent/name")]: agent for agent in agents.values()}
    assert set(by_name) == {"early", "late"}
    for server in (early, late):
        agent = by_name[server.name]
        assert agent[Keyword("agent/host")] == "127.0.0.1"
        assert agent[Keyword("agent/port")] == server.port
        stats = agent[Keyword("agent/stats")]
        assert stats[Keyword("agent/cores")] == psutil.cpu_count()
        assert stats[Keyword("agent/memory")] == psutil.virtual_memory().total
        assert stats[Keyword("agent/max-executions")] == 2
        assert len(stats[Keyword("agent/load")]) == 3
        assert list(agent[Keyword("agent/executions")]) == []
    # Both really announced themselves: each holds an mDNS socket.
    assert _mdns_sockets(early.pid) and _mdns_sockets(late.pid)
    assert bus.served.output.count("to join") >= 2


def test_an_agent_given_the_bus_url_links_without_zeroconf(servers: Servers) -> None:
    bus = servers.bus()
    direct = servers.agent("direct", control_bus=f"ws://127.0.0.1:{bus.port}/join")
    http = Http(bus.port)
    http.log_in()

    (agent,) = http.ready_agents(1, timeout=JOIN_TIMEOUT).values()

    assert agent[Keyword("agent/name")] == "direct"
    assert agent[Keyword("agent/port")] == direct.port
    # No zeroconf at all on the agent's side: no mDNS socket, and the bus invited nobody.
    assert _mdns_sockets(bus.pid), "the bus browses; the agent must not"
    assert not _mdns_sockets(direct.pid)
    assert "to join" not in bus.served.output
