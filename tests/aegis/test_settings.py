"""Settings layers: defaults < config/*.yaml < AEGIS_* environment < arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from aegis import Settings


def test_defaults_are_the_embedded_ones() -> None:
    settings = Settings()
    assert settings.mode == "paper"
    assert {r.provider for r in settings.deliberation.roles.values()} == {"rules"}
    assert settings.deliberation.roles["analyst"].budget.fail_s == 5.0
    assert settings.deliberation.roles["validator"].budget.fail_s == 4.0


def test_layers_override_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "base.yaml").write_text(
        "starting_cash: 50000\ndeliberation:\n  validation_mode: sequential\n  min_confidence: 0.7\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AEGIS_DELIBERATION__MIN_CONFIDENCE", "0.8")
    monkeypatch.setenv("AEGIS_COSTS__FEE_BPS", "2")
    settings = Settings()
    assert settings.starting_cash == 50_000  # from the YAML file
    assert settings.deliberation.validation_mode == "sequential"  # from the YAML file
    assert settings.deliberation.min_confidence == 0.8  # the environment beats the file
    assert settings.costs.fee_bps == 2.0
    assert Settings(starting_cash=1).starting_cash == 1  # arguments beat everything


def test_a_named_config_file_that_is_missing_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEGIS_CONFIG", "nowhere.yaml")
    with pytest.raises(FileNotFoundError, match=r"nowhere\.yaml"):
        Settings()


def test_bad_values_are_refused_naming_the_setting() -> None:
    with pytest.raises(ValidationError, match="starting_cash"):
        Settings(starting_cash=-5)
    with pytest.raises(ValidationError, match="target <= warn <= fail"):
        Settings.model_validate({"deliberation": {"roles": {"analyst": {"target_s": 3, "warn_s": 2, "fail_s": 1}}}})


def test_a_partial_role_setting_keeps_the_rest_of_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEGIS_DELIBERATION__ROLES__ANALYST__MODEL", "deepseek-chat-2")
    roles = Settings().deliberation.roles
    assert roles["analyst"].model == "deepseek-chat-2"
    assert roles["analyst"].provider == "rules" and roles["analyst"].fail_s == 5.0
    assert roles["validator"].model == "deepseek-reasoner"
