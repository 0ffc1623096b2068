"""Which older rows the post-change rows leave uncovered: a domain classifier, post-change against older.

After a detected change, the rows since the change are the truth where they are. Where the inputs
moved on (the traffic of one region after another's), the older rows are the only evidence about
the inputs the post-change rows do not reach, and nothing says the concept changed there. A
logistic regression separates the post-change rows from the older ones, with balanced class
weights so that a probability of 0.5 means "as dense in both"; an older row is *uncovered* where the
post-change rows are much rarer than the older ones around it (probability below ``threshold``:
0.1 is a density ratio of 1 to 9). When the inputs did not move (a change of concept alone), the
classifier cannot tell the two apart, every probability stays near 0.5 and no older row is kept.

Linear on the ranks of the numeric columns (quantiles) and on one-hot categories: a low-capacity
classifier, on purpose, so that it finds the broad regions the inputs moved between and not the
noise of a few hundred rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, QuantileTransformer

from driftloop.contract import ColumnKind, DataContract

UNCOVERED_BELOW = 0.1


def uncovered(
    contract: DataContract, post: pd.DataFrame, older: pd.DataFrame, *, threshold: float = UNCOVERED_BELOW
) -> np.ndarray:
    """Per older row, whether the post-change rows leave its region uncovered (none when the two
    share no input column: the quality report names missing columns, this only adds rows)."""
    columns = [name for name in contract.column_names if name in post.columns and name in older.columns]
    if not len(post) or not len(older) or not columns:
        return np.zeros(len(older), dtype=bool)
    rows = _inputs(contract, pd.concat([post[columns], older[columns]], ignore_index=True))
    is_post = np.r_[np.ones(len(post)), np.zeros(len(older))]
    classifier = make_pipeline(
        _encoder(contract, columns, len(rows)), LogisticRegression(C=1.0, class_weight="balanced", max_iter=500)
    )
    classifier.fit(rows, is_post)
    probability = classifier.predict_proba(rows.iloc[len(post) :])[:, 1]
    return np.asarray(probability < threshold)


def _inputs(contract: DataContract, rows: pd.DataFrame) -> pd.DataFrame:
    numeric = set(contract.columns_of(ColumnKind.NUMERIC))
    return pd.DataFrame(
        {
            name: pd.to_numeric(rows[name], errors="coerce").astype(np.float64)
            if name in numeric
            else rows[name].astype("string").fillna("<missing>").astype(str)
            for name in rows.columns
        }
    )


def _encoder(contract: DataContract, columns: list[str], rows: int) -> ColumnTransformer:
    numeric = [name for name in contract.columns_of(ColumnKind.NUMERIC) if name in columns]
    other = [name for name in columns if name not in numeric]
    quantiles = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("ranks", QuantileTransformer(n_quantiles=min(100, rows), output_distribution="uniform")),
        ]
    )
    categories = OneHotEncoder(handle_unknown="ignore", min_frequency=10, sparse_output=False)
    transformers = [("numeric", quantiles, numeric)] if numeric else []
    if other:
        transformers.append(("categorical", categories, other))
    return ColumnTransformer(transformers)
