"""The README's configuration table lists every setting (STYLE.md: settings declared once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobstreamer.common.settings import AGENT_SETTINGS, BUS_SETTINGS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
TABLE = [line for line in README.splitlines() if line.startswith("| ")]


@pytest.mark.parametrize(
    "command, setting",
    [("control-bus", s) for s in BUS_SETTINGS] + [("agent", s) for s in AGENT_SETTINGS],
    ids=lambda v: getattr(v, "name", v),
)
def test_every_setting_is_in_the_readme_table(command: str, setting) -> None:
    rows = [row for row in TABLE if row.startswith(f"| {command} | `{setting.flag}` |")]
    assert rows, f"README.md has no configuration row for {command} {setting.flag}"
    if setting.env:
        assert f"`{setting.env}`" in rows[0]


def test_quick_start_is_two_commands() -> None:
    quick = README.split("## Quick start", 1)[1]
    assert "make up" in quick and "make test" in quick
