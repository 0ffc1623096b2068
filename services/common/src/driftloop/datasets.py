"""Bundled sample data: a synthetic credit-default dataset, generated rather than shipped.

Seeded and deterministic. ``drift`` moves the world the way production data moves: ``"covariate"``
shifts incomes and changes who applies (the inputs move, the relationship stays);
``"concept"`` changes the relationship between inputs and default with the inputs unchanged, enough
that a model trained before the change loses clearly after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

Drift = Literal["none", "covariate", "concept"]

NUMERIC_COLUMNS = [
    "age",
    "income",
    "loan_amount",
    "loan_term_months",
    "interest_rate",
    "credit_score",
    "debt_to_income",
    "years_employed",
    "open_accounts",
    "delinquencies_2y",
    "utilization",
    "savings",
]
CATEGORICAL_COLUMNS = ["home_ownership", "purpose", "region", "employment_type"]
TARGET = "default"


def make_credit(n_rows: int = 10_000, *, seed: int = 0, drift: Drift = "none") -> dict[str, np.ndarray]:
    """Columns of a credit dataset (12 numeric with missing values, 4 categorical, binary target)."""
    rng = np.random.default_rng(seed)
    covariate = drift == "covariate"
    age = rng.normal(42, 12, n_rows).clip(18, 90).round()
    income = rng.lognormal(10.9 - (0.35 if covariate else 0.0), 0.5, n_rows).round(-2)
    loan_amount = (rng.lognormal(9.3, 0.7, n_rows) * (1.4 if covariate else 1.0)).round(-2)
    loan_term = rng.choice([12, 24, 36, 48, 60], n_rows, p=[0.1, 0.2, 0.35, 0.15, 0.2]).astype(float)
    credit_score = rng.normal(680 - (25 if covariate else 0), 60, n_rows).clip(300, 850).round()
    interest_rate = (22 - (credit_score - 300) / 40 + rng.normal(0, 1.5, n_rows)).clip(3, 30).round(2)
    debt_to_income = rng.beta(2, 5, n_rows).round(3)
    years_employed = rng.exponential(6, n_rows).clip(0, 45).round(1)
    open_accounts = rng.poisson(5, n_rows).astype(float)
    delinquencies = rng.poisson(0.4, n_rows).astype(float)
    utilization = rng.beta(2, 3, n_rows).round(3)
    savings = (rng.lognormal(8, 1.2, n_rows) * (rng.random(n_rows) > 0.15)).round(-1)

    home = rng.choice(["rent", "mortgage", "own", "other"], n_rows, p=[0.42, 0.38, 0.17, 0.03])
    purpose_p = [0.25, 0.15, 0.2, 0.1, 0.3] if not covariate else [0.1, 0.1, 0.15, 0.05, 0.6]
    purpose = rng.choice(["car", "education", "home_improvement", "medical", "debt_consolidation"], n_rows, p=purpose_p)
    region = rng.choice(["north", "south", "east", "west", "central"], n_rows)
    employment = rng.choice(["salaried", "self_employed", "contract", "unemployed"], n_rows, p=[0.6, 0.2, 0.15, 0.05])

    logit = (
        -1.2
        - 0.012 * (credit_score - 680)
        + 2.2 * (debt_to_income - 0.28)
        + 0.55 * np.log1p(loan_amount / np.maximum(income, 1) * 10)
        + 0.45 * delinquencies
        + 1.1 * (utilization - 0.4)
        - 0.03 * np.minimum(years_employed, 20)
        - 0.08 * np.log1p(savings)
        + 0.02 * (interest_rate - 10)
        + np.select([home == "rent", home == "own"], [0.25, -0.3], 0.0)
        + np.select([purpose == "debt_consolidation", purpose == "education"], [0.3, -0.2], 0.0)
        + np.select([employment == "unemployed", employment == "self_employed"], [1.0, 0.25], 0.0)
        + 0.35 * np.sin(age / 8.0)
    )
    if drift == "concept":
        # The old signals invert (e.g. a new product sold to a new kind of borrower): a high credit
        # score and high utilisation now go with default, and debt-to-income matters three times as
        # much. The credit score dominates the old relationship, so a model trained before the
        # shift ranks borrowers clearly worse after it (ROC AUC about 0.73 -> 0.5), while one
        # retrained on post-shift data recovers (about 0.75 on a few thousand rows).
        logit = (
            logit
            + 0.024 * (credit_score - 680)
            - 2.2 * (utilization - 0.4)
            + 4.4 * (debt_to_income - 0.28)
            - 0.04 * (interest_rate - 10)
        )
    default = rng.random(n_rows) < 1 / (1 + np.exp(-logit))

    columns: dict[str, np.ndarray] = {
        "age": age,
        "income": income,
        "loan_amount": loan_amount,
        "loan_term_months": loan_term,
        "interest_rate": interest_rate,
        "credit_score": credit_score,
        "debt_to_income": debt_to_income,
        "years_employed": years_employed,
        "open_accounts": open_accounts,
        "delinquencies_2y": delinquencies,
        "utilization": utilization,
        "savings": savings,
    }
    for name, rate in [("income", 0.04), ("years_employed", 0.06), ("savings", 0.05), ("credit_score", 0.02)]:
        values = columns[name].astype(float)
        values[rng.random(n_rows) < rate] = np.nan
        columns[name] = values
    employment_text = employment.astype(object)
    employment_text[rng.random(n_rows) < 0.03] = None
    columns.update(
        {
            "home_ownership": home.astype(object),
            "purpose": purpose.astype(object),
            "region": region.astype(object),
            "employment_type": employment_text,
        }
    )
    columns[TARGET] = default.astype(np.int64)
    return columns


def write_credit_csv(path: Path | str, n_rows: int = 10_000, *, seed: int = 0, drift: Drift = "none") -> Path:
    """Write ``make_credit`` as a CSV file (the demo's and the benchmarks' input)."""
    import pandas as pd  # the training extra; the base package does not need pandas

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(make_credit(n_rows, seed=seed, drift=drift)).to_csv(path, index=False)
    return path
