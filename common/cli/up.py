"""`jobstreamer up`: a bus and local agents on loopback, the embedded default.

Each server runs as its own process, started exactly as a user would start
it (`python -m jobstreamer.common.cli control-bus ...`), so what the docs
say about a bus or an agent - `kill -9` included - holds here too.  The
agents join the bus with --control-bus: loopback usually has no multicast,
so zeroconf discovery cannot be relied on there.

Secrets reach the children through their environment, never their command
line (which other users can read in `ps`).  Generated ones are kept in
<data>/up.env (mode 0600), so the next `up` on the same data reuses them -
the bus's store remembers its first admin's password.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Self

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import JobstreamerError

from . import _apps
from ._config import write_private
from .client import BusClient, BusError, Credentials
from .render import Output

DEFAULT_PORT = 45102
DEFAULT_AGENTS = 2
DEFAULT_DATA = "~/.jobstreamer/up"

UP_ENV = "up.env"
SECRET, ADMIN_PASSWORD = "JOBSTREAMER_SECRET", "JOBSTREAMER_ADMIN_PASSWORD"
# Set in each child's environment: the child asks the kernel to stop it when `up` dies.
PARENT_VARIABLE = "JOBSTREAMER_UP_PARENT"

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
DEMO_APP = "hello"
DEMO_JOB = "greet"

_LISTENING = re.compile(rb"listening on\b.*?(?:port |:)(\d{1,5})\b")
_READY = Keyword("ready")


class UpError(JobstreamerError):
    """`up` could not bring the cluster up; the message says where to look."""


# Secrets ---------------------------------------------------------------------


def _read_env_file(file: Path) -> dict[str, str]:
    values = {}
    with contextlib.suppress(FileNotFoundError):
        for line in file.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.partition("=")
            if sep and not name.startswith("#"):
                values[name.strip()] = value.strip()
    return values


def cluster_secrets(data: Path, env: Mapping[str, str]) -> dict[str, str]:
    """The cluster secret and admin password: from `env`, else <data>/up.env, else new ones.

    New ones are saved in up.env; values set in `env` are never written anywhere.
    """
    file = data / UP_ENV
    saved = _read_env_file(file)
    fresh = {
        SECRET: lambda: secrets.token_urlsafe(32),
        ADMIN_PASSWORD: lambda: secrets.token_urlsafe(12),
    }
    missing = [name for name in fresh if not env.get(name) and not saved.get(name)]
    if missing:
        saved.update({name: fresh[name]() for name in missing})
        write_private(file, "".join(f"{name}={value}\n" for name, value in sorted(saved.items())))
    return {name: env.get(name) or saved[name] for name in fresh}


def die_with_parent(env: Mapping[str, str]) -> None:
    """In a child of `up`: have the kernel send SIGTERM when `up` exits, even by kill -9."""
    parent = env.get(PARENT_VARIABLE)
    if not parent or not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != int(parent):  # `up` died before the prctl: nobody would tell us
        os.kill(os.getpid(), signal.SIGTERM)


def demo_directory() -> Path | None:
    """examples/hello in the source tree this package runs from, if it is there.

    An editable install runs from the repository; a wheel has no examples.
    """
    candidate = Path(__file__).resolve().parents[2] / "examples" / DEMO_APP
    return candidate if (candidate / "jobs.edn").is_file() else None


# Children --------------------------------------------------------------------


@dataclass
class Child:
    """One server process; its output goes to <data>/logs/<name>.log."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    port: int | None = None
    listening: threading.Event = field(default_factory=threading.Event)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def failure(self, what: str) -> UpError:
        tail = self.tail()
        return UpError(f"{what}; its log, {self.log}:\n{tail}" if tail else f"{what} (log: {self.log})")


def _tee(child: Child, stream: IO[bytes], out: IO[bytes], exited: queue.Queue[Child]) -> None:
    """Copy the child's output to its log, note its port, and report its exit."""
    with out, stream:
        for line in iter(stream.readline, b""):
            out.write(line)
            out.flush()
            if not child.listening.is_set() and (match := _LISTENING.search(line)):
                child.port = int(match[1])
                child.listening.set()
    child.process.wait()
    child.listening.set()  # wake anyone waiting for a port that will never come
    exited.put(child)


