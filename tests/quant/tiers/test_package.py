"""The tiers package: one import surface, the price-mismatch tiers reused rather than rewritten, and purity
(no project imports outside ``quant``, no clock, no printing)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import quant.data_quality
import quant.tiers

PACKAGE = Path(quant.tiers.__file__).parent
ALLOWED_ROOTS = {"numpy", "scipy", "quant"} | set(sys.stdlib_module_names)
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "time_ns", "monotonic_ns"}


def test_every_public_name_is_exported() -> None:
    for name in quant.tiers.__all__:
        assert hasattr(quant.tiers, name), name


def test_the_price_mismatch_tiers_are_the_data_quality_ones() -> None:
    assert quant.tiers.MismatchTier is quant.data_quality.MismatchTier
    assert quant.tiers.MismatchThresholds is quant.data_quality.MismatchThresholds
    assert quant.tiers.classify_mismatch is quant.data_quality.classify_mismatch


def test_the_package_imports_nothing_outside_quant_numpy_scipy_and_the_standard_library() -> None:
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= ALLOWED_ROOTS, f"{path.name} imports {roots - ALLOWED_ROOTS}"


def test_the_package_never_reads_the_clock_nor_prints() -> None:
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                assert name not in CLOCK_CALLS | {"print", "open"}, f"{path.name}:{node.lineno} calls {name}"
