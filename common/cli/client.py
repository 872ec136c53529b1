"""A small synchronous client for a bus's REST API (API.md, "Control bus REST API").

Synchronous and on the standard library on purpose: each CLI command makes a
handful of calls in a row, so an event loop buys nothing, and the client
starts fast.  Bodies go out as EDN and replies are read as EDN (or JSON, if a
proxy insists), so a command gets the same Python data the bus works with.

    client = BusClient("http://127.0.0.1:45102", credentials=Credentials(password="..."))
    client.get(path("apps"))

Authentication (API.md, "Secrets"): the token from JOBSTREAMER_TOKEN, else
the one `jobstreamer login` saved for this bus, else a login with the user
and password given.  A saved token the bus no longer knows is replaced by a
fresh login when a password is at hand.
"""

from __future__ import annotations

import http.client
import io
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jobstreamer.common import edn
from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import JobstreamerError, Unauthorized, Unavailable
from jobstreamer.common.wire import json as edn_json

from ._config import TokenFile

EDN = "application/edn"
JSON = "application/json"
ZIP = "application/zip"

DEFAULT_BUS = "http://127.0.0.1:45102"
DEFAULT_TIMEOUT = 30.0

_MESSAGE, _STATUS = Keyword("error/message"), Keyword("error/status")
_NOTHING: Any = object()
_LOG_IN = "run `jobstreamer login`, or set JOBSTREAMER_TOKEN or JOBSTREAMER_PASSWORD"

# urllib would honour http_proxy from the environment; the CLI reads the
# environment in one place only (STYLE.md), and a bus is usually on the LAN.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BusError(JobstreamerError):
    """The bus answered with an error: its `:error/message` and status."""


class Unreachable(Unavailable):
    """No HTTP reply from the bus at all."""


def path(*segments: object) -> str:
    """A URL path from raw segments, each quoted: path("hello", "job", "a b") -> /hello/job/a%20b."""
    return "/" + "/".join(urllib.parse.quote(str(s), safe="") for s in segments)


