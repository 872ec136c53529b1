"""Requests signed with the cluster secret (API.md, "Secrets").

Every bus -> agent REST call and every agent -> bus WebSocket upgrade carries

    X-Jobstreamer-Time       unix seconds
    X-Jobstreamer-Nonce      32 random hex digits, fresh for every request
    X-Jobstreamer-Signature  hex HMAC-SHA256(secret,
                             f"{METHOD}\\n{path_qs}\\n{time}\\n{nonce}\\n{sha256_hex(body)}")

`path_qs` is the raw request target (path and query as sent on the wire).
The nonce makes two identical requests within one second sign differently,
so a `ReplayGuard` can refuse a signature it has already seen without also
refusing the bus's second `GET /execution/5` of that second.

This module is pure (no aiohttp), so worker processes can use it; the
server-side request check lives in `middleware.py`.  The secret never enters
an exception message, a repr or a log line.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Protocol

from yarl import URL

from ..errors import Unauthorized

TIME_HEADER = "X-Jobstreamer-Time"
NONCE_HEADER = "X-Jobstreamer-Nonce"
SIGNATURE_HEADER = "X-Jobstreamer-Signature"

DEFAULT_MAX_SKEW = 30  # seconds; clocks on one LAN agree far better than this


class Revealable(Protocol):
    """A secret holder such as `jobstreamer.common.settings.Secret`."""

    def reveal(self) -> str: ...


Key = bytes | str | Revealable


def _key_bytes(secret: Key) -> bytes:
    if isinstance(secret, bytes):
        return secret
    if isinstance(secret, str):
        return secret.encode()
    return secret.reveal().encode()


def _signature(key: bytes, method: str, path_qs: str, stamp: str, nonce: str, body: bytes) -> str:
    message = "\n".join((method.upper(), path_qs, stamp, nonce, hashlib.sha256(body).hexdigest()))
    return hmac.new(key, message.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def sign(
    secret: Key, method: str, path_qs: str, body: bytes = b"", *, now: float | None = None
) -> dict[str, str]:
    """The headers that prove this request comes from a holder of `secret`."""
    stamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    return {
        TIME_HEADER: stamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: _signature(_key_bytes(secret), method, path_qs, stamp, nonce, body),
    }


def signed_headers(
    secret: Key, method: str, url: str | URL, body: bytes = b"", *, now: float | None = None
) -> dict[str, str]:
    """`sign` for a client request to `url`, e.g. `session.get(url, headers=...)`.

    The path is taken the way aiohttp's client sends it (`URL.raw_path_qs`), so
    put any query string in `url` rather than in `params=`.
    """
    return sign(secret, method, URL(url).raw_path_qs, body, now=now)


class ReplayGuard:
    """Remembers the signatures accepted within the skew window and refuses repeats.

    Only signatures that verified are recorded, so its size is bounded by the
    genuine request rate times the window.
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._expiries: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._seen)

    def check(self, signature: str, *, expires_at: float, now: float) -> None:
        """Record `signature`; raise `Unauthorized` if it was recorded before."""
        while self._expiries and self._expiries[0][0] < now:
            self._seen.discard(heapq.heappop(self._expiries)[1])
        if signature in self._seen:
            raise Unauthorized("request signature was already used")
        self._seen.add(signature)
        heapq.heappush(self._expiries, (expires_at, signature))


def verify(
    secret: Key,
    method: str,
    path_qs: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    max_skew: float = DEFAULT_MAX_SKEW,
    now: float | None = None,
    guard: ReplayGuard | None = None,
) -> None:
    """Raise `Unauthorized` unless `headers` carry a fresh, valid signature.

    `headers` should be case-insensitive (aiohttp's are) or use the exact
    header names above.
    """
    stamp = headers.get(TIME_HEADER)
    nonce = headers.get(NONCE_HEADER)
    given = headers.get(SIGNATURE_HEADER)
    if stamp is None or nonce is None or given is None:
        raise Unauthorized("request is not signed")
    if not (stamp.isascii() and stamp.isdigit()):
        raise Unauthorized(f"malformed {TIME_HEADER} header")
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > max_skew:
        raise Unauthorized("request signature expired (or the clocks disagree)")
    expected = _signature(_key_bytes(secret), method, path_qs, stamp, nonce, body)
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape")):
        raise Unauthorized("bad request signature")
    if guard is not None:
        guard.check(given, expires_at=int(stamp) + max_skew, now=now)
