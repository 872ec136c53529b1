"""What the domain modules share: finding entities by name, reading names and
keyword enums from input, and the paged list shape the API returns.

One place, so that "no such app" is one 404 with one message wherever a path
names an app or a job, and a JSON client's "failed" reads as `:failed` everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import BadRequest, NotFound
from jobstreamer.common.store import Db

# API.md: application and job names.
NAME = re.compile(r"[A-Za-z0-9_-]+")
MAX_LIMIT = 1000

T = TypeVar("T")

_RESULTS, _HITS, _LIMIT, _OFFSET = (Keyword(k) for k in ("results", "hits", "limit", "offset"))


def check_name(value: object, field: str, what: str) -> str:
    """`value` if it is a valid application or job name; BadRequest on `field` otherwise."""
    if not isinstance(value, str) or NAME.fullmatch(value) is None:
        raise BadRequest(f"{what} name must match ^[A-Za-z0-9_-]+$, got {value!r}", field=field)
    return value


def keyword_of(value: object, allowed: frozenset[Keyword], field: str) -> Keyword:
    """The keyword in `allowed` that `value` is or names ("failed", ":failed"); else BadRequest.

    JSON has no keywords, so a JSON client sends their names as strings.
    """
    if isinstance(value, str):
        value = Keyword(value[1:] if value.startswith(":") else value)
    for keyword in allowed:  # not `value in allowed`: that raises on a list or a map
        if keyword is value:
            return keyword
    names = " ".join(sorted(str(a) for a in allowed))
    raise BadRequest(f"expected one of {names}, got {value!r}", field=field)


def now() -> datetime:
    """The current instant, in UTC, as the store's `#inst` values are."""
    return datetime.now(UTC)


def app_eid(db: Db, app: str) -> int:
    """The entity id of application `app`; NotFound (404) if there is none."""
    eid = db.entid([Keyword("application/name"), app]) if isinstance(app, str) else None
    if eid is None:
        raise NotFound(f"no application {app!r}", field="application/name")
    return eid


def job_key(app: str, job: str) -> str:
    """The job's identity value, `:job/key`: "app/job"."""
    return f"{app}/{job}"


def job_eid(db: Db, app: str, job: str) -> int:
    """The entity id of job `job` of application `app`; NotFound (404) for either."""
    app_eid(db, app)
    eid = db.entid([Keyword("job/key"), job_key(app, job)]) if isinstance(job, str) else None
    if eid is None:
        raise NotFound(f"no job {job!r} in application {app!r}", field="job/name")
    return eid


def check_page(limit: int, offset: int) -> None:
    """BadRequest unless 0 <= limit <= MAX_LIMIT and offset >= 0."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
        raise BadRequest(
            f"limit must be an integer from 0 to {MAX_LIMIT}, got {limit!r}", field="limit"
        )
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise BadRequest(f"offset must be a non-negative integer, got {offset!r}", field="offset")


def page(
    items: Sequence[T], limit: int, offset: int, shape: Callable[[T], Any]
) -> dict[Keyword, Any]:
    """`{:results [...] :hits N :limit L :offset O}`: `shape` applied to one page of `items`."""
    check_page(limit, offset)
    return {
        _RESULTS: [shape(item) for item in items[offset : offset + limit]],
        _HITS: len(items),
        _LIMIT: limit,
        _OFFSET: offset,
    }
