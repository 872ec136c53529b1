"""The one error the EDN reader raises for bad input."""

from __future__ import annotations

from ..errors import BadRequest


class EDNDecodeError(BadRequest):
    """Text that is not EDN, or exceeds a reader limit (status 400).

    `position` is the 0-based character offset of the fault, `line` and
    `column` its 1-based place; the message already names them.
    """

    def __init__(
        self, problem: str, *, position: int, line: int, column: int, detail: str = ""
    ) -> None:
        where = f"at line {line}, column {column}"
        super().__init__(f"{problem} {where}: {detail}" if detail else f"{problem} {where}")
        self.problem = problem
        self.position = position
        self.line = line
        self.column = column

    @classmethod
    def at(cls, text: str, position: int, problem: str, detail: str = "") -> EDNDecodeError:
        """The error for `problem` found at `position` in `text`."""
        line, column = line_column(text, position)
        return cls(problem, position=position, line=line, column=column, detail=detail)


def line_column(text: str, position: int) -> tuple[int, int]:
    """The 1-based line and column of a 0-based offset into `text`."""
    line_start = text.rfind("\n", 0, position) + 1
    return text.count("\n", 0, position) + 1, position - line_start + 1
