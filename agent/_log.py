"""An execution's log lines, in memory, paged by offset.

Offsets count every line the execution ever logged, so they stay valid when
the oldest lines are dropped beyond `keep`: a page asked from a dropped
offset starts at the oldest line still held, and the gap shows in the
offsets.  Issue #6 keeps the whole log on disk.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from jobstreamer.common.edn import Keyword, Vector

from ._channel import LogLine

DEFAULT_KEEP = 10_000
PAGE_SIZE = 1_000

_OFFSET, _TIME, _LEVEL, _LOGGER, _MESSAGE, _STEP = (
    Keyword("log/" + name) for name in ("offset", "time", "level", "logger", "message", "step")
)


@dataclass(frozen=True, slots=True)
class Line:
    offset: int
    time: datetime
    level: str
    logger: str
    message: str
    step: str

    def to_edn(self) -> dict[Keyword, Any]:
        return {
            _OFFSET: self.offset,
            _TIME: self.time,
            _LEVEL: Keyword(self.level),
            _LOGGER: self.logger,
            _MESSAGE: self.message,
            _STEP: self.step,
        }


class LogBuffer:
    def __init__(self, *, keep: int = DEFAULT_KEEP) -> None:
        self._lines: deque[Line] = deque(maxlen=keep)
        self.next_offset = 0  # the offset the next line gets: the count ever logged

    def append(self, step: str, lines: Iterable[LogLine]) -> None:
        """Add the lines a worker (or shell command) logged while running `step`."""
        for line in lines:
            self._lines.append(Line(self.next_offset, line.time, line.level, line.logger, line.message, step))
            self.next_offset += 1

    def page(self, offset: int, limit: int = PAGE_SIZE) -> dict[Keyword, Any]:
        """`{:log/lines [...] :log/next-offset N}`: up to `limit` lines from `offset` on."""
        first = self._lines[0].offset if self._lines else self.next_offset
        start = max(offset, first) - first
        lines = [line.to_edn() for line in islice(self._lines, start, start + limit)]
        next_offset = lines[-1][_OFFSET] + 1 if lines else self.next_offset
        return {Keyword("log/lines"): Vector(lines), Keyword("log/next-offset"): next_offset}
