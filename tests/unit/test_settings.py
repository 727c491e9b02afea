"""Settings come from SENAE_* variables; bad values give one line naming the variable."""

import pytest

from senae_tracking.shared.settings import Settings, SettingsError, load_settings


def test_defaults_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENAE_KAFKA_BOOTSTRAP", "k1:9092, k2:9093")
    monkeypatch.setenv("SENAE_INGEST_API_KEYS", "secret,sha256:ABCDEF")
    settings = load_settings()
    assert settings.bootstrap_servers == ["k1:9092", "k2:9093"]
    assert "abcdef" in settings.ingest_key_hashes and len(settings.ingest_key_hashes) == 2
    assert "secret" not in settings.ingest_key_hashes


@pytest.mark.parametrize("var, value, needle", [
    ("SENAE_KAFKA_BOOTSTRAP", "localhost", "SENAE_KAFKA_BOOTSTRAP: must be host:port"),
    ("SENAE_DATABASE_URL", "mysql://x", "SENAE_DATABASE_URL: must be a SQLAlchemy URL"),
    ("SENAE_INGEST_PORT", "99999", "SENAE_INGEST_PORT"),
    ("SENAE_SMTP_URL", "mail.example:25", "SENAE_SMTP_URL: must start with smtp://"),
    ("SENAE_KAFKA_PROFILE", "fast", "SENAE_KAFKA_PROFILE"),
])
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, var: str, value: str,
                                      needle: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_require_names_missing_variable() -> None:
    with pytest.raises(SettingsError, match="SENAE_INGEST_API_KEYS is required"):
        Settings().require("ingest_api_keys")
