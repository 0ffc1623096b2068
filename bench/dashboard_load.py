"""How long the dashboard takes over a big store: N days of traffic at R requests/s (default: a week at 100/s).

Fills a SQLite store (the embedded default) with SQL bulk inserts (a recursive CTE: one row per
request, 10 % of them labelled, drift windows of 1000 records with 17 columns, the window's own row
and its ROC AUC and accuracy; the last window's records are real credit records, for the
per-column view), rolls the rows up
in SQL into traffic_minutes (per minute, with the labelled pairs) and drift_slots (per 5 minutes):
what write_batch and write_window do as they store them. Registers a tiny real model so that the
registry has the versions, then measures:
- each JSON endpoint behind the page (median of --repeat calls, in process, over the full range),
- the page in headless Chromium: from navigation to every chart drawn (``data-state=ready``).
--check first compares every chart read from the rollups with the same chart from the raw rows.
Prints figures; asserts nothing. Run: .venv/bin/python bench/dashboard_load.py [--days 7 --rate 100].
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from driftloop.registry import CHAMPION, Registry
from driftloop.report import CHARTS, ReportData
from driftloop.store import make_engine, upgrade
from driftloop.store.drift_rollup import SLOT_SECONDS
from driftloop.store.settings import StoreSettings

COLUMNS = [f"col_{i:02d}" for i in range(16)] + ["__predictions__"]
PERFORMANCE_ROWS = (("__performance__", "roc_auc", 0.6, 0.2), ("__performance__", "accuracy", 0.7, 0.1))


def real_records(c: object, requests: int) -> None:
    """The last window's records as real credit records: the per-column view reads and bins them."""
    import orjson
    import pandas as pd

    from driftloop.datasets import TARGET, make_credit

    frame = pd.DataFrame(make_credit(1000, seed=9)).drop(columns=[TARGET])
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    c.execute(  # type: ignore[attr-defined]
        text("UPDATE predictions SET record = :record WHERE event_id = :id"),
        [{"record": orjson.dumps(r).decode(), "id": f"e{requests - 1 - i}"} for i, r in enumerate(records)],
    )


