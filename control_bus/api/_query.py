"""Query-string parameters, checked: a bad value is a 400 naming the parameter."""

from __future__ import annotations

import math

from aiohttp import web

from jobstreamer.common.errors import BadRequest


def whole(request: web.Request, name: str, default: int) -> int:
    """`?name=` as a whole number of at least 0."""
    text = request.query.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()):
        raise BadRequest(f"{name} must be a whole number of at least 0, not {text!r}", field=name)
    return int(text)


def seconds(request: web.Request, name: str, maximum: float) -> float | None:
    """`?name=` as a number of seconds from 0 to `maximum`; None when absent."""
    text = request.query.get(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= maximum:
        raise BadRequest(f"{name} must be a number of seconds from 0 to {maximum:g}, not {text!r}", field=name)
    return value
