"""Request and response bodies in EDN or JSON (API.md, "Names, ports, formats").

EDN is canonical.  A request body is read by its Content-Type (a missing
Content-Type means EDN); a response is written in the format the `Accept`
header prefers, EDN on a tie, for `*/*`, and when neither is acceptable: an
error must still reach the client, so this never answers 406.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import LooseHeaders

from .. import edn
from ..errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from . import json as edn_json

EDN = "application/edn"
JSON = "application/json"

DEFAULT_MAX_SIZE = 1024**2  # aiohttp's own default for client_max_size


def _read_json(text: str) -> Any:
    try:
        return edn_json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from exc


_READERS: Mapping[str, Callable[[str], Any]] = {EDN: edn.loads, JSON: _read_json}
_WRITERS: Mapping[str, Callable[[Any], str]] = {EDN: edn.dumps, JSON: edn_json.dumps}
_NAMES = {EDN: "EDN", JSON: "JSON"}


async def read_bytes(request: web.Request, *, max_size: int = DEFAULT_MAX_SIZE) -> bytes:
    """The raw body, refused with 413 beyond `max_size`.

    aiohttp caches the body, so this can be called again (the signature
    check reads it first).  The app's `client_max_size` is the hard memory
    bound for bodies sent without Content-Length; keep it >= `max_size`.
    """
    declared = request.content_length
    if declared is not None and declared > max_size:
        raise PayloadTooLarge(f"request body of {declared} bytes exceeds the limit of {max_size}")
    body = await request.read()
    if len(body) > max_size:
        raise PayloadTooLarge(f"request body of {len(body)} bytes exceeds the limit of {max_size}")
    return body


def parse(body: bytes, media_type: str, charset: str | None = None) -> Any:
    """Data for `body` sent as `media_type`; None for an empty body.

    Every way the body can be wrong is a 4xx error: bad input never yields a 500.
    """
    if not body:
        return None
    reader = _READERS.get(media_type)
    if reader is None:
        raise UnsupportedMediaType(
            f"unsupported Content-Type {media_type!r}: send {EDN} or {JSON}"
        )
    try:
        text = body.decode(charset or "utf-8")
    except LookupError:
        raise UnsupportedMediaType(f"unknown charset {charset!r}") from None
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not valid {exc.encoding} at byte {exc.start}") from None
    try:
        return reader(text)
    except RecursionError:
        raise BadRequest(f"malformed {_NAMES[media_type]} body: nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - any parser failure is the input's fault
        raise BadRequest(f"malformed {_NAMES[media_type]} body: {exc}") from exc


async def read_body(request: web.Request, *, max_size: int = DEFAULT_MAX_SIZE) -> Any:
    """The request's body as EDN data, whether it came as EDN or JSON."""
    body = await read_bytes(request, max_size=max_size)
    # aiohttp reports a missing Content-Type as application/octet-stream.
    media_type = request.content_type if hdrs.CONTENT_TYPE in request.headers else EDN
    return parse(body, media_type, request.charset)


def _ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for item in accept.split(","):
        media_range, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((media_range.lower(), quality))
    return ranges


def _quality(media_type: str, ranges: list[tuple[str, float]]) -> float:
    """The q of the most specific range matching `media_type` (RFC 9110 12.5.1)."""
    major = media_type.split("/")[0] + "/*"
    best_specificity, quality = -1, 0.0
    for media_range, q in ranges:
        specificity = {media_type: 2, major: 1, "*/*": 0}.get(media_range, -1)
        if specificity > best_specificity:
            best_specificity, quality = specificity, q
    return quality


def negotiate(accept: str | None) -> str:
    """The media type to answer in for this `Accept` header."""
    if not accept:
        return EDN
    ranges = _ranges(accept)
    # EDN first, and only a strictly better q displaces it: ties go to EDN.
    best, best_q = EDN, _quality(EDN, ranges)
    if _quality(JSON, ranges) > best_q:
        best = JSON
    return best


def render(data: Any, media_type: str) -> bytes:
    """`data` written as `media_type` (EDN or JSON), UTF-8."""
    # A lone surrogate (from "\ud800" in a request) has no UTF-8 form.  It can
    # only sit inside a string, where its backslash escape is valid JSON; the
    # EDN writer has escaped it already.
    return _WRITERS[media_type](data).encode("utf-8", "backslashreplace")


def respond(
    request: web.Request,
    data: Any,
    *,
    status: int = 200,
    headers: LooseHeaders | None = None,
) -> web.Response:
    """A response carrying `data` in the format the request's `Accept` prefers."""
    media_type = negotiate(request.headers.get(hdrs.ACCEPT))
    response = web.Response(
        body=render(data, media_type),
        status=status,
        content_type=media_type,
        charset="utf-8",
        headers=headers,
    )
    response.headers[hdrs.VARY] = hdrs.ACCEPT
    return response
