"""Execution log lines on the bus: `<data>/logs/<id>.log`, one EDN map a line.

The bus copies lines from the agent that runs an execution (after a LogWaiting
notification) and serves them from here, so a log outlives its agent.  A line
keeps the agent's `:log/offset`, which is also the offset a client pages by;
lines the agent dropped before the bus fetched them leave a gap in the
offsets.  Simple on purpose: issue #6 deepens log storage (follow, rotation).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jobstreamer.common import edn
from jobstreamer.common.edn import Keyword, Vector

PAGE_SIZE = 1000

_OFFSET = Keyword("log/offset")
_LINES = Keyword("log/lines")
_NEXT = Keyword("log/next-offset")


class LogStore:
    def __init__(self, directory: str | Path) -> None:
        self._dir = Path(directory)
        self._next: dict[int, int] = {}

    def _path(self, execution_id: int) -> Path:
        return self._dir / f"{execution_id}.log"

    async def next_offset(self, execution_id: int) -> int:
        """The agent offset to fetch from next: one past the last line kept."""
        if execution_id not in self._next:
            lines = await asyncio.to_thread(self._read, execution_id)
            self._next[execution_id] = lines[-1][_OFFSET] + 1 if lines else 0
        return self._next[execution_id]

    async def append(self, execution_id: int, lines: Sequence[Mapping[Any, Any]]) -> None:
        """Keep `lines` (maps with `:log/offset`), skipping any already kept."""
        start = await self.next_offset(execution_id)
        fresh = [line for line in lines if isinstance(line.get(_OFFSET), int) and line[_OFFSET] >= start]
        if not fresh:
            return
        text = "".join(edn.dumps(line) + "\n" for line in fresh)
        await asyncio.to_thread(self._write, execution_id, text)
        self._next[execution_id] = fresh[-1][_OFFSET] + 1

    def _write(self, execution_id: int, text: str) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        with self._path(execution_id).open("a", encoding="utf-8") as out:
            out.write(text)

    def _read(self, execution_id: int) -> list[dict[Keyword, Any]]:
        try:
            text = self._path(execution_id).read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        # A line cut short by a crash mid-write is the only one that can fail to read.
        lines = []
        for row in text.splitlines():
            try:
                lines.append(edn.loads(row))
            except edn.EDNDecodeError:
                continue
        return lines

    async def page(self, execution_id: int, offset: int, limit: int = PAGE_SIZE) -> dict[Keyword, Any]:
        """`{:log/lines [...] :log/next-offset N}`: up to `limit` lines from `offset` on."""
        lines = await asyncio.to_thread(self._read, execution_id)
        page = [line for line in lines if line[_OFFSET] >= offset][:limit]
        if page:
            next_offset = page[-1][_OFFSET] + 1
        else:
            next_offset = max(offset, lines[-1][_OFFSET] + 1 if lines else 0)
        return {_LINES: Vector(page), _NEXT: next_offset}
