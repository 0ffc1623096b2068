"""Does the loop recover on real drift, with its defaults? (issue 13; figures in docs/benchmarks.md)

For each stream of bench/drift_streams.py: ``driftloop backtest``'s machinery with the packaged
default policy, untuned per dataset, against no retraining, three periodic schedules (every N rows
on the last 3N, 6N, 12N: scaled to the stream) and, where the change is known, an oracle that
retrains once 500 labelled rows after it. Every arm uses the same trainer (the sweep with the
budget below), so the arms differ in when and on what they retrain. Prints, per stream: the served
accuracy after the change (whole stream for the real datasets), the loop's ratio to the best
periodic schedule, retrains, alarms before the change, labelled records from the change to the
first alarm, and the loop replay's seconds. Asserts nothing.

    pip install -r requirements/bench.txt && pip install --no-deps nannyml==0.13.1
    python bench/loop_effectiveness.py [--seeds 2] [--time-budget 15] [--max-trials 4] [--policy P]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from drift_streams import all_streams
from driftloop.backtest.run import BacktestConfig, run_backtest
from driftloop.policy import load_policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--time-budget", type=float, default=15.0)
    parser.add_argument("--max-trials", type=int, default=4)
    parser.add_argument("--only", default="", help="run the streams whose name contains this")
    parser.add_argument("--policy", type=Path, help="a policy to compare with the defaults")
    parser.add_argument("--out", type=Path, default=Path("bench/results/loop_effectiveness.json"))
    args = parser.parse_args()
    policy = load_policy(args.policy)  # without --policy: the packaged defaults, untouched
    results = {}
    header = f"{'stream':<22} {'metric':>8} {'loop':>7} {'none':>7} {'best per.':>9} {'oracle':>7} {'ratio':>6} " \
             f"{'retrains':>8} {'per.':>5} {'before':>6} {'delay':>6} {'s':>5}"  # fmt: skip
    print(header)
    for stream in all_streams(args.seeds):
        if args.only not in stream.name:
            continue
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / f"{stream.name}.csv"
            stream.frame.to_csv(path, index=False)
            config = BacktestConfig(
                data=path, target=stream.target, train_rows=stream.train_rows, change_at=stream.change_at,
                time_budget=args.time_budget, max_trials=args.max_trials,
            )  # fmt: skip
            result = run_backtest(config, policy)
        arms = result["arms"]
        periodic = {k: v for k, v in arms.items() if k.startswith("periodic")}
        best_name = max(periodic, key=lambda k: periodic[k]["score_after_change"])
        best = periodic[best_name]
        loop = arms["loop"]
        oracle = arms.get("oracle", {}).get("score_after_change", float("nan"))
        ratio = loop["score_after_change"] / best["score_after_change"]
        delay = result["first_alarm_labelled_since_change"]
        print(
            f"{stream.name:<22} {result['metric']:>8} {loop['score_after_change']:7.4f} "
            f"{arms['none']['score_after_change']:7.4f} {best['score_after_change']:9.4f} {oracle:7.4f} {ratio:6.3f} "
            f"{loop['retrains']:>4}/{loop['promotions']:<3} {best['retrains']:>5} {result['alarms_before_change']:>6} "
            f"{delay if delay is not None else '-':>6} {result['seconds']['loop']:5.0f}",
            flush=True,
        )
        results[stream.name] = {"best_periodic": best_name, "ratio": ratio, **result}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
