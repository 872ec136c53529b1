"""Issue #3 steps 2 and 5: kill -9 the bus mid-life, start it again on the same --data.

Every execution is still there, a run that was in flight ends, the agents
link again by themselves ("disco" announces itself again and is rediscovered,
"direct" reconnects to its --control-bus URL), and new runs work on both.
"""

from __future__ import annotations

import pytest

from jobstreamer.common.edn import Keyword

from ._cluster import JSON, Http, Servers, eventually, job, k, probe_tree, zip_tree

pytestmark = pytest.mark.netns

NAP = 1.5  # seconds: long enough to be in flight when the bus dies


def _history(http: Http) -> list[dict[str, object]]:
    reply = http.call("GET", "/probe/job/greet/executions?limit=100", accept=JSON)
    assert reply.status == 200, reply
    return reply["results"]


def _completed(http: Http, path: str) -> dict[str, object] | None:
    execution = http.call("GET", path, accept=JSON).data
    return execution if execution["execution/batch-status"] == "completed" else None


def test_a_bus_killed_mid_life_keeps_every_execution_and_its_agents_rejoin(servers: Servers) -> None:
    disco = servers.agent("disco")  # starts while the bus does
    bus = servers.bus()
    direct = servers.agent("direct", control_bus=f"ws://127.0.0.1:{bus.port}/join")
    http = Http(bus.port)
    http.log_in()
    uploaded = http.call("POST", "/apps?name=probe", body=zip_tree(probe_tree(servers.root)),
                         content_type="application/zip")
    assert uploaded.status == 201, uploaded
    for definition in (job("greet", "hello.tasks:greet"), job("nap", "hello.probe:nap", seconds=NAP)):
        assert http.call("POST", "/probe/jobs", definition).status == 201
    before = http.ready_agents(2)
    ids = {agent[Keyword("agent/name")]: instance_id for instance_id, agent in before.items()}
    assert set(ids) == {disco.name, direct.name}
    for n in range(4):
        assert http.run("probe", "greet", k(name=f"run {n}"))["execution/batch-status"] == "completed"
    history = _history(http)
    napping = http.call("POST", "/probe/job/nap/executions", {})
    assert napping.status == 202, napping
    nap_path = f"/probe/job/nap/execution/{napping['execution/id']}"
    eventually(lambda: http.call("GET", nap_path)["execution/batch-status"] == Keyword("started"),
               what="the nap to start")

    bus.kill()
    # Same data; the same port, which only this test's namespace uses, so "direct" finds it again.
    again = servers.restart(bus, port=bus.port)

    assert again.port == bus.port
    after = http.ready_agents(2, timeout=20)  # the token survived too: it is in the store
    assert set(after) == set(before)
    assert _history(http) == history
    ended = eventually(lambda: _completed(http, nap_path), what="the run in flight to end")
    assert ended["execution/result"] == {"slept": NAP}
    for name, instance_id in ids.items():
        with http.only(instance_id):
            execution = http.run("probe", "greet", k(name=name))
        assert execution["execution/agent"]["agent/instance-id"] == instance_id
        assert execution["execution/result"] == {"greeting": f"hello, {name}"}
    assert len(_history(http)) == len(history) + 2
