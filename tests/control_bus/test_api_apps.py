"""POST/GET/DELETE /apps: uploads as a raw zip or multipart, listing, versions."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from jobstreamer.common.edn import Keyword
from jobstreamer.common.wire.content import JSON
from tests.control_bus._bus import Client, running_bus
from tests.control_bus._domain import hello_zip, zipped

ZIP = "application/zip"


async def upload(client: Client, payload: bytes, query: str = "?name=hello") -> object:
    return await client.call("POST", "/apps" + query, body=payload, content_type=ZIP)


async def test_upload_a_zip_then_the_same_again(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (_, client):
        first = await upload(client, hello_zip())
        again = await upload(client, hello_zip())
        changed = await upload(client, hello_zip(tasks="def run():\n    return 2\n"))
        listed = await client.call("GET", "/apps")
        one = await client.call("GET", "/apps/hello")
        versions = await client.call("GET", "/apps/hello/versions")
    assert (first.status, again.status, changed.status) == (201, 200, 201)
    assert first.headers["Location"] == "/apps/hello"
    assert first["application/name"] == "hello" and "hello.tasks:run" in first["version/tasks"]
    assert again["application/version"] == first["application/version"]
    assert [app[Keyword("application/name")] for app in listed.data] == ["hello"]
    assert one["application/version"] == changed["application/version"]
    assert [v[Keyword("application/version")] for v in versions.data] == [
        changed["application/version"],
        first["application/version"],
    ]


async def test_upload_multipart_takes_the_name_from_the_bundle(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (_, client):
        form = aiohttp.FormData()
        form.add_field("file", hello_zip(), filename="whatever.zip", content_type=ZIP)
        headers = {"Authorization": f"Token {client.token}", "Accept": "application/edn"}
        async with client.session.post(client.url + "/apps", data=form, headers=headers) as response:
            status = response.status
        one = await client.call("GET", "/apps/hello", accept=JSON)
        no_file = aiohttp.FormData(default_to_multipart=True)
        no_file.add_field("name", "hello")
        async with client.session.post(client.url + "/apps", data=no_file, headers=headers) as response:
            missing = response.status, await response.text()
    assert status == 201
    assert one.status == 200 and one.data["application/name"] == "hello"
    assert missing[0] == 400 and "no file part" in missing[1]


async def test_bad_uploads_are_4xx(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (_, client):
        not_zip = await upload(client, b"this is no zip")
        empty = await upload(client, b"")
        as_edn = await client.call("POST", "/apps?name=x", {Keyword("a"): 1})
        garbled = await client.call("POST", "/apps", body=b"garbage", content_type="multipart/form-data; boundary=b")
        broken = await upload(client, zipped({"bad/__init__.py": "def (:\n"}), "?name=bad")
        bad_name = await upload(client, hello_zip(), "?name=no%20spaces")
        listed = await client.call("GET", "/apps")
    assert not_zip.status == 400
    assert empty.status == 400 and empty["error/field"] == "file"
    assert as_edn.status == 415
    assert garbled.status == 400 and garbled["error/field"] == "file"
    assert broken.status == 400 and broken["error/field"] == "file"
    assert "bad/__init__.py, line 1" in broken["error/message"]
    assert bad_name.status == 400 and bad_name["error/field"] == "name"
    assert list(listed.data) == []


async def test_delete_and_unknown_apps(tmp_path: Path) -> None:
    async with running_bus(tmp_path) as (_, client):
        await upload(client, hello_zip())
        deleted = await client.call("DELETE", "/apps/hello")
        gone = await client.call("GET", "/apps/hello")
        again = await client.call("DELETE", "/apps/hello")
        versions = await client.call("GET", "/apps/nope/versions")
    assert deleted.status == 204 and deleted.data is None
    assert gone.status == 404 and gone["error/field"] == "application/name"
    assert again.status == 404 and versions.status == 404
