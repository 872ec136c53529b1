"""Execution states and the state machine (API.md, "States"), as pure functions.

The bus creates an execution `:queued`, pinned to the application's current
version; the dispatcher marks it `:starting` when it posts it to an agent
(or creates it `:starting` there when an agent is free at once, dispatch.py);
the agent's own state (fetched with `GET /execution/:id` after a Progress
notification) moves it on.

`transition` is the state machine, a pure function.  Its rules:

- a terminal state (`:completed :failed :stopped :abandoned`) is never left;
  a later report of another state is *ignored*, not refused, because an
  agent's replies can arrive out of order and the bus may have abandoned an
  execution the agent still reports;
- `:queued` may move straight to `:started` or a final state: the agent's
  first Progress can overtake the dispatcher's own `:starting` mark;
- `:starting` may go back to `:queued` (the agent refused it: 503);
- `:unknown` (the agent vanished) may move to any state the agent reports
  once it is back, except back into the queue: it may have run.
"""

from __future__ import annotations

from collections.abc import Mapping

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import Conflict

from ._lookup import keyword_of

UNDISPATCHED, QUEUED, STARTING, STARTED, STOPPING = map(
    Keyword, ("undispatched", "queued", "starting", "started", "stopping")
)
STOPPED, COMPLETED, FAILED, ABANDONED, UNKNOWN = map(
    Keyword, ("stopped", "completed", "failed", "abandoned", "unknown")
)
TERMINAL: frozenset[Keyword] = frozenset({COMPLETED, FAILED, STOPPED, ABANDONED})
UNFINISHED: frozenset[Keyword] = frozenset(
    {UNDISPATCHED, QUEUED, STARTING, STARTED, STOPPING, UNKNOWN}
)
STATES: frozenset[Keyword] = TERMINAL | UNFINISHED
INITIAL: frozenset[Keyword] = frozenset({QUEUED, UNDISPATCHED})

# The allowed edges out of each non-terminal state (the module docstring says why).
EDGES: Mapping[Keyword, frozenset[Keyword]] = {
    UNDISPATCHED: frozenset({QUEUED, STARTING, STARTED, *TERMINAL}),
    QUEUED: frozenset({UNDISPATCHED, STARTING, STARTED, *TERMINAL}),
    STARTING: frozenset({QUEUED, STARTED, STOPPING, UNKNOWN, *TERMINAL}),
    STARTED: frozenset({STOPPING, UNKNOWN, *TERMINAL}),
    STOPPING: frozenset({UNKNOWN, *TERMINAL}),
    UNKNOWN: frozenset({STARTED, STOPPING, *TERMINAL}),
}


class IllegalTransition(Conflict):
    """A state change the state machine does not allow (409)."""


def state_of(value: object, field: str = "execution/batch-status") -> Keyword:
    """A batch status from a Keyword or its name ("completed", ":completed"); else BadRequest."""
    return keyword_of(value, STATES, field)


def transition(current: Keyword | None, new: Keyword | str) -> Keyword:
    """The state an execution in `current` is in once `new` is reported.

    `new` if the edge is allowed; `current` if `current` is terminal (a late
    report is ignored); raises IllegalTransition otherwise.  `current` None
    is a new execution, which starts in `:queued` or `:undispatched`.
    """
    state = state_of(new)
    if current is None:
        if state not in INITIAL:
            raise IllegalTransition(
                f"an execution starts {QUEUED} or {UNDISPATCHED}, not {state}",
                field="execution/batch-status",
            )
        return state
    if current is state or current in TERMINAL:
        return current
    if state not in EDGES[current]:
        raise IllegalTransition(
            f"an execution cannot go from {current} to {state}", field="execution/batch-status"
        )
    return state
