"""Data and settings shared by the training tests (imported by name: pytest puts this folder on the path)."""

from __future__ import annotations

import pandas as pd

from driftloop.datasets import make_credit
from driftloop.train.config import FAMILY_NAMES, TrainConfig

# One trial per family: every family is fitted, cross-validated and can reach the parity gate.
SMALL = TrainConfig(max_trials=len(FAMILY_NAMES), time_budget=120, folds=3, seed=7)


def credit_frame(n_rows: int = 1500, seed: int = 0) -> pd.DataFrame:
    return pd.DataFrame(make_credit(n_rows, seed=seed))
