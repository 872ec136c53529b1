"""Fixtures: `servers` starts real buses and agents for one test and checks nothing outlives it.

Tests that use discovery take the `netns` marker (or, module-wide,
`netns_module`): every process they start lives in the test's private
network namespace (tests/netns.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ._cluster import Servers


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    started = Servers(tmp_path)
    try:
        yield started
    finally:
        started.close()
