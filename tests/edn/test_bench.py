"""bench/edn.py runs: a quick pass measures both codecs on every document."""

from __future__ import annotations

from bench.edn import PERFORMANCE, _table, run


def test_a_quick_run_measures_both_codecs() -> None:
    figures = run(quick=True)
    by_metric = {f.metric: f for f in figures}
    assert all(f.benchmark == "edn" and f.value > 0 for f in figures)
    for action in ("read", "write"):
        assert by_metric[f"{action} entity map (10 keys), jobstreamer"].unit == "ops/s"
        assert by_metric[f"{action} entity map (10 keys), edn_format"].unit == "ops/s"
        for path in PERFORMANCE.glob("*.edn"):
            assert by_metric[f"{action} {path.name}"].unit == "x edn_format"
        assert f"{action} all of performance/ (total time)" in by_metric
    # Far above 1 on any machine: edn_format rebuilds its parser on every call.
    assert by_metric["read entity map (10 keys)"].value > 2
    assert "read datom vector" in _table(figures)
