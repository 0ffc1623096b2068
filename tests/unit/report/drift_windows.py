"""Drift window rows for the rollup tests (unit, and on PostgreSQL): what ``metric_rows`` gives the store.

Windows of 20 s over 7 hours: PSI, verdict score and a KS statistic for three features and the
predictions, with NULL scores and verdicts, a window row the charts skip, and the performance rows
(accuracy, charted; the labelled count, not).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

START = datetime(2026, 1, 5, 12, 0, 7, tzinfo=UTC)
WINDOW_S = 20
HOURS = 7


def window_rows(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for index in range(HOURS * 3600 // WINDOW_S):
        end = START + timedelta(seconds=(index + 1) * WINDOW_S)
        common = {
            "model": "credit",
            "version": 1 if index < 600 else 2,
            "window_index": index,
            "window_start": end - timedelta(seconds=WINDOW_S),
            "window_end": end,
            "n": 1000,
            "label_coverage": 0.1,
        }
        for column in ("age", "income", "city", "__predictions__"):
            score = None if rng.random() < 0.05 else rng.random()  # NULL: no data in the window
            verdict = None if score is None else score < 0.05
            rows.append({**common, "column_name": column, "statistic": "psi", "value": rng.random() * 0.3})
            rows.append({**common, "column_name": column, "statistic": "drift_score", "value": score})
            rows[-1].update(threshold=0.05, drifted=verdict)
            rows.append({**common, "column_name": column, "statistic": "ks", "value": rng.random()})
        rows.append({**common, "column_name": "", "statistic": "rows", "value": 1000.0})
        accuracy = 0.7 + 0.2 * rng.random()
        rows.append({**common, "column_name": "__performance__", "statistic": "accuracy", "value": accuracy})
        rows.append({**common, "column_name": "__performance__", "statistic": "labelled", "value": 100.0})
    for row in rows:
        row.setdefault("threshold", None)
        row.setdefault("drifted", None)
    return rows


def close(a: Any, b: Any) -> bool:
    """Equal, but for the 4th significant digit of means summed in another order."""
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=2e-3)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    return bool(a == b)
