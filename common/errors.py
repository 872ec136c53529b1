"""The root of every error jobstreamer raises on purpose.

An error that reaches a user carries its HTTP status and, where one input is
at fault, the field (STYLE.md, "Errors").  One middleware renders it as EDN or
JSON; the CLI prints `message` and exits non-zero.
"""

from __future__ import annotations

from typing import Any, ClassVar


class JobstreamerError(Exception):
    """Base class: `status` is the HTTP status the error maps to."""

    status: ClassVar[int] = 500

    def __init__(self, message: str, *, field: Any = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status  # type: ignore[misc]  # per-instance override

    def __str__(self) -> str:
        return self.message


class BadRequest(JobstreamerError):
    status = 400


class Unauthorized(JobstreamerError):
    status = 401


class Forbidden(JobstreamerError):
    status = 403


class NotFound(JobstreamerError):
    status = 404


class Conflict(JobstreamerError):
    status = 409


class PayloadTooLarge(JobstreamerError):
    status = 413


class UnsupportedMediaType(JobstreamerError):
    status = 415


class Unavailable(JobstreamerError):
    status = 503
