"""Settings come from defaults, then the config file, then the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from facefleet.celery_app import celery_config
from facefleet.settings import Settings, SettingsError, load_settings

NO_FILE = Path("/nonexistent")


def test_defaults_without_file_or_environment() -> None:
    assert load_settings(environ={}, config_path=NO_FILE) == Settings()


def test_file_then_environment_precedence(tmp_path: Path) -> None:
    config = tmp_path / "facefleet.toml"
    config.write_text('redis_url = "redis://:pw@10.0.0.5:6379/0"\ntolerance = 0.5\nupsample = 0\n')
    settings = load_settings(
        environ={"FACEFLEET_CONFIG": str(config), "FACEFLEET_TOLERANCE": "0.55"}
    )
    assert settings.redis_url == "redis://:pw@10.0.0.5:6379/0"
    assert settings.upsample == 0
    assert settings.tolerance == 0.55


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FACEFLEET_DETECTOR": "sift"}, "detector"),
        ({"FACEFLEET_VISIBILITY_TIMEOUT": "100"}, "visibility_timeout"),
        ({"FACEFLEET_UPSAMPLE": "lots"}, "cannot read"),
    ],
)
def test_bad_values_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(environ=env, config_path=NO_FILE)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "facefleet.toml"
    config.write_text("tolerence = 0.5\n")
    with pytest.raises(SettingsError, match="unknown setting 'tolerence'"):
        load_settings(environ={}, config_path=config)


def test_reliability_settings_reach_celery() -> None:
    config = celery_config(Settings())
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["worker_prefetch_multiplier"] == 1
    visibility = config["broker_transport_options"]["visibility_timeout"]  # type: ignore[index]
    assert visibility > config["task_time_limit"] > config["task_soft_time_limit"]
