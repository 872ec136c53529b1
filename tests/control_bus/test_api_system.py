"""Healthcheck, version, logging in, and the token every other route needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobstreamer.common.edn import Keyword
from jobstreamer.common.store import StorageError
from jobstreamer.common.wire.content import JSON
from jobstreamer.control_bus._store import BusStore
from tests.control_bus._bus import ADMIN_PASSWORD, Client, k, running_bus


async def test_public_routes_need_no_token(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (_, client):
        anonymous = Client(client.session, client.url)
        health = await anonymous.call("GET", "/healthcheck")
        assert (health.status, health["status"]) == (200, Keyword("ok"))
        version = await anonymous.call("GET", "/version")
        assert version.status == 200 and version["version"]
        async with client.session.get(client.url + "/") as page:
            assert page.status == 200 and page.content_type == "text/html"
            assert "jobstreamer control bus" in await page.text()


async def test_healthcheck_is_503_when_the_store_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(self: BusStore, fn: object) -> None:
        raise StorageError("disk on fire")

    async with running_bus(tmp_path) as (_, client):
        monkeypatch.setattr(BusStore, "transact_with", broken)
        reply = await client.call("GET", "/healthcheck")
    assert reply.status == 503
    assert "disk on fire" in reply["error/message"]


async def test_login(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (_, client):
        wrong = await client.call("POST", "/auth", k(**{"user/id": "admin", "user/password": "nope"}))
        unknown = await client.call("POST", "/auth", k(**{"user/id": "eve", "user/password": "nope"}))
        missing = await client.call("POST", "/auth", k(**{"user/id": "admin"}))
        not_a_map = await client.call("POST", "/auth", [1, 2])
        malformed = await client.call("POST", "/auth", body=b"{:user/id", content_type="application/edn")
        as_json = await client.call(
            "POST", "/auth", {"user/id": "admin", "user/password": ADMIN_PASSWORD}, content_type=JSON, accept=JSON
        )
    assert (wrong.status, unknown.status) == (401, 401)
    assert wrong["error/message"] == unknown["error/message"]  # no hint which one was wrong
    assert (missing.status, missing["error/field"]) == (400, "user/password")
    assert not_a_map.status == 400
    assert malformed.status == 400 and "malformed EDN" in malformed["error/message"]
    assert as_json.status == 200 and isinstance(as_json.data["token"], str)


@pytest.mark.parametrize(
    "method, path", [("GET", "/apps"), ("POST", "/hello/jobs"), ("GET", "/agents"), ("PUT", "/agent/x/block")]
)
async def test_routes_need_a_valid_token(tmp_path: Path, method: str, path: str) -> None:
    async with running_bus(tmp_path) as (_, client):
        none = await client.call(method, path, authorized=False)
        bad = await client.call(method, path, token="not-a-token")
    assert (none.status, bad.status) == (401, 401)
    assert "Authorization: Token" in none["error/message"]
    assert "log in again" in bad["error/message"]


async def test_unknown_routes_are_404_in_the_format_asked(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (_, client):
        edn_reply = await client.call("GET", "/no/such/route/here")
        json_reply = await client.call("GET", "/no/such/route/here", accept=JSON)
        wrong_method = await client.call("PATCH", "/apps")
    assert edn_reply.status == 404 and edn_reply["error/status"] == 404
    assert json_reply.status == 404 and json_reply.data["error/status"] == 404
    assert wrong_method.status == 405
