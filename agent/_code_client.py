"""The worker's side of the `/code` WebSocket.

Workers are synchronous (one execution at a time, imports are synchronous), so
this uses `websockets.sync.client` rather than aiohttp (SPINE, "Design
decisions").  The link opens on first use, signs its upgrade with the cluster
secret, stays open between runs, and is reopened once when the bus dropped it.
"""

from __future__ import annotations

import itertools
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


class CodeClient(Protocol):
    def request(self, message: code.Request) -> code.Reply:
        """The bus's reply to `message` (a `CodeError` reply is returned, not raised)."""
        ...


class CodeUnavailable(Unavailable):
    """The bus could not be reached or refused the link."""


class WebSocketCodeClient:
    def __init__(self, url: str, *, secret: Key, open_timeout: float = 10.0, reply_timeout: float = 60.0) -> None:
        self._url = url
        self._secret = secret
        self._open_timeout = open_timeout
        self._reply_timeout = reply_timeout
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
        if self._connection is None:
            try:
                self._connection = self._closing.enter_context(connect(
                    self._url,
                    additional_headers=signed_headers(self._secret, "GET", self._url),
                    open_timeout=self._open_timeout,
                    max_size=MAX_MESSAGE_BYTES,
                    proxy=None,  # the bus is reached directly, never through $HTTP_PROXY
                ))
            except InvalidStatus as exc:
                status = exc.response.status_code
                raise JobstreamerError(f"the bus refused the code link to {self._url}: HTTP {status}", status=status) from None
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                raise CodeUnavailable(f"cannot open the code link to {self._url}: {exc}") from None
        return self._connection

    def close(self) -> None:
        self._closing.close()
        self._connection = None

    def __enter__(self) -> WebSocketCodeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
