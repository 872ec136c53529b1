"""The one shape every benchmark reports in, so `make bench` can tabulate them."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A target in words that starts with a comparison, e.g. ">= 50,000 datoms/s" or
# "< 100 us": the number is in the figure's own unit.
_COMPARISON = re.compile(r"\s*(>=|<=|>|<)\s*(\d[\d,]*(?:\.\d+)?)")


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure.  `target` is the issue's target in words, if any.

    `target_value` (in `unit`) and `higher_is_better` make the target
    machine-checkable; without them a target that starts with a comparison
    (">= 20x edn_format") is read from the words.
    """

    benchmark: str  # e.g. "store", "edn"
    metric: str  # e.g. "transact, 1,000-entity batches"
    value: float
    unit: str  # e.g. "datoms/s", "us", "x edn_format"
    target: str = ""
    note: str = ""
    target_value: float | None = None
    higher_is_better: bool = True

    def goal(self) -> tuple[float, bool] | None:
        """(target value, higher is better), or None when the target has no number."""
        if self.target_value is not None:
            return self.target_value, self.higher_is_better
        match = _COMPARISON.match(self.target)
        if match is None:
            return None
        return float(match[2].replace(",", "")), match[1].startswith(">")

    @property
    def met(self) -> bool | None:
        """Whether the value meets the target; None when there is no checkable target."""
        goal = self.goal()
        if goal is None:
            return None
        value, higher = goal
        return self.value >= value if higher else self.value <= value
