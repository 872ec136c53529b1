"""Real `jobstreamer` processes for the end-to-end tests: servers, CLI runs and REST calls.

Servers start exactly as a user starts them (`python -m jobstreamer.common.cli
control-bus ...`, `... agent ...`) on 127.0.0.1, port 0; the port is read
from what they print.  Every process gets a marker variable in its
environment (workers inherit it: the agent strips only JOBSTREAMER_*), so
`Servers.close` finds any process left behind, even one orphaned by a
kill -9, kills it and fails the test.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil

from jobstreamer.common import edn
from jobstreamer.common.edn import Keyword
from tests.cli._processes import Served, jobstreamer
from tests.control_bus._domain import k

T = TypeVar("T")

SECRET = "e2e-cluster-secret"
ADMIN_PASSWORD = "e2e-admin-password"
EDN, JSON = "application/edn", "application/json"
REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "examples" / "hello"

MARKER = "JS_E2E_RUN"  # not JOBSTREAMER_*: the agent passes it on to its workers
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# What a bus ("... listening on http://127.0.0.1:P ...") and an agent ("... listening on port P") print.
_LISTENING = r"listening on (?:port |http://127\.0\.0\.1:)(\d+)"

# Every variable the CLI and the servers read, blanked (an empty one counts as
# unset) so nothing from the developer's shell leaks in.
_BLANK = dict.fromkeys(
    ("JOBSTREAMER_BUS", "JOBSTREAMER_TOKEN", "JOBSTREAMER_USER", "JOBSTREAMER_PASSWORD",
     "JOBSTREAMER_ADMIN_PASSWORD", "JOBSTREAMER_SECRET"),
    "",
)


def eventually(check: Callable[[], T], *, timeout: float = 15.0, what: str = "the condition") -> T:
    """The first truthy result of `check()`, polled until `timeout` (a test's own bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s (last: {result!r})")
        time.sleep(0.05)


# REST -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    text: str

    @property
    def data(self) -> Any:
        """The body read by its content type: EDN data, or JSON as parsed by `json`."""
        if self.content_type == JSON:
            return json.loads(self.text)
        assert self.content_type == EDN, (self.status, self.content_type, self.text)
        return edn.loads(self.text)

    def __getitem__(self, key: str) -> Any:
        """`reply["execution/id"]`: one key of the body (a keyword in EDN, a string in JSON)."""
        data = self.data
        return data[key] if self.content_type == JSON else data[Keyword(key)]


@dataclass
class Http:
    """Blocking REST calls to a bus over loopback, with http.client (no proxy is ever consulted)."""

    port: int
    token: str | None = None

    def call(
        self,
        method: str,
        path: str,
        data: Any = None,
        *,
        body: bytes | None = None,
        content_type: str = EDN,
        accept: str = EDN,
        timeout: float = 60.0,
    ) -> Reply:
        headers = {"Accept": accept}
        if body is None and data is not None:
            body = (edn.dumps(data) if content_type == EDN else json.dumps(data)).encode()
        if body is not None:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
            media = (response.getheader("Content-Type") or "").partition(";")[0].strip()
            return Reply(response.status, media, text)
        finally:
            connection.close()

    def log_in(self, password: str = ADMIN_PASSWORD) -> str:
        reply = self.call("POST", "/auth", k(**{"user/id": "admin", "user/password": password}))
        assert reply.status == 200, reply
        self.token = reply["token"]
        return self.token

    def run(self, app: str, job: str, params: Any = None) -> dict[str, Any]:
        """Run a job and wait for it to finish: the execution as JSON (so a result reads
        the same whatever its map keys are in EDN)."""
        reply = self.call("POST", f"/{app}/job/{job}/executions?wait=30", params or {}, accept=JSON)
        assert reply.status == 201, reply
        return reply.data

    @contextlib.contextmanager
    def only(self, instance_id: str) -> Iterator[None]:
        """Every other agent blocked, so that dispatch sends runs to this one."""
        others = [a[Keyword("agent/instance-id")] for a in self.agents() if a[Keyword("agent/instance-id")] != instance_id]
        try:
            for other in others:
                assert self.call("PUT", f"/agent/{other}/block").status == 200
            yield
        finally:
            for other in others:
                self.call("PUT", f"/agent/{other}/unblock")

    def agents(self) -> list[dict[Keyword, Any]]:
        reply = self.call("GET", "/agents")
        assert reply.status == 200, reply
        return list(reply.data)

    def ready_agents(self, count: int, *, timeout: float = 15.0) -> dict[str, dict[Keyword, Any]]:
        """The ready agents, by instance id, once `count` have linked and reported their stats."""

        def ready() -> dict[str, dict[Keyword, Any]] | None:
            found = {
                a[Keyword("agent/instance-id")]: a
                for a in self.agents()
                if a[Keyword("agent/state")] == Keyword("ready") and a[Keyword("agent/stats")]
            }
            return found if len(found) >= count else None

        return eventually(ready, timeout=timeout, what=f"{count} ready agents")


# Processes --------------------------------------------------------------------------


@dataclass
class Server:
    """A bus or agent process, started; `port` waits until it has printed the one it listens on."""

    name: str
    args: tuple[str, ...]
    env: Mapping[str, str]
    served: Served
    close: contextlib.ExitStack
    _port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            self._port = int(self.served.expect(_LISTENING, START_TIMEOUT)[1])
        return self._port

    @property
    def pid(self) -> int:
        return self.served.process.pid

    def kill(self) -> None:
        """kill -9, as a crash or the OOM killer would."""
        self.served.process.kill()
        self.served.process.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within STOP_TIMEOUT."""
        process = self.served.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.close.close()


class Servers:
    """Starts buses and agents for one test (or module) and leaves nothing behind."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.run_id = uuid.uuid4().hex
        self._started: list[Server] = []

    def _start(self, name: str, *args: str, env: Mapping[str, str]) -> Server:
        """The process, started: several start at once, and each one's port is awaited when first read."""
        close = contextlib.ExitStack()
        served = close.enter_context(
            jobstreamer(*args, env={**_BLANK, **env, MARKER: self.run_id, "XDG_CONFIG_HOME": str(self.root / "config")})
        )
        server = Server(name, args, env, served, close)
        self._started.append(server)
        return server

    def bus(self) -> Server:
        """`jobstreamer control-bus` on 127.0.0.1 (discovery on 127.0.0.1 too)."""
        return self._start(
            "bus",
            "control-bus", "--host", "127.0.0.1", "--port", "0", "--interface", "127.0.0.1",
            "--data", str(self.root / "bus"),
            env={"JOBSTREAMER_SECRET": SECRET, "JOBSTREAMER_ADMIN_PASSWORD": ADMIN_PASSWORD},
        )

    def restart(self, server: Server, *, port: int | None = None) -> Server:
        """The same command again (on `port` if given): same --data, same identity."""
        args = list(server.args)
        if port is not None:
            args[args.index("--port") + 1] = str(port)
        return self._start(server.name, *args, env=server.env)

    def agent(self, name: str, *, control_bus: str | None = None, max_executions: int = 2) -> Server:
        """`jobstreamer agent`: announced over zeroconf, or linked to `control_bus` (a /join URL)."""
        args = ["agent", "--port", "0", "--interface", "127.0.0.1", "--name", name,
                "--max-executions", str(max_executions), "--data", str(self.root / name)]
        if control_bus is not None:
            args += ["--control-bus", control_bus]
        return self._start(name, *args, env={"JOBSTREAMER_SECRET": SECRET})

    def leftovers(self) -> list[psutil.Process]:
        """Live processes started by this run (servers, workers, orphans), found by their marker."""
        found = []
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if process.environ().get(MARKER) == self.run_id and process.status() != psutil.STATUS_ZOMBIE:
                    found.append(process)
        return found

    def close(self) -> None:
        """Stop agents before buses, then fail if any process of this run survived."""
        for server in sorted(self._started, key=lambda s: s.name == "bus"):
            server.stop()
        self._started.clear()
        survivors = self.leftovers()
        _, alive = psutil.wait_procs(survivors, timeout=STOP_TIMEOUT)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        assert not alive, f"processes left running: {[(p.pid, p.cmdline()) for p in alive]}"


# The CLI as a user runs it ---------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    status: int
    stdout: str
    stderr: str


def cli(*args: str, port: int, config: Path, token: str | None = None, password: str | None = ADMIN_PASSWORD,
        timeout: float = 60.0) -> Ran:
    """`jobstreamer ARGS` against the bus on 127.0.0.1:PORT as a child process, credentials in its
    environment and saved tokens in `config` (never the developer's own)."""
    env = {**os.environ, **_BLANK, "JOBSTREAMER_BUS": f"http://127.0.0.1:{port}", "XDG_CONFIG_HOME": str(config)}
    if token:
        env["JOBSTREAMER_TOKEN"] = token
    if password:
        env["JOBSTREAMER_PASSWORD"] = password
    done = subprocess.run(
        [sys.executable, "-m", "jobstreamer.common.cli", *args],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=timeout, check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


# Applications --------------------------------------------------------------------------

# Added to a copy of examples/hello: where its modules come from, and a task that takes its time.
PROBE_MODULE = '''\
import sys
import time

import hello.tasks


def where():
    return {"file": hello.tasks.__file__, "path": list(sys.path)}


def nap(seconds=1.0):
    time.sleep(seconds)
    return {"slept": seconds}
'''


def probe_tree(root: Path) -> Path:
    """A copy of examples/hello with hello/probe.py added: the hello package, another version."""
    tree = root / "probe-app"
    shutil.copytree(HELLO, tree, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    (tree / "hello" / "probe.py").write_text(PROBE_MODULE)
    return tree


def zip_tree(tree: Path, *, prefix: str = "", extra: Mapping[str, bytes] | None = None) -> bytes:
    """`tree` zipped as `zip -r` would (under `prefix`), plus `extra` entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(tree.rglob("*")):
            if path.is_file():
                archive.writestr(prefix + path.relative_to(tree).as_posix(), path.read_bytes())
        for name, data in (extra or {}).items():
            archive.writestr(prefix + name, data)
    return buffer.getvalue()


def job(name: str, task: str, **params: Any) -> dict[Keyword, Any]:
    """A one-step job running `task` ("module:function")."""
    step = k(**{"step/name": name, "step/task": task})
    if params:
        step[Keyword("step/params")] = k(**params)
    return k(**{"job/name": name, "job/steps": [step]})
