"""Runs inside bench/.venv-flaml (started by bench/train_sweep.py): FLAML on a given split.

Reads train.parquet / holdout.parquet and a JSON job from a directory, fits FLAML's AutoML with
its default estimators (LightGBM and XGBoost included) under the same time budget, and writes
the holdout score of its best model to result.json. Kept free of driftloop imports: this
virtualenv does not have it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from flaml import AutoML
from sklearn.metrics import r2_score, roc_auc_score


def main(directory: Path) -> None:
    job = json.loads((directory / "job.json").read_text())
    train = pd.read_parquet(directory / "train.parquet")
    holdout = pd.read_parquet(directory / "holdout.parquet")
    target = job["target"]
    for frame in (train, holdout):
        for column in job["categorical"]:
            frame[column] = frame[column].astype("category")
    x_train, y_train = train.drop(columns=[target]), train[target]
    x_holdout, y_holdout = holdout.drop(columns=[target]), holdout[target]
    automl = AutoML()
    began = time.monotonic()
    automl.fit(
        x_train,
        y_train,
        task="classification" if job["task"] != "regression" else "regression",
        metric="roc_auc" if job["task"] == "binary" else ("roc_auc_ovr" if job["task"] == "multiclass" else "r2"),
        time_budget=job["time_budget"],
        seed=job["seed"],
        n_jobs=job["n_jobs"],
        verbose=0,
    )
    seconds = time.monotonic() - began
    if job["task"] == "regression":
        score = r2_score(y_holdout, automl.predict(x_holdout))
    else:
        probabilities = automl.predict_proba(x_holdout)
        if job["task"] == "binary":
            score = roc_auc_score(y_holdout, probabilities[:, 1])
        else:
            score = roc_auc_score(y_holdout, probabilities, multi_class="ovr", average="macro")
    result = {
        "score": float(score),
        "seconds": seconds,
        "best_estimator": automl.best_estimator,
        "best_config": {k: (v.item() if isinstance(v, np.generic) else v) for k, v in automl.best_config.items()},
    }
    (directory / "result.json").write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
