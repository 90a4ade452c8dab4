"""`python -m evals.bench_quant` with small numbers: its tables and targets still come out (no timing asserted)."""

from __future__ import annotations

import pytest

from evals.bench_quant.__main__ import INDICATOR_BOUNDS, main


def test_the_quant_benchmark_prints_every_target_with_its_bound(capsys: pytest.CaptureFixture[str]) -> None:
    checks = main(quick=True, n_bars=5_000)

    printed = capsys.readouterr().out
    labels = [label for label, _, _ in checks]
    assert len(checks) == 2 + len(INDICATOR_BOUNDS)
    assert any(label.startswith("atr_14 within 3x of TA-Lib") for label in labels)
    assert sum("within 2x of TA-Lib" in label for label in labels) == 3
    assert all(value > 0 for _, value, _ in checks)
    assert "indicators on 5,000 bars vs TA-Lib" in printed
    for label, _, met in checks:
        assert f"{'met    ' if met else 'MISSED '} {label}" in printed
