from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from jobstreamer.common import edn
from jobstreamer.common.edn import K
from jobstreamer.common.errors import Unauthorized
from jobstreamer.common.settings import Secret
from jobstreamer.common.wire.content import EDN, read_body, respond
from jobstreamer.common.wire.middleware import error_middleware, signature_middleware, verify_request
from jobstreamer.common.wire.signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIME_HEADER,
    ReplayGuard,
    sign,
    signed_headers,
    verify,
)

from ._server import serve

SECRET = "correct horse battery staple"
NOW = 1_700_000_000.0
BODY = b'{:execution/id 7}'


def _verify(headers: dict[str, str], **overrides: object) -> None:
    request = {"secret": SECRET, "method": "POST", "path_qs": "/executions?x=1", "body": BODY}
    request.update(overrides)
    verify(request["secret"], request["method"], request["path_qs"], request["body"], headers, now=NOW)  # type: ignore[arg-type]


def _signed() -> dict[str, str]:
    return sign(SECRET, "POST", "/executions?x=1", BODY, now=NOW)


def test_a_good_signature_verifies() -> None:
    headers = _signed()
    assert set(headers) == {TIME_HEADER, NONCE_HEADER, SIGNATURE_HEADER}
    assert headers[TIME_HEADER] == "1700000000"
    assert len(headers[SIGNATURE_HEADER]) == 64
    _verify(headers)
    _verify(headers, method="post")  # methods compare case-insensitively


def test_any_key_form_signs_alike() -> None:
    headers = _signed()
    _verify(headers, secret=SECRET.encode())
    _verify(headers, secret=Secret(SECRET))


@pytest.mark.parametrize(
    "tamper",
    [
        {"body": BODY + b" "},
        {"secret": "wrong horse battery staple"},
        {"path_qs": "/executions?x=2"},
        {"method": "PUT"},
    ],
    ids=["body", "secret", "path", "method"],
)
def test_a_tampered_request_is_refused(tamper: dict[str, object]) -> None:
    with pytest.raises(Unauthorized, match="^bad request signature$") as caught:
        _verify(_signed(), **tamper)
    assert caught.value.status == 401


def test_tampered_headers_are_refused() -> None:
    for header, value in [(NONCE_HEADER, "0" * 32), (TIME_HEADER, "1700000001"), (SIGNATURE_HEADER, "é")]:
        with pytest.raises(Unauthorized):
            _verify({**_signed(), header: value})


@pytest.mark.parametrize("offset", [-31, 31])
def test_a_stale_or_future_signature_is_refused(offset: int) -> None:
    headers = sign(SECRET, "POST", "/executions?x=1", BODY, now=NOW + offset)
    with pytest.raises(Unauthorized, match="expired"):
        _verify(headers)
    _verify(sign(SECRET, "POST", "/executions?x=1", BODY, now=NOW + offset * 30 / 31))


@pytest.mark.parametrize("missing", [TIME_HEADER, NONCE_HEADER, SIGNATURE_HEADER])
def test_a_missing_header_is_refused(missing: str) -> None:
    headers = _signed()
    del headers[missing]
    with pytest.raises(Unauthorized, match="not signed"):
        _verify(headers)


@pytest.mark.parametrize("stamp", ["", "soon", "-5", "1e9", "１２３"])
def test_a_malformed_time_is_refused(stamp: str) -> None:
    with pytest.raises(Unauthorized, match="malformed X-Jobstreamer-Time"):
        _verify({**_signed(), TIME_HEADER: stamp})


def test_the_secret_appears_in_no_error() -> None:
    for tamper in ({"body": b""}, {"secret": "other"}):
        with pytest.raises(Unauthorized) as caught:
            _verify(_signed(), **tamper)
        assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    assert SECRET not in repr(Secret(SECRET))


def test_a_replay_is_refused_but_identical_requests_are_not() -> None:
    guard = ReplayGuard()
    first, second = _signed(), _signed()  # same request, same second
    verify(SECRET, "POST", "/executions?x=1", BODY, first, now=NOW, guard=guard)
    verify(SECRET, "POST", "/executions?x=1", BODY, second, now=NOW, guard=guard)
    with pytest.raises(Unauthorized, match="already used"):
        verify(SECRET, "POST", "/executions?x=1", BODY, first, now=NOW + 1, guard=guard)


def test_a_bad_signature_is_not_remembered() -> None:
    guard = ReplayGuard()
    with pytest.raises(Unauthorized):
        verify("other", "POST", "/executions?x=1", BODY, _signed(), now=NOW, guard=guard)
    assert len(guard) == 0


def test_the_guard_forgets_what_has_expired_anyway() -> None:
    guard = ReplayGuard()
    for second in range(100):
        headers = sign(SECRET, "GET", "/spec", b"", now=NOW + second)
        verify(SECRET, "GET", "/spec", b"", headers, now=NOW + second, max_skew=5, guard=guard)
    assert len(guard) <= 7


# Over real HTTP: the path as the client sends it is the path the server checks.


def _signed_app(guard: ReplayGuard) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        return respond(request, await read_body(request))

    async def healthcheck(request: web.Request) -> web.Response:
        return respond(request, "ok")

    app = web.Application(middlewares=[error_middleware(), signature_middleware(SECRET, guard=guard)])
    app.router.add_post("/echo/{name}", echo)
    app.router.add_get("/healthcheck", healthcheck)
    return app


async def test_signed_requests_over_http() -> None:
    async with serve(_signed_app(ReplayGuard())) as server:
        url = server.at("/echo/a b%2Fc é?q=1&r=ü ü")
        headers = {**signed_headers(SECRET, "POST", url, BODY), "Content-Type": EDN}
        async with server.session.post(url, data=BODY, headers=headers) as response:
            assert response.status == 200
            assert await response.text() == BODY.decode()

        # the very same request again is a replay
        async with server.session.post(url, data=BODY, headers=headers) as response:
            assert response.status == 401
            assert "already used" in await response.text()

        async with server.session.post(url, data=BODY, headers={"Content-Type": EDN}) as response:
            assert response.status == 401
            assert edn.loads(await response.text()) == {
                K("error/message"): "request is not signed",
                K("error/status"): 401,
            }

        async with server.session.get(server.at("/healthcheck")) as response:
            assert response.status == 200


async def test_a_websocket_upgrade_is_verified() -> None:
    guard = ReplayGuard()

    async def join(request: web.Request) -> web.StreamResponse:
        await verify_request(request, Secret(SECRET), guard=guard)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("welcome")
        await ws.close()
        return ws

    app = web.Application(middlewares=[error_middleware()])
    app.router.add_get("/join", join)
    async with serve(app) as server:
        url = server.at("/join")
        async with server.session.ws_connect(url, headers=signed_headers(SECRET, "GET", url)) as ws:
            assert await ws.receive_str() == "welcome"
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await server.session.ws_connect(url, headers=signed_headers("wrong", "GET", url))
        assert caught.value.status == 401