def fill(engine: object, days: float, rate: float, start: datetime) -> dict[str, int]:
    requests = int(days * 86400 * rate)
    epoch = start.timestamp()
    half = requests // 2
    # Times in SQLAlchemy's SQLite format (6 fractional digits), as write_batch stores them: the
    # store compares times as text, so a shorter format would sort a row before its own minute.
    with engine.begin() as c:  # type: ignore[attr-defined]
        c.execute(text("PRAGMA synchronous=OFF"))
        c.execute(
            text(
                """
            WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < :n - 1)
            INSERT INTO predictions (event_id, record_index, model, version, request_id, time, source, record,
                                     prediction, probabilities, latency_ms, unseen, stored_at)
            SELECT 'e' || i, 0, 'credit', CASE WHEN i < :half THEN 1 ELSE 2 END, 'r' || i,
                   strftime('%Y-%m-%d %H:%M:%f', :epoch + i / :rate, 'unixepoch') || '000', 'bench', '{}',
                   CASE WHEN abs(random()) % 4 = 0 THEN '1' ELSE '0' END, NULL,
                   0.3 + (abs(random()) % 2000) / 1000.0, NULL,
                   strftime('%Y-%m-%d %H:%M:%f', :epoch + i / :rate, 'unixepoch') || '000'
            FROM seq
            """
            ),
            {"n": requests, "half": half, "epoch": epoch, "rate": rate},
        )
        c.execute(
            text(
                """
            INSERT INTO feedback (event_id, model, request_id, record_index, actual, known_request, time, source,
                                  stored_at)
            SELECT 'f' || substr(event_id, 2), model, request_id, NULL,
                   CASE WHEN abs(random()) % 5 = 0 THEN '1' ELSE prediction END, 1, time, 'bench', time
            FROM predictions WHERE model = 'credit' AND abs(random()) % 10 = 0
            """
            )
        )
        windows = requests // 1000
        for column in COLUMNS:
            for statistic, scale in (("psi", 0.3), ("drift_score", 1.0)):
                c.execute(
                    text(
                        """
                    WITH RECURSIVE seq(w) AS (SELECT 0 UNION ALL SELECT w + 1 FROM seq WHERE w < :windows - 1)
                    INSERT INTO drift_metrics (model, version, window_index, window_start, window_end, column_name,
                                               statistic, value, threshold, drifted, n, label_coverage)
                    SELECT 'credit', CASE WHEN w < :windows / 2 THEN 1 ELSE 2 END, w,
                           strftime('%Y-%m-%d %H:%M:%f', :epoch + w * 1000 / :rate, 'unixepoch') || '000',
                           strftime('%Y-%m-%d %H:%M:%f', :epoch + (w + 1) * 1000 / :rate, 'unixepoch') || '000',
                           :column, :statistic, (abs(random()) % 1000) / 1000.0 * :scale, 0.1,
                           abs(random()) % 20 = 0, 1000, 0.1
                    FROM seq
                    """
                    ),
                    {
                        "windows": windows,
                        "epoch": epoch,
                        "rate": rate,
                        "column": column,
                        "statistic": statistic,
                        "scale": scale,
                    },
                )
        # Each window's own row (drift_share) and the task metrics of its labelled records.
        for column, statistic, low, spread in (("", "drift_share", 0.0, 0.5), *PERFORMANCE_ROWS):
            c.execute(
                text(
                    """
                WITH RECURSIVE seq(w) AS (SELECT 0 UNION ALL SELECT w + 1 FROM seq WHERE w < :windows - 1)
                INSERT INTO drift_metrics (model, version, window_index, window_start, window_end, column_name,
                                           statistic, value, threshold, drifted, n, label_coverage)
                SELECT 'credit', CASE WHEN w < :windows / 2 THEN 1 ELSE 2 END, w,
                       strftime('%Y-%m-%d %H:%M:%f', :epoch + w * 1000 / :rate, 'unixepoch') || '000',
                       strftime('%Y-%m-%d %H:%M:%f', :epoch + (w + 1) * 1000 / :rate, 'unixepoch') || '000',
                       :column, :statistic, :low + (abs(random()) % 1000) / 1000.0 * :spread, NULL, NULL, 1000, 0.1
                FROM seq
                """
                ),
                {"windows": windows, "epoch": epoch, "rate": rate, "column": column, "statistic": statistic}
                | {"low": low, "spread": spread},
            )
        real_records(c, requests)
        roll_up(c)
        counts = {
            t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("predictions", "feedback", "drift_metrics", "traffic_minutes", "drift_slots")
        }
    return counts


