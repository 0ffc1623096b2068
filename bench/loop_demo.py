"""The loop's own figures on the demo data (``make bench-loop``): prints, asserts nothing.

Runs the demo loop (``driftloop.demo.loop.run_loop``, the four services as processes on free ports,
the demo's settings) ``--runs`` times with different seeds and reports, per run and as medians:

- time from the rule firing (the forwarder's ``rule_firings.recorded_at``) to the promotion (the
  job's ``finished_at``) and to the first answer of the new champion seen by the traffic;
- ROC AUC on the post-drift traffic: the old champion before the retrain, the new champion after
  it, and the old champion on the very same post-promotion records (the loop vs no retraining).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console

from driftloop.demo.loop import LoopConfig, LoopOutcome, run_loop
from driftloop.demo.supervisor import Ports

RESULTS = Path(__file__).resolve().parent / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_run(seed: int, workdir: Path) -> dict[str, float | None]:
    ports = Ports(free_port(), free_port(), free_port(), free_port())
    config = LoopConfig(home=workdir / f"run-{seed}", ports=ports, seed=seed)
    with (workdir / f"story-{seed}.txt").open("w") as story:
        started = time.monotonic()
        outcome: LoopOutcome = run_loop(config, Console(file=story, width=160))
        total = time.monotonic() - started
    if not outcome.closed:
        raise SystemExit(f"run {seed}: the loop did not close: {outcome.reason} (story in {workdir})")
    if outcome.fired_at is None or outcome.promoted_at is None or outcome.served_at is None:
        raise SystemExit(f"run {seed}: a timestamp of the loop is missing: {outcome}")
    return {
        "fired_to_promoted_s": outcome.promoted_at - outcome.fired_at,
        "fired_to_serving_s": outcome.served_at - outcome.fired_at,
        "drift_to_fired_s": outcome.fired_at - outcome.drift_at if outcome.drift_at else None,
        "run_s": total,
        "requests": outcome.requests,
        "failed": outcome.failed,
        **{f"auc_{k}": v for k, v in outcome.auc.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="driftloop-bench-loop-") as tmp:
        for seed in range(args.runs):
            row = one_run(seed, Path(tmp))
            rows.append(row)
            print(
                f"run {seed}: "
                + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
            )
    medians: dict[str, float] = {}
    for key in rows[0]:
        values = [float(v) for r in rows if (v := r[key]) is not None]
        if values:
            medians[key] = statistics.median(values)
    print(f"\nmedians over {len(rows)} runs (load average at the end: {os.getloadavg()[0]:.1f}):")
    for key, value in medians.items():
        print(f"  {key:<45} {value:.3f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "loop_demo.json").write_text(json.dumps({"runs": rows, "medians": medians}, indent=2))


if __name__ == "__main__":
    main()
