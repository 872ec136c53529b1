"""Issue #3 steps 3, 4 and 6 as a new user tries them: upload, jobs, runs, the CLI, bad input.

One bus and two agents serve the whole module, in one private network
namespace: "disco" found by zeroconf, "direct" linked with --control-bus.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jobstreamer.common import edn
from jobstreamer.common.edn import Keyword
from jobstreamer.common.wire.json import to_json
from jobstreamer.control_bus._bundle import read_bundle

from ._cluster import EDN, HELLO, JSON, Http, Ran, Server, Servers, cli, eventually, job, k, probe_tree, zip_tree

COMPLETED = Keyword("completed")


@dataclass
class Cluster:
    root: Path
    bus: Server
    http: Http
    agents: dict[str, str]  # name -> instance id
    upload: Ran  # `jobstreamer apps upload examples/hello --name hello`
    jobs_put: Ran  # `jobstreamer jobs put examples/hello/jobs.edn --app hello`

    def cli(self, *args: str, **options: Any) -> Ran:
        """`jobstreamer ARGS` with this module's token, unless `token=` says otherwise."""
        options = {"token": self.http.token, "config": self.root / "config", **options}
        return cli(*args, port=self.bus.port, **options)


@pytest.fixture(scope="module")
def cluster(netns_module: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("flow")
    servers = Servers(root)
    try:
        servers.agent("disco")  # starts while the bus does
        bus = servers.bus()
        servers.agent("direct", control_bus=f"ws://127.0.0.1:{bus.port}/join")
        http = Http(bus.port)
        http.log_in()
        # What a new user types first; the tests below read what it printed.
        config = root / "config"
        upload = cli("apps", "upload", str(HELLO), "--name", "hello", port=bus.port, config=config)
        jobs_put = cli("jobs", "put", str(HELLO / "jobs.edn"), "--app", "hello", port=bus.port, config=config)
        ready = http.ready_agents(2)
        agents = {agent[Keyword("agent/name")]: instance_id for instance_id, agent in ready.items()}
        yield Cluster(root, bus, http, agents, upload, jobs_put)
    finally:
        servers.close()


def _one_error_line(ran: Ran) -> str:
    assert ran.status != 0, ran
    assert "Traceback" not in ran.stderr, ran.stderr
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), ran.stderr
    return lines[0]


# Step 3: upload -------------------------------------------------------------------------


def test_an_uploaded_tree_is_versioned_by_its_content_hash_and_a_zip_of_it_keeps_it(cluster: Cluster) -> None:
    version = read_bundle(HELLO).version
    assert cluster.upload.status == 0, cluster.upload
    assert version in cluster.upload.stdout and "a new version" in cluster.upload.stdout
    listed = cluster.http.call("GET", "/apps/hello/versions")
    assert [v[Keyword("application/version")] for v in listed.data] == [version]

    # The same tree as `zip -r` makes it: in a folder, with byte code and Finder litter the hash ignores.
    archive = cluster.root / "hello-1.0.zip"
    archive.write_bytes(
        zip_tree(HELLO, prefix="hello-1.0/", extra={"hello/__pycache__/tasks.cpython-311.pyc": b"\0", ".DS_Store": b""})
    )
    again = cluster.cli("apps", "upload", str(archive), "--name", "hello", "--json")
    assert again.status == 0, again
    reply = json.loads(again.stdout)
    assert reply["application/version"] == version
    assert reply["version/new?"] is False


# Step 4: jobs and runs --------------------------------------------------------------------


def test_the_demo_job_file_is_put_with_the_cli(cluster: Cluster) -> None:
    assert cluster.jobs_put.status == 0, cluster.jobs_put
    assert "job greet saved" in cluster.jobs_put.stdout
    greet = cluster.http.call("GET", "/hello/job/greet")
    assert greet.status == 200
    (step,) = greet["job/steps"]
    assert step[Keyword("step/task")] == "hello.tasks:greet"