def roll_up(c: object) -> None:
    """Fill the rollups from the generated rows in SQL, as write_batch and write_window would have.

    traffic_minutes (store/rollup.py): same minute format as SQLAlchemy's SQLite DateTime, same
    latency bins (floor(ln(ms + 0.001) * 20 + 0.5)), labels keyed by their JSON text; the bench's
    predictions are the numbers 0 / 1, so they also sum; the labelled pairs of the
    labelled_predictions join per minute of the prediction (store/labels.py). drift_slots
    (store/drift_rollup.py): the charted rows' sums per 5-minute slot of the window end, the
    windows' task metrics included.
    """
    minute = "strftime('%Y-%m-%d %H:%M:00.000000', time)"
    statements = [
        f"""CREATE TEMP TABLE lat AS SELECT model, version, {minute} AS minute,
                   CAST(floor(ln(latency_ms + 0.001) * 20 + 0.5) AS INTEGER) AS bin, count(*) AS n
            FROM predictions WHERE record_index = 0 GROUP BY 1, 2, 3, 4""",
        f"""CREATE TEMP TABLE lab AS SELECT model, version, {minute} AS minute, prediction AS label, count(*) AS n,
                   sum(CAST(prediction AS REAL)) AS total
            FROM predictions GROUP BY 1, 2, 3, 4""",
        """CREATE TEMP TABLE lat_json AS SELECT model, version, minute, sum(n) AS requests,
                   json_group_object(bin, n) AS bins FROM lat GROUP BY 1, 2, 3""",
        """CREATE TEMP TABLE lab_json AS SELECT model, version, minute, sum(n) AS records, sum(total) AS value_sum,
                   json_group_object(label, n) AS labels FROM lab GROUP BY 1, 2, 3""",
        """INSERT INTO traffic_minutes (model, version, minute, requests, records, rejected, latency_bins,
                                        label_counts, value_sum, value_count)
           SELECT b.model, b.version, b.minute, coalesce(t.requests, 0), b.records, 0, coalesce(t.bins, '{}'),
                  b.labels, b.value_sum, b.records
           FROM lab_json b LEFT JOIN lat_json t USING (model, version, minute)""",
        # Each label looks up its predictions by request id (CROSS JOIN fixes the order in SQLite);
        # left to itself, the planner without statistics scans predictions and feedback by model.
        """CREATE TEMP TABLE pairs AS SELECT p.model, p.version, strftime('%Y-%m-%d %H:%M:00.000000', p.time) AS minute,
                   count(*) AS n, sum(p.prediction = f.actual) AS correct,
                   sum(abs(CAST(p.prediction AS REAL) - CAST(f.actual AS REAL))) AS error_sum
            FROM feedback f CROSS JOIN predictions p INDEXED BY ix_predictions_request_id
                 ON p.request_id = f.request_id AND p.model = f.model
                 AND (f.record_index IS NULL OR f.record_index = p.record_index)
            GROUP BY 1, 2, 3""",
        """UPDATE traffic_minutes SET labelled = pairs.n, correct = pairs.correct, error_sum = pairs.error_sum
           FROM pairs WHERE traffic_minutes.model = pairs.model AND traffic_minutes.version = pairs.version
                AND traffic_minutes.minute = pairs.minute""",
        f"""INSERT INTO drift_slots (model, slot, column_name, statistic, windows, value_sum, value_count,
                                     threshold_sum, threshold_count, drifted, verdicts)
           SELECT model, strftime('%Y-%m-%d %H:%M:%S.000000',
                                  CAST(strftime('%s', window_end) AS INTEGER) / {SLOT_SECONDS} * {SLOT_SECONDS},
                                  'unixepoch'),
                  column_name, statistic, count(*), coalesce(sum(value), 0), count(value),
                  coalesce(sum(threshold), 0), count(threshold), coalesce(sum(drifted), 0), count(drifted)
           FROM drift_metrics
           WHERE (statistic IN ('psi', 'drift_score') AND column_name != ''
                  AND (substr(column_name, 1, 2) != '__' OR column_name = '__predictions__'))
              OR (column_name = '__performance__' AND statistic IN ('roc_auc', 'accuracy', 'f1', 'rmse', 'mae'))
           GROUP BY 1, 2, 3, 4""",
    ]
    for statement in statements:
        c.execute(text(statement))  # type: ignore[attr-defined]


def tiny_registry(root: Path, promoted_at: datetime) -> Registry:
    """credit@1 and @2 (a real one-feature ONNX model each), v2 promoted half-way through the range."""
    import pandas as pd

    from driftloop.datasets import make_credit
    from driftloop.train.config import TrainConfig
    from driftloop.train.run import train_model

    registry = Registry(root)
    config = TrainConfig(target="default", time_budget=3, max_trials=1, families=["linear"], seed=0)
    frame = pd.DataFrame(make_credit(400, seed=0))
    train_model(frame, config=config, name="credit", registry=registry)
    train_model(frame, config=config, name="credit", registry=registry)
    registry.set_alias("credit", CHAMPION, 2, reason="bench promotion")
    # The history's time is when set_alias ran; move it into the generated range.
    history = root / "credit" / "history.jsonl"
    lines = history.read_text().splitlines()
    lines[-1] = lines[-1].replace(lines[-1].split('"time":')[1].split(",")[0].rstrip("}"), str(promoted_at.timestamp()))
    history.write_text("\n".join(lines) + "\n")
    return registry


