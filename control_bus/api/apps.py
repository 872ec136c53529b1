"""Applications: upload (a zip of a source tree, or a wheel), list, show, delete."""

from __future__ import annotations

from aiohttp import BodyPartReader, web

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from jobstreamer.common.wire.content import EDN, JSON, read_bytes, respond

from ._context import services

# A zipped source tree is far smaller; the unpacked size has its own bound
# (_bundle.MAX_BUNDLE_BYTES).
MAX_UPLOAD = 64 * 1024**2

_CHUNK = 256 * 1024


async def list_apps(request: web.Request) -> web.Response:
    return respond(request, services(request).apps.list())


async def upload(request: web.Request) -> web.Response:
    payload, filename = await _upload(request)
    view = await services(request).apps.register(
        payload, name=request.query.get("name") or None, filename=filename
    )
    name = view[Keyword("application/name")]
    status = 201 if view[Keyword("version/new?")] else 200
    return respond(request, view, status=status, headers={"Location": f"/apps/{name}"})


async def _upload(request: web.Request) -> tuple[bytes, str | None]:
    """The uploaded bytes and their file name, if one was given."""
    if request.content_type.startswith("multipart/"):
        return await _file_part(request)
    if request.content_type in (EDN, JSON):
        raise UnsupportedMediaType(
            "upload an application as an application/zip body (a zipped source tree or a wheel),"
            " or as a file in a multipart/form-data body"
        )
    payload = await read_bytes(request, max_size=MAX_UPLOAD)
    if not payload:
        raise BadRequest("the upload is empty", field="file")
    return payload, None


async def _file_part(request: web.Request) -> tuple[bytes, str | None]:
    try:
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.filename is not None:
                return await _read_part(part), part.filename
    except ValueError as exc:  # aiohttp's multipart parser on malformed input
        raise BadRequest(f"malformed multipart body: {exc}", field="file") from None
    raise BadRequest("the multipart body has no file part", field="file")


async def _read_part(part: BodyPartReader) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(_CHUNK):
        data += chunk
        if len(data) > MAX_UPLOAD:
            raise PayloadTooLarge(f"the upload exceeds the limit of {MAX_UPLOAD} bytes", field="file")
    return bytes(data)


async def get_app(request: web.Request) -> web.Response:
    return respond(request, services(request).apps.get(request.match_info["app"]))


async def versions(request: web.Request) -> web.Response:
    return respond(request, services(request).apps.versions(request.match_info["app"]))


async def delete_app(request: web.Request) -> web.Response:
    await services(request).apps.delete(request.match_info["app"])
    return web.Response(status=204)