def test_jobs_are_posted_in_edn_or_json_and_replaced_by_name(cluster: Cluster) -> None:
    http = cluster.http
    in_edn = '{:job/name "greet-edn" :job/steps [{:step/name "greet" :step/task "hello.tasks:greet" :step/params {:name "edn"}}]}'
    in_json = {"job/name": "greet-json",
               "job/steps": [{"step/name": "greet", "step/task": "hello.tasks:greet", "step/params": {"name": "json"}}]}

    created = [http.call("POST", "/hello/jobs", body=in_edn.encode()),
               http.call("POST", "/hello/jobs", in_json, content_type=JSON, accept=JSON)]
    replaced = http.call("POST", "/hello/jobs", body=in_edn.encode())

    assert [reply.status for reply in created] == [201, 201] and replaced.status == 200
    assert created[1]["job/name"] == "greet-json" and created[1].content_type == JSON
    assert cluster.http.run("hello", "greet-edn")["execution/result"] == {"greeting": "hello, edn"}
    assert cluster.http.run("hello", "greet-json")["execution/result"] == {"greeting": "hello, json"}


def test_a_run_waits_for_its_result_and_reads_back_in_edn_or_json(cluster: Cluster) -> None:
    http = cluster.http
    ran = http.call("POST", "/hello/job/greet/executions?wait=30", {"name": "bus"}, content_type=JSON, accept=JSON)

    assert ran.status == 201, ran
    assert ran["execution/batch-status"] == "completed"
    assert ran["execution/result"] == {"greeting": "hello, bus"}
    assert ran["execution/parameters"] == {"name": "bus"}
    (step,) = ran["execution/step-executions"]
    assert step["step-execution/step-name"] == "greet" and step["step-execution/batch-status"] == "completed"
    path = f"/hello/job/greet/execution/{ran['execution/id']}"
    as_edn = http.call("GET", path, accept=EDN)
    as_json = http.call("GET", path, accept=JSON)
    assert as_edn.content_type == EDN and as_json.content_type == JSON
    assert as_edn["execution/batch-status"] == COMPLETED
    assert as_json.data == ran.data
    assert to_json(as_edn.data) == ran.data


def test_a_task_result_keeps_the_keys_the_task_returned(cluster: Cluster) -> None:
    """A task returning {"greeting": ...} reads back with that str key in EDN: the bus never renames data.

    Keyword keys stay keywords too, so EDN clients get exactly what the task built.
    """
    ran = cluster.http.call("POST", "/hello/job/greet/executions?wait=30", k(name="bus"))
    assert ran.status == 201, ran
    assert ran["execution/result"] == {"greeting": "hello, bus"}


@pytest.mark.parametrize("agent", ["disco", "direct"])
def test_the_code_comes_from_the_bus_and_never_from_disk(cluster: Cluster, agent: str) -> None:
    http = cluster.http
    uploaded = http.call("POST", "/apps?name=probe", body=zip_tree(probe_tree(cluster.root)), content_type="application/zip")
    assert uploaded.status in (200, 201), uploaded
    version = uploaded["application/version"]
    assert http.call("POST", "/probe/jobs", job("where", "hello.probe:where")).status in (200, 201)
    with http.only(cluster.agents[agent]):
        execution = http.run("probe", "where")

    assert execution["execution/agent"]["agent/instance-id"] == cluster.agents[agent]
    where = execution["execution/result"]
    assert where["file"] == f"<app probe@{version[:8]}>/hello/tasks.py"
    for entry in map(Path, where["path"]):
        assert not (entry / "hello").exists() and not (entry / "hello.py").exists(), entry
    assert str(HELLO.parent) not in where["path"]
    agent_data = cluster.root / agent
    assert agent_data.is_dir()
    assert not [p for p in agent_data.rglob("*") if p.name in ("hello", "tasks.py", "probe.py")]


# Step 6: the CLI ---------------------------------------------------------------------------


def test_run_wait_prints_the_result_as_text_json_or_edn(cluster: Cluster) -> None:
    command = ("run", "hello", "greet", "name=you", "--wait")
    with ThreadPoolExecutor(3) as pool:  # threads stay in the test's namespace
        text, as_json, as_edn = pool.map(lambda extra: cluster.cli(*command, *extra), [(), ("--json",), ("--edn",)])

    for ran in (text, as_json, as_edn):
        assert ran.status == 0, ran
    assert "hello, you" in text.stdout and "completed" in text.stdout
    assert json.loads(as_json.stdout)["execution/result"] == {"greeting": "hello, you"}
    assert to_json(edn.loads(as_edn.stdout))["execution/result"] == {"greeting": "hello, you"}