def normalise_url(url: str) -> str:
    """`url` with a scheme and without a trailing slash; ValueError if it names no host."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected a URL such as {DEFAULT_BUS}, not {url!r}")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ValueError(f"bad port in {url!r}") from None
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    user: str = "admin"
    password: str | None = None


class _Progress(io.RawIOBase):
    """A request body that reports how much of it http.client has read."""

    def __init__(self, body: bytes, report: Callable[[int], None]) -> None:
        self._body = memoryview(body)
        self._sent = 0
        self._report = report

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._body[self._sent : self._sent + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._sent += len(chunk)
        self._report(self._sent)
        return len(chunk)


@dataclass(frozen=True)
class _Call:
    """One request, as it can be sent again (after a fresh login)."""

    method: str
    route: str
    query: Mapping[str, object] | None
    body: bytes | None
    content_type: str
    progress: Callable[[int], None] | None

    def request(self, base: str, token: str | None) -> urllib.request.Request:
        url = base + self.route
        pairs = {k: v for k, v in (self.query or {}).items() if v is not None}
        if pairs:
            url += "?" + urllib.parse.urlencode(pairs)
        headers = {"Accept": EDN}
        if token:
            headers["Authorization"] = f"Token {token}"
        data: Any = self.body
        if self.body is not None:
            headers["Content-Type"] = self.content_type
            headers["Content-Length"] = str(len(self.body))
            if self.progress is not None:
                data = io.BufferedReader(_Progress(self.body, self.progress))
        return urllib.request.Request(url, data=data, method=self.method, headers=headers)


def _decode(body: bytes, content_type: str) -> Any:
    if not body:
        return None
    media_type = content_type.split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if media_type == JSON:
        return edn_json.loads(text)
    if media_type in (EDN, ""):
        return edn.loads(text)
    raise ValueError(f"a {media_type} reply")


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        error = error.reason
    if isinstance(error, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(error, http.client.RemoteDisconnected):
        return "it closed the connection without a reply"
    if isinstance(error, socket.gaierror):
        return f"unknown host ({error.strerror})"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(getattr(error, "reason", error))


class BusClient:
    def __init__(
        self,
        url: str = DEFAULT_BUS,
        *,
        credentials: Credentials = Credentials(),
        tokens: TokenFile | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.url = normalise_url(url)
        self._credentials = credentials
        self._tokens = tokens
        self._timeout = timeout
        self._token: str | None = None

    # Verbs ---------------------------------------------------------------

    def get(self, route: str, **query: object) -> Any:
        return self.request("GET", route, query=query)

    def post(self, route: str, data: Any = _NOTHING, **query: object) -> Any:
        return self.request("POST", route, query=query, data=data)

    def put(self, route: str, data: Any = _NOTHING, **query: object) -> Any:
        return self.request("PUT", route, query=query, data=data)

    def request(
        self,
        method: str,
        route: str,
        *,
        query: Mapping[str, object] | None = None,
        data: Any = _NOTHING,
        body: bytes | None = None,
        content_type: str = EDN,
        timeout: float | None = None,
        progress: Callable[[int], None] | None = None,
        auth: bool = True,
    ) -> Any:
        """The decoded reply to one request; `data` is sent as EDN, `body` as is.

        Raises `BusError` for an error reply, `Unreachable` when there is none.
        """
        if data is not _NOTHING:
            body = edn.dumps(data).encode("utf-8")
        call = _Call(method, route, query, body, content_type, progress)
        token = self._current_token() if auth else None
        try:
            return self._send(call, token, timeout)
        except BusError as error:
            if error.status != 401 or not auth or not self._may_log_in_again(token):
                raise
            self._token = self.login()
            return self._send(call, self._token, timeout)

    # Authentication ------------------------------------------------------

    def login(self, user: str | None = None, password: str | None = None) -> str:
        """A fresh token for `user` (the credentials' by default)."""
        user = user or self._credentials.user
        password = password if password is not None else self._credentials.password
        if password is None:
            raise Unauthorized(f"the bus at {self.url} wants a login: {_LOG_IN}")
        reply = self.request(
            "POST", "/auth", data={Keyword("user/id"): user, Keyword("user/password"): password}, auth=False
        )
        token = reply.get(Keyword("token")) if isinstance(reply, dict) else None
        if not isinstance(token, str):
            raise BusError(f"the bus at {self.url} answered POST /auth without a token", status=502)
        return token

    def _current_token(self) -> str | None:
        if self._credentials.token:
            return self._credentials.token
        if self._token is None and self._tokens is not None:
            self._token = self._tokens.get(self.url)
        if self._token is None and self._credentials.password is not None:
            self._token = self.login()
        return self._token

    def _may_log_in_again(self, token: str | None) -> bool:
        # Only a token we found (saved, or expired since our own login) is
        # replaced; one the user set explicitly is reported as refused.
        explicit = token == self._credentials.token
        return token is not None and not explicit and self._credentials.password is not None

    # The wire ------------------------------------------------------------

    def _send(self, call: _Call, token: str | None, timeout: float | None) -> Any:
        try:
            with _OPENER.open(call.request(self.url, token), timeout=timeout or self._timeout) as response:
                return _decode(response.read(), response.headers.get("Content-Type", EDN))
        except (edn.EDNDecodeError, ValueError) as error:  # a proxy's page, or not a bus at all
            raise BusError(f"{self.url} answered {call.method} {call.route} with no EDN: {error}", status=502) from None
        except urllib.error.HTTPError as error:
            raise self._error(call, error, token) from None
        except (OSError, http.client.HTTPException) as error:
            raise Unreachable(f"cannot reach the bus at {self.url}: {_reason(error)}") from None

    def _error(self, call: _Call, error: urllib.error.HTTPError, token: str | None) -> BusError:
        with error:
            try:
                reply = _decode(error.read(), error.headers.get("Content-Type", EDN))
            except Exception:  # noqa: BLE001 - a proxy's HTML page: fall back to the status line
                reply = None
        message = reply.get(_MESSAGE) if isinstance(reply, dict) else None
        if not isinstance(message, str) or message == error.reason:
            # A bare "Not Found" from a route the bus lacks: say which one.
            message = f"{call.method} {call.route}: {error.code} {error.reason}"
        if error.code == 401 and call.route != "/auth":
            refused = "refused the token (unknown or expired)" if token else "wants a login"
            message = f"the bus at {self.url} {refused}: {_LOG_IN}"
        return BusError(message, status=error.code)
