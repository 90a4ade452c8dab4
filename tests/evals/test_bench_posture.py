"""The posture benchmark runs on the embedded stores and reports every part it times."""

from __future__ import annotations

import pytest

from evals.bench_posture import main


def test_the_posture_benchmark_prints_each_part_beside_the_floor(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--steps", "20"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0] for line in lines] == [
        "floor: one durable value read",
        "time_passed (each feed step)",
        "vix_seen, not due",
        "an evaluation (every 30 min)",
    ]
    assert all(float(line.split()[-2]) > 0 for line in lines)
