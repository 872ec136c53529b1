from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from jobstreamer.common import edn
from jobstreamer.common.edn import K, Vector
from jobstreamer.common.errors import BadRequest, Unavailable
from jobstreamer.common.wire.content import EDN, JSON, negotiate, read_body, respond
from jobstreamer.common.wire.middleware import error_middleware

from ._server import Served, serve

MAX_SIZE = 1024


def _app() -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        return respond(request, {K("echo"): await read_body(request, max_size=MAX_SIZE)}, status=201)

    async def echo_large(request: web.Request) -> web.Response:
        return respond(request, {K("echo"): await read_body(request)}, status=201)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("password=hunter2 in /etc/jobstreamer")

    async def bad_field(request: web.Request) -> web.Response:
        raise BadRequest("job names are letters, digits, - and _", field=K("job/name"))

    async def unavailable(request: web.Request) -> web.Response:
        raise Unavailable("the store is unusable")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def teapot(request: web.Request) -> web.Response:
        raise web.HTTPBadRequest(text="the handler's own words")

    app = web.Application(middlewares=[error_middleware()])
    app.router.add_post("/echo", echo)
    app.router.add_post("/echo-large", echo_large)
    app.router.add_get("/boom", boom)
    app.router.add_get("/bad-field", bad_field)
    app.router.add_get("/unavailable", unavailable)
    app.router.add_get("/moved", moved)
    app.router.add_get("/words", teapot)
    return app


@pytest.fixture
def app() -> web.Application:
    return _app()


async def _call(
    server: Served, method: str, path: str, *, data: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, str, Any, Any]:
    """status, content type, body as data (EDN or JSON by the reply's type), headers."""
    # skip_auto_headers: a body sent without a Content-Type stays without one
    async with server.session.request(method, server.at(path), data=data, headers=headers,
                                      allow_redirects=False, skip_auto_headers=["Content-Type"]) as response:
        text = await response.text()
        readers = {JSON: json.loads, EDN: edn.loads}
        body = readers.get(response.content_type, str)(text)
        return response.status, response.content_type, body, response.headers


async def test_an_edn_body_answered_in_edn(app: web.Application) -> None:
    async with serve(app) as server:
        status, kind, body, headers = await _call(
            server, "POST", "/echo", data='{:job/name "x" :job/steps [{:step/name "a"}]}',
            headers={"Content-Type": EDN},
        )
    assert (status, kind) == (201, EDN)
    assert body == {K("echo"): {K("job/name"): "x", K("job/steps"): Vector(({K("step/name"): "a"},))}}
    assert headers["Vary"] == "Accept"


async def test_a_json_body_answered_in_json(app: web.Application) -> None:
    async with serve(app) as server:
        status, kind, body, _ = await _call(
            server, "POST", "/echo", data='{"job/name": "x", "n": [1, 2]}',
            headers={"Content-Type": "application/json; charset=utf-8", "Accept": JSON},
        )
    assert (status, kind) == (201, JSON)
    assert body == {"echo": {"job/name": "x", "n": [1, 2]}}


async def test_a_lone_surrogate_survives_both_formats(app: web.Application) -> None:
    async with serve(app) as server:
        for accept, key in ((EDN, K), (JSON, str)):
            status, _, body, _ = await _call(server, "POST", "/echo", data=rb'{:s "a\ud800b"}',
                                             headers={"Content-Type": EDN, "Accept": accept})
            assert (status, body) == (201, {key("echo"): {key("s"): "a\ud800b"}})


async def test_json_in_edn_out_and_no_content_type_means_edn(app: web.Application) -> None:
    async with serve(app) as server:
        _, kind, body, _ = await _call(server, "POST", "/echo", data=b'{"a": "b"}',
                                       headers={"Content-Type": JSON})
        assert (kind, body) == (EDN, {K("echo"): {K("a"): "b"}})
        _, kind, body, _ = await _call(server, "POST", "/echo", data=b"{:a #{1}}")
        assert (kind, body) == (EDN, {K("echo"): {K("a"): frozenset({1})}})


async def test_an_empty_body_is_nil(app: web.Application) -> None:
    async with serve(app) as server:
        _, _, body, _ = await _call(server, "POST", "/echo", headers={"Content-Type": "text/plain"})
    assert body == {K("echo"): None}


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, EDN),
        ("", EDN),
        ("*/*", EDN),
        ("application/json", JSON),
        ("application/edn", EDN),
        ("application/*", EDN),
        ("application/json, application/edn", EDN),
        ("application/edn;q=0.5, application/json", JSON),
        ("application/json;q=0.9, */*;q=0.1", JSON),
        ("application/json;q=0, */*", EDN),
        ("text/html, application/xhtml+xml, */*;q=0.8", EDN),
        ("text/html", EDN),
        ("APPLICATION/JSON", JSON),
        ("application/json;q=oops", EDN),
    ],
)
def test_negotiation(accept: str | None, chosen: str) -> None:
    assert negotiate(accept) == chosen


