"""`GET /code` on a real aiohttp server, spoken to by the worker's real client."""

from __future__ import annotations

import asyncio
import hashlib
import socket

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from jobstreamer.agent._code_client import WebSocketCodeClient
from jobstreamer.common.errors import JobstreamerError
from jobstreamer.common.wire import code
from jobstreamer.common.wire.signing import signed_headers
from tests._apps import HELLO, SECRET, Bundles, code_server, hello


def exchange(url: str, *messages: code.Request, secret: str = SECRET) -> list[code.Reply]:
    with WebSocketCodeClient(url, secret=secret) as client:
        return [client.request(m) for m in messages]


def run(coroutine_factory) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(coroutine_factory())


def test_module_has_latest_and_unknown_module() -> None:
    bundles = Bundles()
    version = bundles.add("hello", hello())
    digest = hashlib.sha256(HELLO["hello/tasks.py"].encode()).hexdigest()

    async def main() -> None:
        async with code_server(bundles) as url:
            module, latest, missing, no_version = await asyncio.to_thread(
                exchange,
                url,
                code.ModuleRequest("hello", version, "hello.tasks", None, None),
                code.ModuleRequest("hello", version, "hello.tasks", digest, None),
                code.ModuleRequest("hello", version, "hello.nope", None, None),
                code.ModuleRequest("hello", "abc", "hello.tasks", None, None),
            )
        assert module == code.Module("hello.tasks", digest, HELLO["hello/tasks.py"], "hello/tasks.py", False, 1)
        assert isinstance(latest, code.HasLatest) and latest.module == "hello.tasks" and latest.request_id == 2
        assert missing == code.CodeError(f"no module hello.nope in hello@{version}", 404, 3)
        assert no_version == code.CodeError("no version abc of application hello", 404, 4)

    run(main)


def test_bundle_holds_every_module_and_resource() -> None:
    bundles = Bundles()
    version = bundles.add("hello", hello())

    async def main() -> None:
        async with code_server(bundles) as url:
            (reply,) = await asyncio.to_thread(exchange, url, code.BundleRequest("hello", version, {}, None))
        assert isinstance(reply, code.Bundle) and reply.version == version
        assert {m.module: m.path for m in reply.modules} == {
            "hello": "hello/__init__.py",
            "hello.sub": "hello/sub/__init__.py",
            "hello.sub.deep": "hello/sub/deep.py",
            "hello.tasks": "hello/tasks.py",
            "hello.util": "hello/util.py",
        }
        assert all(isinstance(m, code.Module) and m.source == HELLO[m.path] for m in reply.modules)
        assert reply.resources == {"hello/data/greeting.txt": b"hi there\n"}

    run(main)


def test_pipelined_requests_are_answered_in_order_with_their_ids() -> None:
    bundles = Bundles()
    version = bundles.add("hello", hello())

    def pipeline(url: str) -> list[code.Reply]:
        with connect(url, additional_headers=signed_headers(SECRET, "GET", url), proxy=None) as ws:
            for rid, name in [(10, "hello"), (11, "hello.util"), (12, "nope")]:
                ws.send(code.encode(code.ModuleRequest("hello", version, name, None, rid)))
            ws.send("{:code/op :launch :code/request-id 13}")
            ws.send("not edn {")
            return [code.decode_reply(str(ws.recv(timeout=10))) for _ in range(5)]

    async def main() -> None:
        async with code_server(bundles) as url:
            replies = await asyncio.to_thread(pipeline, url)
        assert [r.request_id for r in replies] == [10, 11, 12, 13, None]
        assert [r.kind for r in replies] == ["module", "module", "error", "error", "error"]
        assert all(r.status == 400 for r in replies[3:] if isinstance(r, code.CodeError))

    run(main)


@pytest.mark.parametrize("secret", [None, "wrong-secret"])
def test_an_unsigned_or_badly_signed_upgrade_is_refused(secret: str | None) -> None:
    def attempt(url: str) -> int:
        headers = signed_headers(secret, "GET", url) if secret else {}
        try:
            with connect(url, additional_headers=headers, proxy=None):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    async def main() -> None:
        async with code_server(Bundles()) as url:
            assert await asyncio.to_thread(attempt, url) == 401
            with pytest.raises(JobstreamerError) as caught:
                await asyncio.to_thread(exchange, url, code.BundleRequest("hello", "v", {}, None), secret="wrong")
            assert caught.value.status == 401

    run(main)


def test_the_client_reopens_a_link_the_bus_dropped() -> None:
    bundles = Bundles()
    version = bundles.add("hello", hello())
    request = code.ModuleRequest("hello", version, "hello", None, None)

    async def main() -> None:
        async with code_server(bundles) as url:
            # Gives up on a bus that stays away after 0.5 s, not the default 10.
            client = WebSocketCodeClient(url, secret=SECRET, reconnect_within=0.5)
            assert (await asyncio.to_thread(client.request, request)).kind == "module"
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        async with code_server(bundles, port=port):  # the bus restarted
            assert (await asyncio.to_thread(client.request, request)).kind == "module"
        # The bus is gone: the client fails with 503, never hangs.
        with pytest.raises(JobstreamerError) as caught:
            await asyncio.to_thread(client.request, request)
        assert caught.value.status == 503
        client.close()

    run(main)


def test_the_client_waits_for_a_bus_that_comes_up_late() -> None:
    # A run loading code while its bus restarts waits for the bus (RECONNECT_WITHIN).
    bundles = Bundles()
    version = bundles.add("hello", hello())
    request = code.ModuleRequest("hello", version, "hello", None, None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def main() -> None:
        with WebSocketCodeClient(f"ws://127.0.0.1:{port}/code", secret=SECRET) as client:
            asking = asyncio.ensure_future(asyncio.to_thread(client.request, request))
            await asyncio.sleep(0.5)  # connections refused meanwhile
            assert not asking.done()
            async with code_server(bundles, port=port):
                reply = await asyncio.wait_for(asking, 10)
        assert reply.kind == "module"

    run(main)
