"""The worker's side of the `/code` WebSocket.

Workers are synchronous (one execution at a time, imports are synchronous), so
this uses `websockets.sync.client` rather than aiohttp (SPINE, "Design
decisions").  The link opens on first use, signs its upgrade with the cluster
secret, stays open between runs, and is reopened once when the bus dropped it.
Opening it retries for up to `reconnect_within` seconds, so a run that needs
code while its bus restarts waits for the bus instead of failing.
"""

from __future__ import annotations

import itertools
import time
from contextlib import ExitStack
from dataclasses import replace
from typing import Protocol

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from jobstreamer.common.errors import JobstreamerError, Unavailable
from jobstreamer.common.wire import code
from jobstreamer.common.wire.signing import Key, signed_headers

# A bundle arrives as one message; far above any source tree, below a runaway.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
# A bus restarting is back within a few seconds (it reopens its store first).
RECONNECT_WITHIN = 10.0
_FIRST_DELAY, _MAX_DELAY = 0.05, 1.0


class CodeClient(Protocol):
    def request(self, message: code.Request) -> code.Reply:
        """The bus's reply to `message` (a `CodeError` reply is returned, not raised)."""
        ...


class CodeUnavailable(Unavailable):
    """The bus could not be reached or refused the link."""


class WebSocketCodeClient:
    def __init__(
        self,
        url: str,
        *,
        secret: Key,
        open_timeout: float = 10.0,
        reply_timeout: float = 60.0,
        reconnect_within: float = RECONNECT_WITHIN,
    ) -> None:
        self._url = url
        self._secret = secret
        self._open_timeout = open_timeout
        self._reply_timeout = reply_timeout
        self._reconnect_within = reconnect_within
        self._ids = itertools.count(1)
        self._connection: ClientConnection | None = None
        self._closing = ExitStack()

    def request(self, message: code.Request) -> code.Reply:
        return self._exchange(message, retry=True)

    def _exchange(self, message: code.Request, *, retry: bool) -> code.Reply:
        connection = self._connect()
        request_id = next(self._ids)
        try:
            connection.send(code.encode(replace(message, request_id=request_id)))
            while True:
                reply = code.decode_reply(str(connection.recv(timeout=self._reply_timeout)))
                if reply.request_id == request_id:
                    return reply
        except ConnectionClosed as exc:
            self.close()
            if retry:  # the bus dropped the idle link (a restart, say): one fresh link
                return self._exchange(message, retry=False)
            raise CodeUnavailable(f"the code link to {self._url} closed: {exc}") from None
        except TimeoutError:
            self.close()
            raise CodeUnavailable(f"no reply from {self._url} within {self._reply_timeout} s") from None

    def _connect(self) -> ClientConnection:
        """The open link, opened now if need be: retried with backoff while the bus is unreachable."""
        if self._connection is not None:
            return self._connection
        deadline = time.monotonic() + self._reconnect_within
        delay = _FIRST_DELAY
        while True:
            try:
                self._connection = self._open(max(0.1, min(self._open_timeout, deadline - time.monotonic())))
                return self._connection
            except CodeUnavailable:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, _MAX_DELAY)

    def _open(self, timeout: float) -> ClientConnection:
        try:
            return self._closing.enter_context(connect(
                self._url,
                additional_headers=signed_headers(self._secret, "GET", self._url),
                open_timeout=timeout,
                max_size=MAX_MESSAGE_BYTES,
                proxy=None,  # the bus is reached directly, never through $HTTP_PROXY
            ))
        except InvalidStatus as exc:
            status = exc.response.status_code
            message = f"the bus refused the code link to {self._url}: HTTP {status}"
            if status >= 500:  # a bus starting or stopping: worth another try
                raise CodeUnavailable(message) from None
            raise JobstreamerError(message, status=status) from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise CodeUnavailable(f"cannot open the code link to {self._url}: {exc}") from None

    def close(self) -> None:
        self._closing.close()
        self._connection = None

    def __enter__(self) -> WebSocketCodeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