@pytest.mark.parametrize(
    ("content_type", "data", "needle"),
    [
        (EDN, b'{:a 1\n :b [1 2}', "malformed EDN body: "),
        (EDN, b"[" * 5000, "malformed EDN body: "),
        (EDN, b"{:a 1} {:b 2}", "malformed EDN body: "),
        (JSON, b'{"a": 1,\n "b" 2}', "malformed JSON body: Expecting ':' delimiter at line 2, column 6"),
        (JSON, b"[" * 100_000, "malformed JSON body: "),
        (JSON, b"[NaN]", "malformed JSON body: NaN is not JSON"),
        (JSON, b"\xff\xfe", "request body is not valid utf-8 at byte 0"),
        (f"{JSON}; charset=latin-9000", b"{}", "unknown charset 'latin-9000'"),
    ],
)
async def test_malformed_bodies_are_400_with_a_position(content_type: str, data: bytes, needle: str) -> None:
    async with serve(_app()) as server:
        status, _, body, _ = await _call(server, "POST", "/echo-large", data=data,
                                         headers={"Content-Type": content_type})
    assert body[K("error/status")] == status
    assert status in (400, 415)
    assert needle in body[K("error/message")]


async def test_edn_errors_name_line_and_column(app: web.Application) -> None:
    async with serve(app) as server:
        status, _, body, _ = await _call(server, "POST", "/echo", data=b"{:a 1\n :b [1 2}",
                                         headers={"Content-Type": EDN, "Accept": JSON})
    assert status == 400
    assert "line 2, column" in body["error/message"]
    assert body["error/status"] == 400


async def test_an_unsupported_type_is_415(app: web.Application) -> None:
    async with serve(app) as server:
        status, _, body, _ = await _call(server, "POST", "/echo", data=b"a=1",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    assert body[K("error/message")] == (
        "unsupported Content-Type 'application/x-www-form-urlencoded': send application/edn or application/json"
    )


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 100):
        yield data[start : start + 100]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_limit_is_413(app: web.Application, chunked: bool) -> None:
    data = b'"' + b"x" * MAX_SIZE + b'"'
    async with serve(app) as server:
        status, _, body, _ = await _call(server, "POST", "/echo", data=_chunks(data) if chunked else data,
                                         headers={"Content-Type": EDN})
        assert status == 413
        assert body[K("error/message")] == f"request body of {len(data)} bytes exceeds the limit of {MAX_SIZE}"
        # the limit is inclusive
        status, *_ = await _call(server, "POST", "/echo", data=data[: MAX_SIZE - 1] + b'"',
                                 headers={"Content-Type": EDN})
        assert status == 201


async def test_an_internal_error_is_500_without_details(
    app: web.Application, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="jobstreamer.common.wire.middleware"):
        async with serve(app) as server:
            status, _, body, _ = await _call(server, "GET", "/boom")
    assert status == 500
    assert body == {K("error/message"): "internal server error", K("error/status"): 500}
    [record] = caplog.records
    assert record.getMessage() == "GET /boom failed"
    assert record.exc_info and "hunter2" in str(record.exc_info[1])  # the details stay in the log


async def test_an_error_names_its_field(app: web.Application) -> None:
    async with serve(app) as server:
        assert (await _call(server, "GET", "/bad-field"))[:3] == (400, EDN, {
            K("error/message"): "job names are letters, digits, - and _",
            K("error/status"): 400,
            K("error/field"): K("job/name"),
        })
        assert (await _call(server, "GET", "/bad-field", headers={"Accept": JSON}))[:3] == (400, JSON, {
            "error/message": "job names are letters, digits, - and _",
            "error/status": 400,
            "error/field": "job/name",
        })
        status, _, body, _ = await _call(server, "GET", "/unavailable")
        assert (status, body[K("error/message")]) == (503, "the store is unusable")


async def test_aiohttp_errors_render_alike(app: web.Application) -> None:
    async with serve(app) as server:
        status, _, body, _ = await _call(server, "GET", "/nowhere")
        assert body == {K("error/message"): "Not Found", K("error/status"): 404}
        status, _, body, headers = await _call(server, "DELETE", "/echo")
        assert body == {K("error/message"): "Method Not Allowed", K("error/status"): 405}
        assert headers["Allow"] == "POST"
        status, _, body, _ = await _call(server, "GET", "/words", headers={"Accept": JSON})
        assert body == {"error/message": "the handler's own words", "error/status": 400}
        status, _, _, headers = await _call(server, "GET", "/moved")
        assert (status, headers["Location"]) == (302, "/elsewhere")
