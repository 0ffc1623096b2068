"""How long the dashboard takes over a big store: N days of traffic at R requests/s (default: a week at 100/s).

Fills a SQLite store (the embedded default) with SQL bulk inserts (a recursive CTE: one row per
request, 10 % of them labelled, drift windows of 1000 records with 17 columns), rolls the rows up
per minute into traffic_minutes in SQL (what write_batch does as it stores them), registers a tiny
real model so that the registry has the versions, then measures:
- each JSON endpoint behind the page (median of --repeat calls, in process, over the full range),
- the page in headless Chromium: from navigation to every chart drawn (``data-state=ready``).
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
from driftloop.store.settings import StoreSettings

COLUMNS = [f"col_{i:02d}" for i in range(16)] + ["__predictions__"]


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
                           strftime('%Y-%m-%d %H:%M:%f', :epoch + w * 1000 / :rate, 'unixepoch'),
                           strftime('%Y-%m-%d %H:%M:%f', :epoch + (w + 1) * 1000 / :rate, 'unixepoch'),
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
        roll_up(c)
        counts = {
            t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("predictions", "feedback", "drift_metrics", "traffic_minutes")
        }
    return counts


def roll_up(c: object) -> None:
    """Fill traffic_minutes from the generated rows in SQL, as write_batch would have (store/rollup.py).

    Same minute format as SQLAlchemy's SQLite DateTime, same latency bins (floor(ln(ms + 0.001) * 20 + 0.5)),
    labels keyed by their JSON text; the bench's predictions are the numbers 0 / 1, so they also sum.
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
