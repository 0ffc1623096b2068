"""The warning about ``DRIFTLOOP_*`` variables that no setting reads, and invalid settings as one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from driftloop import settings_catalogue
from driftloop.cli.main import app
from driftloop.errors import ConfigError
from driftloop.settings import ServiceSettings, known_setting_names, load_settings, setting_names, unknown_variables
from driftloop_features.settings import FeaturesSettings
from driftloop_scoring.settings import ScoringSettings


class Inner(BaseModel):
    depth: int = 1


class Group(BaseModel):
    url: str = ""
    inner: Inner = Field(default_factory=Inner)
    sources: dict[str, Path] = Field(default_factory=dict)
    maybe: Inner | None = None


class Example(ServiceSettings):
    group: Group = Field(default_factory=Group)


def test_names_come_from_the_model_with_nested_groups() -> None:
    names = setting_names(Example)
    for name in ("DRIFTLOOP_PORT", "DRIFTLOOP_REGISTRY", "DRIFTLOOP_REGISTRY__PATH", "DRIFTLOOP_LOG__JSON_LOGS",
                 "DRIFTLOOP_GROUP__URL", "DRIFTLOOP_GROUP__INNER__DEPTH", "DRIFTLOOP_GROUP__MAYBE__DEPTH"):  # fmt: skip
        assert name in names
    assert "DRIFTLOOP_GROUP__SOURCES__CREDIT" in names  # a mapping takes any key
    assert "DRIFTLOOP_GROUP__INNER__WIDTH" not in names
    assert "DRIFTLOOP_REGISTRY_PATH" not in names


def test_a_typo_is_warned_about_with_the_name_it_was_meant_to_be() -> None:
    environ = {
        "DRIFTLOOP_REGISTRY_PATH": "/models",
        "DRIFTLOOP_REGISTRY__PATH": "/models",
        "driftloop_port": "1",  # pydantic-settings ignores case, so does the check
        "DRIFTLOOP_NOTHING_LIKE_IT": "x",
        "PATH": "/bin",
    }
    warnings = unknown_variables(known_setting_names(ScoringSettings), environ)
    assert warnings == [
        "DRIFTLOOP_NOTHING_LIKE_IT is set but no driftloop setting reads it",
        "DRIFTLOOP_REGISTRY_PATH is set but no driftloop setting reads it; did you mean DRIFTLOOP_REGISTRY__PATH?",
    ]


def test_a_setting_of_another_service_is_known_to_every_service() -> None:
    # The chart's ConfigMap gives every pod the forwarder's webhook URL and scoring's bus settings.
    shared = {"DRIFTLOOP_WEBHOOK__URL": "http://c/v1/retrain", "DRIFTLOOP_BUS__SPILL_PATH": "/spill",
              "DRIFTLOOP_AUTH__PROTECT_METRICS": "false", "DRIFTLOOP_FEATURES__URL": "http://f"}  # fmt: skip
    assert "DRIFTLOOP_WEBHOOK__URL" not in setting_names(FeaturesSettings)
    assert unknown_variables(known_setting_names(FeaturesSettings), shared) == []
    assert unknown_variables(known_setting_names(ServiceSettings), shared) == []


def test_the_catalogue_matches_the_services_settings() -> None:
    current = settings_catalogue.from_models()
    assert current == settings_catalogue.KNOWN, (
        "a service's settings changed: run `python -m driftloop.settings_catalogue` to regenerate "
        "services/common/src/driftloop/settings_catalogue.py"
    )
    source = Path(settings_catalogue.__file__).read_text()
    assert settings_catalogue.render(current) == source


def test_an_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_PORT", "eighty")
    monkeypatch.setenv("DRIFTLOOP_LIMITS__MAX_RECORDS", "0")
    with pytest.raises(ConfigError) as raised:
        load_settings(ScoringSettings)
    assert "DRIFTLOOP_PORT: Input should be a valid integer" in raised.value.message
    assert "DRIFTLOOP_LIMITS__MAX_RECORDS: Input should be greater than or equal to 1" in raised.value.message


def test_every_command_that_reads_settings_warns(runner: CliRunner, tmp_path: Path) -> None:
    env = {"DRIFTLOOP_REGISTRY_PATH": str(tmp_path), "DRIFTLOOP_REGISTRY__PATH": str(tmp_path / "registry")}
    result = runner.invoke(app, ["registry", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "warning: DRIFTLOOP_REGISTRY_PATH is set but no driftloop setting reads it; "
        "did you mean DRIFTLOOP_REGISTRY__PATH?"
    ]
    assert result.stdout.startswith("{")  # the warning stays off stdout, so pipes still parse it
    assert runner.invoke(app, ["version"], env=env).stderr == ""  # reads no settings


def test_an_invalid_setting_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["registry", "list"], env={"DRIFTLOOP_REGISTRY__PATH": "", "DRIFTLOOP_LOG": "{"})
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: invalid setting: DRIFTLOOP_LOG")
