"""`python -m bench`: every benchmark runs (quick sizes) and the README keeps what it should."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import __main__ as harness
from bench import _render
from bench._report import Figure


BENCHMARKS = sorted(harness.discover())


@pytest.fixture(scope="module")
def quick() -> Callable[[str], list[Figure]]:
    """A benchmark's figures at --quick sizes, run at most once per module."""
    return functools.cache(lambda name: harness.discover()[name].run(quick=True))


def test_discovery_finds_the_benchmark_modules() -> None:
    assert {"store", "edn"} <= set(BENCHMARKS)
    assert not any(name.startswith("_") for name in BENCHMARKS)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_benchmark_reports_figures(quick: Callable[[str], list[Figure]], name: str) -> None:
    figures = quick(name)
    assert figures
    for figure in figures:
        assert isinstance(figure, Figure)
        assert figure.benchmark == name
        assert figure.value == figure.value and figure.value >= 0, figure  # not NaN


def test_store_reports_each_issue_target(quick: Callable[[str], list[Figure]]) -> None:
    figures = {f.metric: f for f in quick("store")}
    checked = [f for f in figures.values() if f.goal() is not None]
    assert {f.unit for f in checked} == {"datoms/s", "us", "s"}
    assert all(f.met is not None for f in checked)
    assert any(m.startswith("memory") and figures[m].unit == "bytes/datom" for m in figures)
    assert all("--quick sizes" in f.note for f in figures.values())


@pytest.mark.parametrize(
    ("figure", "met"),
    [
        (Figure("x", "m", 60_000, "datoms/s", ">= 50,000 datoms/s"), True),
        (Figure("x", "m", 120, "us", "< 100 us"), False),
        (Figure("x", "m", 2.5, "s", "under 3 s", target_value=3, higher_is_better=False), True),
        (Figure("x", "m", 2.5, "s", "fast enough"), None),
        (Figure("x", "m", 2.5, "s"), None),
    ],
)
def test_figure_knows_whether_it_met_its_target(figure: Figure, met: bool | None) -> None:
    assert figure.met is met


def _fake(name: str, value: float):
    def run(quick: bool = False) -> list[Figure]:
        return [Figure(name, f"{name} speed", value, "ops/s", ">= 10 ops/s", "a | note")]

    return SimpleNamespace(run=run, __doc__=f"The {name} benchmark.\n\nMore.")


def test_only_keeps_the_other_sections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = tmp_path / "README.md"
    monkeypatch.setattr(harness, "discover", lambda: {"alpha": _fake("alpha", 5), "beta": _fake("beta", 20)})
    assert harness.main(["--output", str(readme)]) == 0
    first = readme.read_text()
    assert "The alpha benchmark." in first and "| beta speed | 20.0 | ops/s | >= 10 ops/s | yes | a \\| note |" in first

    monkeypatch.setattr(harness, "discover", lambda: {"alpha": _fake("alpha", 50), "beta": _fake("beta", 1)})
    assert harness.main(["--only", "alpha", "--output", str(readme)]) == 0
    second = readme.read_text()
    assert "| alpha speed | 50.0 |" in second
    assert _render.sections(second)["beta"] == _render.sections(first)["beta"]
    last_run = next(line for line in second.splitlines() if line.startswith("Last run:"))
    assert "--only alpha" in last_run


def test_quick_leaves_the_readme_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "discover", lambda: {"alpha": _fake("alpha", 5)})
    monkeypatch.setattr(harness, "README", tmp_path / "README.md")
    assert harness.main(["--quick"]) == 0
    assert not (tmp_path / "README.md").exists()


def test_unknown_benchmark_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "discover", lambda: {"alpha": _fake("alpha", 5)})
    with pytest.raises(SystemExit) as exit:
        harness.main(["--only", "nope"])
    assert exit.value.code == 2


def test_numbers_read_well() -> None:
    assert [_render.number(v) for v in (71_021.4, 29.18, 2.345, 0.1934, 0)] == [
        "71,021", "29.2", "2.35", "0.193", "0",
    ]
