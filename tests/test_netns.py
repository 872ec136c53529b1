"""The network-namespace harness really isolates a test (tests/netns.py)."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests import netns as harness


def _current_netns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


_HOST = _current_netns()


@pytest.mark.netns
def test_only_loopback_exists_and_it_is_up() -> None:
    assert socket.if_nameindex() == [(1, "lo")]
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            peer, _ = server.accept()
            with peer:
                client.sendall(b"ping")
                assert peer.recv(4) == b"ping"


def test_a_port_taken_on_the_host_is_free_inside_and_the_thread_comes_back() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with harness.private_netns():
            assert _current_netns() != _HOST
            with socket.create_server(("127.0.0.1", port)):
                pass
        assert _current_netns() == _HOST


@pytest.fixture
def server_netns() -> Iterator[str]:
    # Stands for a fixture that starts a bus: it must start and stop inside.
    setup = _current_netns()
    yield setup
    assert _current_netns() == setup, "fixture teardown ran outside the test's namespace"


@pytest.mark.netns
def test_the_tests_fixtures_run_inside_too(server_netns: str) -> None:
    assert server_netns == _current_netns() != _HOST


@pytest.mark.netns
def test_subprocesses_inherit_the_namespace() -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.readlink('/proc/self/ns/net'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == _current_netns()


@pytest.mark.netns
def test_multicast_loops_back_on_lo() -> None:
    # What zeroconf bound to 127.0.0.1 relies on: a member of 224.0.0.251 on lo
    # receives what a socket with IP_MULTICAST_IF=127.0.0.1 sends there.
    group = "224.0.0.251"
    loopback = socket.inet_aton("127.0.0.1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, socket.socket(
        socket.AF_INET, socket.SOCK_DGRAM
    ) as tx:
        rx.bind(("", 0))
        rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + loopback)
        rx.settimeout(5)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, loopback)
        tx.sendto(b"hello", (group, rx.getsockname()[1]))
        assert rx.recv(5) == b"hello"


@pytest.mark.parametrize(("ci", "outcome"), [("", pytest.skip.Exception), ("1", pytest.fail.Exception)])
def test_without_privilege_it_skips_locally_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    def refuse() -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(harness, "_unshare", refuse)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="network namespace"):
        with harness.private_netns():
            pass
    assert _current_netns() == _HOST
