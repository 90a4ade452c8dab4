"""Config profiles: one YAML file per environment shipped in the package, chosen by AEGIS_ENV, layered
defaults < profile < config/*.yaml < environment < arguments."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from aegis.cli import app
from aegis.profiles import PROFILES, UnknownProfileError, profile_file
from aegis.settings import Settings

PG, REDIS = "postgresql://db.internal/aegis", "redis://cache.internal:6379/0"


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No AEGIS_* from the machine, no config/ folder: only what each test sets."""
    for name in [n for n in os.environ if n.startswith("AEGIS_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("name", PROFILES)
def test_each_profile_is_valid_settings_and_says_only_what_differs(name: str) -> None:
    written = yaml.safe_load(profile_file(name).read_text(encoding="utf-8"))
    settings = Settings(env=name, postgres_url=PG, redis_url=REDIS)
    assert settings.env == name
    dumped = settings.model_dump(mode="json")
    for key, value in written.items():
        assert key in Settings.model_fields, f"{name}.yaml: {key} is no setting"
        if not isinstance(value, dict):
            assert dumped[key] == (str(value) if key == "data_dir" else value), f"{name}.yaml: {key} not applied"
    embedded = Settings(postgres_url=PG, redis_url=REDIS).model_dump(mode="json")
    assert {k: v for k, v in dumped.items() if k != "env"} != {k: v for k, v in embedded.items() if k != "env"}


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_staging_and_prod_refuse_to_run_without_postgresql_and_redis(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(env=name)
    assert {error["loc"] for error in caught.value.errors()} == {("postgres_url",), ("redis_url",)}
    assert Settings(env=name, postgres_url=PG, redis_url=REDIS).services_required


def test_aegis_env_names_the_profile_and_no_aegis_env_means_the_embedded_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    embedded = Settings()
    assert embedded.env is None and not embedded.services_required
    monkeypatch.setenv("AEGIS_ENV", "")
    assert Settings() == embedded
    monkeypatch.setenv("AEGIS_ENV", "dev")
    assert Settings().env == "dev" and Settings().redis_prefix == "aegis-dev"
    assert Settings(env="test").redis_prefix == "aegis-test", "an explicit profile beats AEGIS_ENV"


def test_layers_profile_under_config_files_under_environment_under_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEGIS_ENV", "test")
    assert Settings().session_timeout_s == 60  # the profile over the default (180)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "site.yaml").write_text("session_timeout_s: 90\nbus_max_deliveries: 7\n")
    assert Settings().session_timeout_s == 90  # a config file over the profile
    assert Settings().bus_claim_idle_ms == 10_000  # what the file does not say still comes from the profile
    monkeypatch.setenv("AEGIS_SESSION_TIMEOUT_S", "120")
    assert Settings().session_timeout_s == 120  # the environment over the file
    assert Settings(session_timeout_s=150).session_timeout_s == 150  # an argument over everything
    assert Settings().llm.budgets.per_day_usd == 5.0 and Settings().llm.budgets.per_decision_usd == 0.1
    assert Settings().llm.retry.max_attempts == 3, "a nested profile value keeps the rest of its defaults"


def test_an_unknown_profile_is_one_line_naming_the_valid_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownProfileError, match="valid: dev, test, staging, prod"):
        profile_file("production")
    monkeypatch.setenv("AEGIS_ENV", "production")
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 2
    assert result.output == "aegis migrate: AEGIS_ENV='production' is not a profile; valid: dev, test, staging, prod\n"


def test_prod_without_its_servers_is_one_line_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEGIS_ENV", "prod")
    monkeypatch.setenv("AEGIS_REDIS_URL", "redis://cache.internal:6379/0")
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 2
    assert result.output == "aegis migrate: setting postgres_url: is required\n"
