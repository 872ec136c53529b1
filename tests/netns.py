"""Run tests inside a private network namespace (the developer guide's network rules).

Anything that uses zeroconf, or binds a fixed port, runs in a namespace of its
own that holds only `lo`, so multicast never leaves the test and no port can
collide with the host.

How: the calling *thread* enters a fresh namespace with unshare(CLONE_NEWNET)
and returns with setns() afterwards.  Network namespaces belong to a thread,
so the test body, its fixtures, the sockets they open and every process or
thread they start (bus and agent subprocesses, warm workers) live in the new
namespace, while pytest itself is untouched.  No fork or re-exec is needed, so
fixtures, tmp_path, assertion rewriting and pytest-timeout work as usual.
(Python 3.12 has os.unshare/os.setns; on 3.11 we call libc.)

Use it as a marker, `@pytest.mark.netns` (or `pytestmark = pytest.mark.netns`),
as a fixture that others depend on, `def bus(netns, tmp_path): ...`, or for a
module-scoped fixture, `netns_module`.  Each marked test gets its own namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import socket
import struct
from collections.abc import Iterator

import pytest

_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFF_MULTICAST = 0x1000
# struct ifreq: a 16-byte name, then a union whose first member is the flags.
_IFREQ = struct.Struct("16sH22x")

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def _unshare() -> None:
    _check(_libc.unshare(_CLONE_NEWNET))


def _bring_up_loopback() -> None:
    """`ip link set lo up multicast on`, without needing iproute2.

    zeroconf bound to 127.0.0.1 sets IP_MULTICAST_IF, so its packets to
    224.0.0.251 leave through `lo` with no multicast route, and the kernel
    loops them back to every member socket.  Up is what that needs; the
    multicast flag is set too so `lo` looks like any multicast-capable link.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        name, flags = _IFREQ.unpack(fcntl.ioctl(s, _SIOCGIFFLAGS, _IFREQ.pack(b"lo", 0)))
        fcntl.ioctl(s, _SIOCSIFFLAGS, _IFREQ.pack(name, flags | _IFF_UP | _IFF_MULTICAST))


def _unavailable(reason: str) -> None:
    # Locally a missing privilege skips; in CI it must not hide tests.
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the network-namespace tests", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def private_netns() -> Iterator[None]:
    """Move the calling thread into a fresh namespace with `lo` up, and back on exit."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            _unshare()
        except OSError as e:
            _unavailable(f"cannot create a network namespace ({e}); needs root or CAP_SYS_ADMIN")
        try:
            _bring_up_loopback()
            yield
        finally:
            _check(_libc.setns(home, _CLONE_NEWNET))
    finally:
        os.close(home)


@pytest.fixture
def netns() -> Iterator[None]:
    with private_netns():
        yield


@pytest.fixture(scope="module")
def netns_module() -> Iterator[None]:
    with private_netns():
        yield


@pytest.fixture(autouse=True)
def _netns_marker(request: pytest.FixtureRequest) -> None:
    # Autouse fixtures are set up before the test's other function fixtures,
    # so those start inside the namespace too.
    if request.node.get_closest_marker("netns") is not None:
        request.getfixturevalue("netns")
