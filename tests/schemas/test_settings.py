from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from ingest.settings import IngestSettings
from schemas.core.settings import LOCAL_DATABASE_URL, LOCAL_MQTT_URL, Settings, get_settings
from sourcewatch.settings import AllSettings

ROOT = Path(__file__).resolve().parents[2]


def _subclasses(cls: type[BaseSettings]) -> set[type[BaseSettings]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_process_settings_class_is_part_of_all_settings() -> None:
    """So that the documentation test below sees every setting of every process."""
    for path in ROOT.glob("*/settings.py"):
        importlib.import_module(f"{path.parent.name}.settings")
    for cls in _subclasses(Settings) - {AllSettings}:
        assert issubclass(AllSettings, cls), cls
    for name in ("database_url", "batch_max_messages", "fault_after_hours", "api_port"):
        assert name in AllSettings.model_fields


def test_every_setting_is_documented_with_its_default() -> None:
    example = (ROOT / "deploy" / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    for name, field in AllSettings.model_fields.items():
        var = f"SOURCEWATCH_{name.upper()}"
        assert f"{var}={field.default}" in example, var
        assert f"`{var}`" in readme, var
        assert field.description, var


def test_settings_come_from_the_given_environment_only() -> None:
    s = IngestSettings.from_environ({"SOURCEWATCH_MQTT_URL": "mqtt://broker:1884", "OTHER": "x"})
    assert s.mqtt_url == "mqtt://broker:1884"
    assert s.batch_max_messages == IngestSettings.model_fields["batch_max_messages"].default


def test_bad_values_are_refused_with_the_setting_named() -> None:
    with pytest.raises(ValidationError, match="mqtt_receive_maximum"):
        IngestSettings.from_environ({"SOURCEWATCH_MQTT_RECEIVE_MAXIMUM": "0"})


def test_a_process_reads_only_its_own_settings() -> None:
    """A bad value of another process's setting does not stop this one."""
    environ = {"SOURCEWATCH_MQTT_RECEIVE_MAXIMUM": "0", "SOURCEWATCH_LOG_LEVEL": "DEBUG"}
    assert get_settings(environ).log_level == "DEBUG"
    with pytest.raises(ValidationError, match="mqtt_receive_maximum"):
        AllSettings.from_environ(environ)


@pytest.mark.parametrize("value", [None, "", "None"])
def test_database_and_broker_urls_may_be_unset(value: str | None) -> None:
    environ = {} if value is None else {"SOURCEWATCH_DATABASE_URL": value}
    environ |= {} if value is None else {"SOURCEWATCH_MQTT_URL": value}
    s = get_settings(environ)
    assert (s.database_url, s.mqtt_url) == (None, None)  # `sourcewatch up` starts its own
    assert (s.database, s.broker) == (LOCAL_DATABASE_URL, LOCAL_MQTT_URL)  # everyone else


def test_set_urls_are_used_as_given() -> None:
    s = get_settings(
        {"SOURCEWATCH_DATABASE_URL": "postgresql://db/x", "SOURCEWATCH_MQTT_URL": "mqtt://b:1"}
    )
    assert (s.database_url, s.database) == ("postgresql://db/x", "postgresql://db/x")
    assert (s.mqtt_url, s.broker) == ("mqtt://b:1", "mqtt://b:1")


def test_an_empty_value_is_kept_where_the_default_is_not_unset() -> None:
    s = AllSettings.from_environ({"SOURCEWATCH_SMTP_HOST": "", "SOURCEWATCH_MQTT_SHARED_GROUP": ""})
    assert (s.smtp_host, s.mqtt_shared_group) == ("", "")