def check_rollups(data: ReportData) -> None:
    """Print whether each chart read from the rollups equals the same chart from the raw rows (--check)."""
    from driftloop.report import drift, performance, traffic

    rng = data.time_range("credit", None, None)
    charts = ("volume", "latency", "predictions", "performance", "drift")
    rolled = {chart: data.chart(chart, "credit", rng) for chart in charts}
    switches = [(traffic, "uses_rollup"), (performance, "uses_rollup"), (drift, "uses_slots")]
    saved = [getattr(module, name) for module, name in switches]
    try:
        for module, name in switches:
            setattr(module, name, lambda _: False)
        raw = {chart: data.chart(chart, "credit", rng) for chart in charts}
    finally:
        for (module, name), original in zip(switches, saved, strict=True):
            setattr(module, name, original)
    for chart in charts:
        verdict = "equal" if _same(rolled[chart], raw[chart]) else "DIFFERENT"
        print(f"  {chart:<12} from the rollups vs from the raw rows, {rng.step} s buckets: {verdict}")


def _same(a: object, b: object) -> bool:
    # Means summed in another order may differ in their last rounded digit.
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 2e-3 * max(abs(a), abs(b), 1e-9) + 1e-4
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def time_endpoints(data: ReportData, repeat: int) -> dict[str, float]:
    figures = {}
    for chart in CHARTS:
        samples = []
        for _ in range(repeat):
            began = time.perf_counter()
            rng = data.time_range("credit", None, None)
            data.chart(chart, "credit", rng)
            samples.append(time.perf_counter() - began)
        figures[chart] = statistics.median(samples)
    return figures


def time_page(store_url: str, registry: Path, repeat: int) -> list[float]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration" / "dashboard"))
    from browser import chromium, wait_rendered
    from dashboard_loop import service
    from integration_servers import free_port

    port = free_port()
    env = {
        "DRIFTLOOP_REGISTRY__PATH": str(registry),
        "DRIFTLOOP_STORE__URL": store_url,
        "DRIFTLOOP_LOG__LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    samples = []
    workdir = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    try:
        app = "driftloop_controller.app:create_app"
        with (
            service([*command, app], env, f"{url}/healthz", workdir / "c.log"),
            chromium(workdir / "profile") as driver,
        ):
            driver.set_page_load_timeout(600)
            for _ in range(repeat + 1):  # the first load also warms the browser cache with plotly.min.js
                began = time.perf_counter()
                driver.get(f"{url}/dashboard/models/credit")
                wait_rendered(driver, within_s=600)
                samples.append(time.perf_counter() - began)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return samples[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the store here (default: a temp dir)")
    parser.add_argument("--check", action="store_true", help="compare every chart from the rollups with the raw rows")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dashboard-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    store_url = f"sqlite:///{workdir / 'store.db'}"
    engine = make_engine(StoreSettings(url=store_url))
    start = (datetime.now(UTC) - timedelta(days=args.days)).replace(microsecond=0)
    try:
        fresh = not (workdir / "store.db.filled").exists()
        if fresh:
            upgrade(engine)
            began = time.perf_counter()
            counts = fill(engine, args.days, args.rate, start)
            (workdir / "store.db.filled").write_text(str(counts))
            print(
                f"generated {counts} in {time.perf_counter() - began:.0f} s "
                f"({os.path.getsize(workdir / 'store.db') / 1e9:.1f} GB)"
            )
            registry = tiny_registry(workdir / "registry", start + timedelta(days=args.days / 2))
        else:
            registry = Registry(workdir / "registry")
        data = ReportData(engine, registry)
        if args.check:
            check_rollups(data)
        endpoints = time_endpoints(data, args.repeat)
        print(f"{args.days:g} days at {args.rate:g} requests/s, SQLite, median of {args.repeat}:")
        for chart, seconds in endpoints.items():
            print(f"  /dashboard/api/models/credit/{chart:<12} {seconds * 1000:8.0f} ms")
        print(f"  all endpoints, one after the other  {sum(endpoints.values()) * 1000:8.0f} ms")
        page = time_page(store_url, registry.root, args.repeat)
        print(
            f"  page in Chromium, navigation to every chart drawn: median {statistics.median(page) * 1000:.0f} ms "
            f"(runs: {', '.join(f'{s * 1000:.0f}' for s in page)})"
        )
    finally:
        engine.dispose()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
