"""The YAML configuration: validated with errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftloop.contract import ColumnKind, Task
from driftloop.errors import ConfigError
from driftloop.train.config import TrainConfig, load_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(text)
    return path


def test_a_full_configuration_is_read(tmp_path: Path) -> None:
    config = load_config(
        _write(
            tmp_path,
            """
target: default
task: binary
drop: [customer_id]
kinds: {region: categorical, loan_term_months: categorical}
metric: log_loss
time-budget: 45
max_trials: 12
families: [hist_gradient_boosting, linear]
seed: 3
folds: 4
holdout_fraction: 0.25
parity_tolerance: 0.001
""",
        )
    )
    assert config.task is Task.BINARY
    assert config.kinds["region"] is ColumnKind.CATEGORICAL
    assert config.time_budget == 45
    assert config.families == ["hist_gradient_boosting", "linear"]
    assert config.metric_for(Task.BINARY) == "log_loss"


def test_no_file_and_an_empty_file_mean_the_defaults(tmp_path: Path) -> None:
    assert load_config(None) == TrainConfig()
    assert load_config(_write(tmp_path, "")) == TrainConfig()
    assert TrainConfig().metric_for(Task.REGRESSION) == "r2"
    assert TrainConfig().metric_for(Task.MULTICLASS) == "roc_auc"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("folds: 1", r"folds: Input should be greater than or equal to 2"),
        ("time_budget: -5", r"time_budget: Input should be greater than 0"),
        ("metric: accuracy_ish", r"metric: unknown metric 'accuracy_ish'"),
        ("families: [xgboost]", r"families: unknown families \['xgboost'\]"),
        ("kinds: {age: text}", r"kinds\.age: Input should be 'numeric', 'categorical' or 'boolean'"),
        ("budget: 10", r"budget: Extra inputs are not permitted"),
        ("task: clustering", r"task: Input should be 'binary', 'multiclass' or 'regression'"),
        ("- a list", r"must be a mapping of settings, not list"),
        ("target: [unclosed", r"is not valid YAML"),
    ],
)
def test_invalid_settings_are_named(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_config(_write(tmp_path, text))


def test_unreadable_configuration(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read configuration .*nope\.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_flags_override_the_file_and_are_validated(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, "seed: 1\ntime_budget: 30"))
    assert config.with_overrides(seed=5, time_budget=None).model_dump() == {**config.model_dump(), "seed": 5}
    with pytest.raises(ConfigError, match=r"command line\): max_trials"):
        config.with_overrides(max_trials=0)