def test_the_cli_logs_in_lists_and_reads_logs(cluster: Cluster) -> None:
    config = cluster.root / "login-config"
    logged_in = cluster.cli("login", token=None, config=config)
    assert logged_in.status == 0, logged_in
    # From here on the saved token alone.
    ran = json.loads(cluster.cli("run", "hello", "greet", "name=log", "--wait", "--json", token=None, password=None,
                                 config=config).stdout)
    history = json.loads(cluster.cli("executions", "hello", "greet", "--json", token=None, password=None,
                                     config=config).stdout)
    agents = json.loads(cluster.cli("agents", "--json").stdout)

    assert ran["execution/id"] in [e["execution/id"] for e in history["results"]]
    assert {a["agent/name"]: a["agent/state"] for a in agents} == {"disco": "ready", "direct": "ready"}
    # Log lines reach the bus after the run ends (the agent says they wait; the bus fetches them).
    logs = eventually(
        lambda: cluster.cli("logs", "hello", "greet", str(ran["execution/id"])).stdout,
        what="the run's log lines on the bus",
    )
    assert "greeting log" in logs


def test_cli_errors_are_one_line_and_a_failure_status(cluster: Cluster) -> None:
    malformed = cluster.root / "malformed.edn"
    malformed.write_text('{:job/name "x" :job/steps [')
    invalid = cluster.root / "invalid.edn"
    invalid.write_text('{:job/name "no-steps"}')
    commands = [
        ("run", "nope", "greet", "--wait"),
        ("run", "hello", "nope", "name=x", "--wait"),
        ("jobs", "put", str(malformed), "--app", "hello"),
        ("jobs", "put", str(invalid), "--app", "hello"),
        ("jobs", "put", str(HELLO / "jobs.edn"), "--app", "nope"),
    ]
    with ThreadPoolExecutor(len(commands)) as pool:
        errors = list(pool.map(lambda command: _one_error_line(cluster.cli(*command)), commands))

    assert "nope" in errors[0] and "nope" in errors[1]
    assert "malformed.edn" in errors[2] and "EDN" in errors[2]
    assert "step" in errors[3]


# Bad input over real HTTP ----------------------------------------------------------------------

_BAD_STEP = '{:job/name "bad-step" :job/steps [{:step/name "a" :step/task "no colon"}]}'


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status"),
    [
        ("POST", "/hello/jobs", '{:job/name "x" :job/steps [', EDN, 400),
        ("POST", "/hello/jobs", '{"job/name": "x",', JSON, 400),
        ("POST", "/hello/jobs", "#bogus/tag 1", EDN, 400),
        ("POST", "/hello/jobs", '{:job/name "bad name!" :job/steps [{:step/name "a" :step/task "hello.tasks:greet"}]}',
         EDN, 400),
        ("POST", "/hello/jobs", '{:job/name "empty" :job/steps []}', EDN, 400),
        ("POST", "/hello/jobs", _BAD_STEP, EDN, 400),
        ("POST", "/hello/jobs", "[1 2 3]", EDN, 400),
        ("POST", "/hello/jobs", "job/name: x", "text/plain", 415),
        ("POST", "/hello/jobs", '{"job/name": NaN}', JSON, 400),
        ("POST", "/nope/jobs", '{:job/name "x" :job/steps [{:step/name "a" :step/task "hello.tasks:greet"}]}', EDN, 404),
        ("POST", "/hello/job/greet/executions", "{:name", EDN, 400),
        ("POST", "/hello/job/greet/executions", "[:not :a-map]", EDN, 400),
        ("POST", "/hello/job/greet/executions?wait=soon", "{}", EDN, 400),
        ("POST", "/hello/job/nope/executions", "{}", EDN, 404),
        ("POST", "/nope/job/greet/executions", "{}", EDN, 404),
        ("GET", "/hello/job/greet/execution/987654321", None, EDN, 404),
        ("GET", "/hello/job/greet/executions?limit=-1", None, EDN, 400),
        ("POST", "/apps?name=junk", "not a zip", "application/zip", 400),
        ("PUT", "/hello/job/greet", '{:job/name "other" :job/steps []}', EDN, 400),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(
    cluster: Cluster, method: str, path: str, body: str | None, content_type: str, status: int
) -> None:
    encoded = None if body is None else body.encode()
    for accept in (EDN, JSON):
        reply = cluster.http.call(method, path, body=encoded, content_type=content_type, accept=accept)
        assert reply.status == status, reply
        assert isinstance(reply["error/message"], str) and reply["error/message"], reply
        assert reply["error/status"] == status