class LocalCluster:
    """`with LocalCluster(data=..., port=..., agents=..., env=..., output=...) as cluster: cluster.wait()`."""

    def __init__(self, *, data: Path, port: int, agents: int, env: Mapping[str, str], output: Output) -> None:
        self._data = data
        self._port = port
        self._agents = agents
        self._env = env
        self._output = output
        self._children: list[Child] = []
        self._exited: queue.Queue[Child] = queue.Queue()
        self._bus: Child | None = None
        self.url = ""

    def __enter__(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Starting ----------------------------------------------------------------

    def _start(self) -> None:
        self._data.mkdir(parents=True, exist_ok=True)
        keys = cluster_secrets(self._data, self._env)
        with self._output.busy("starting the control bus and the agents"):
            self._bus = self._spawn(
                "control-bus",
                ["control-bus", "--host", "127.0.0.1", "--port", str(self._port),
                 "--interface", "127.0.0.1", "--data", str(self._data / "control-bus")],
                keys,
            )
            # Agents start as slowly as the bus (warm workers), and retry their
            # link within 0.1 s: start them at once when the port is known.
            if self._port:
                self._spawn_agents(self._port, keys[SECRET])
            port = self._await_port(self._bus)
            self.url = f"http://127.0.0.1:{port}"
            client = BusClient(self.url, credentials=Credentials(password=keys[ADMIN_PASSWORD]))
            self._await_health(client)
            if not self._port:
                self._spawn_agents(port, keys[SECRET])
            self._log_in(client)
            self._await_agents(client)
        demo = demo_directory()
        if demo is not None:
            with self._output.busy("uploading the demo application"):
                _apps.upload(client, _apps.bundle_bytes(demo), name=DEMO_APP)
                _apps.put_jobs(client, DEMO_APP, _apps.read_jobs(demo / "jobs.edn"))
        self._print_banner(keys[ADMIN_PASSWORD], demo is not None)

    def _spawn_agents(self, bus_port: int, secret: str) -> None:
        join = f"ws://127.0.0.1:{bus_port}/join"
        for number in range(1, self._agents + 1):
            self._spawn(
                f"agent-{number}",
                ["agent", "--port", "0", "--interface", "127.0.0.1", "--name", f"local-{number}",
                 "--data", str(self._data / f"agent-{number}"), "--control-bus", join],
                {SECRET: secret},
            )

    def _spawn(self, name: str, args: list[str], secrets_env: Mapping[str, str]) -> Child:
        logs = self._data / "logs"
        logs.mkdir(exist_ok=True)
        log = logs / f"{name}.log"
        # Each child gets the secrets it needs and no others (an agent never the admin password).
        env = {k: v for k, v in self._env.items() if k not in (SECRET, ADMIN_PASSWORD)}
        env |= {**secrets_env, PARENT_VARIABLE: str(os.getpid())}
        process = subprocess.Popen(
            [sys.executable, "-m", "jobstreamer.common.cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            # Its own session: a Ctrl-C in the terminal reaches `up` alone,
            # which then stops the children in order.
            start_new_session=True,
        )
        child = Child(name=name, process=process, log=log)
        self._children.append(child)
        assert process.stdout is not None
        threading.Thread(
            target=_tee, args=(child, process.stdout, log.open("ab"), self._exited), name=f"up {name}", daemon=True
        ).start()
        return child

    def _await_port(self, child: Child) -> int:
        if not child.listening.wait(START_TIMEOUT) or child.port is None:
            if child.process.poll() is not None:
                raise child.failure(f"the {child.name} exited with status {child.process.returncode}")
            raise child.failure(f"the {child.name} did not say it was listening within {START_TIMEOUT:.0f} s")
        return child.port

    def _await_health(self, client: BusClient) -> None:
        # The bus prints its port once it accepts connections: one check is enough.
        try:
            client.request("GET", "/healthcheck", auth=False, timeout=START_TIMEOUT)
        except JobstreamerError as error:
            assert self._bus is not None
            raise self._bus.failure(f"the control bus is not healthy: {error}") from None

    def _log_in(self, client: BusClient) -> None:
        try:
            client.get("/apps")
        except BusError as error:
            if error.status != 401:
                raise
            raise UpError(
                f"the store in {self._data / 'control-bus'} already has an admin with another password "
                f"than the one `up` used (from {ADMIN_PASSWORD} or {self._data / UP_ENV}): set "
                f"{ADMIN_PASSWORD} to that password, or use a fresh --data directory"
            ) from None

    def _await_agents(self, client: BusClient) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        ready = 0
        while True:
            for child in self._children[1:]:
                if child.process.poll() is not None:
                    raise child.failure(f"agent {child.name} exited with status {child.process.returncode}")
            reply = client.get("/agents")
            agents = reply.get(Keyword("results"), []) if isinstance(reply, dict) else reply
            ready = sum(1 for a in agents if a.get(Keyword("agent/state")) == _READY)
            if ready >= self._agents:
                return
            if time.monotonic() > deadline:
                raise UpError(
                    f"only {ready} of {self._agents} agents joined the bus within {START_TIMEOUT:.0f} s; "
                    f"see their logs in {self._data / 'logs'}"
                )
            time.sleep(0.1)  # a join takes tens of milliseconds; this runs once, at start

    def _print_banner(self, password: str, demo: bool) -> None:
        from_env = bool(self._env.get(ADMIN_PASSWORD))
        shown = f"(the value of {ADMIN_PASSWORD})" if from_env else password
        console = self._output.out
        console.print(f"[bold green]jobstreamer is up[/]: a control bus and {self._agents} agents on this machine.\n")
        console.print(f"  console   {self.url}/", highlight=False)
        console.print(f"  login     user [bold]admin[/], password [bold]{shown}[/]", highlight=False)
        if demo:
            password_part = "" if from_env else f"JOBSTREAMER_PASSWORD={shlex.quote(password)} "
            command = f"{self._program()} run {DEMO_APP} {DEMO_JOB} name=you --wait"
            line = f"JOBSTREAMER_BUS={self.url} {password_part}{command}"
            console.print(f"  try       {line}", highlight=False, markup=False, soft_wrap=True)
        else:
            console.print("  (no demo: examples/hello is not part of this installation)", style="dim")
        console.print(f"  secrets   {self._data / UP_ENV}", highlight=False, markup=False)
        console.print(f"  logs      {self._data / 'logs'}", highlight=False, markup=False)
        console.print("\nPress Ctrl-C to stop.")

    def _program(self) -> str:
        """`jobstreamer` if the shell finds it, else the script beside this Python (`make up`'s .venv)."""
        if shutil.which("jobstreamer", path=self._env.get("PATH")):
            return "jobstreamer"
        script = Path(sys.executable).parent / "jobstreamer"
        return shlex.quote(str(script)) if script.exists() else "jobstreamer"

    # Running and stopping -----------------------------------------------------

    def wait(self) -> None:
        """Block until Ctrl-C or SIGTERM (returns) or the bus stops (raises)."""
        # SIGINT too: a shell starts a background job with SIGINT ignored.
        previous = {sig: signal.signal(sig, signal.default_int_handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while True:
                child = self._exited.get()
                if child is self._bus:
                    raise child.failure(f"the control bus stopped with status {child.process.returncode}")
                self._output.note(f"{child.name} stopped with status {child.process.returncode} (log: {child.log})")
        except KeyboardInterrupt:
            self._output.note("stopping…")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        """Stop the agents, then the bus: SIGTERM, and SIGKILL after STOP_TIMEOUT."""
        agents = [c for c in self._children if c is not self._bus]
        for group in (agents, [self._bus] if self._bus else []):
            for child in group:
                if child.process.poll() is None:
                    child.process.terminate()
            for child in group:
                try:
                    child.process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
        self._children.clear()
