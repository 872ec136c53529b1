"""Errors raised by the store, each with the HTTP status it maps to."""

from __future__ import annotations

from ..errors import BadRequest, Conflict, JobstreamerError, Unavailable


class StoreError(JobstreamerError):
    """Root of the store's errors."""

    status = 400


class SchemaError(StoreError, BadRequest):
    """The schema, or a change to it, is invalid."""


class TransactionError(StoreError, BadRequest):
    """Transaction data is malformed or breaks the schema; nothing was written."""


class UniqueConflict(StoreError, Conflict):
    """A `:db/unique` value already belongs to another entity."""

    status = 409


class CasFailed(StoreError, Conflict):
    """`:db/cas` found a value other than the expected one."""

    status = 409


class QueryError(StoreError, BadRequest):
    """A Datalog query or pull pattern is malformed, or its inputs do not fit it."""


class StorageError(StoreError, Unavailable):
    """The durable log cannot be read or written; the in-memory state is unchanged."""

    status = 503
