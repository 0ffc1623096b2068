"""``driftloop backtest``: replay a labelled history through the loop and compare it with baselines."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from driftloop.cli.common import err, handle_errors, out, print_json
from driftloop.cli.train import require_file
from driftloop.errors import ConfigError


def _schedule(text: str) -> tuple[int, int]:
    every, _, last = text.partition(":")
    try:
        pair = int(every), int(last)
    except ValueError:
        raise ConfigError(
            f"--periodic {text!r}: use EVERY:LAST, e.g. 500:3000", details={"field": "periodic"}
        ) from None
    if min(pair) < 1:
        raise ConfigError(f"--periodic {text!r}: both numbers must be positive", details={"field": "periodic"})
    return pair


@handle_errors
def backtest(
    data: Annotated[Path, typer.Option("--data", help="The labelled history (CSV or Parquet), oldest first.")],
    target: Annotated[str, typer.Option("--target", help="The label column.")],
    time_column: Annotated[
        str | None, typer.Option("--time-column", help="Event time of each row (default: the file's order).")
    ] = None,
    label_delay: Annotated[
        int, typer.Option("--label-delay", min=0, help="Rows after its record a label arrives.")
    ] = 0,
    train_rows: Annotated[
        int | None,
        typer.Option("--train-rows", min=50, help="Rows the champion trains on (default: 30 %, at most 5,000)."),
    ] = None,
    change_at: Annotated[
        int | None,
        typer.Option("--change-at", min=0, help="A known change (row, in event-time order): adds the oracle."),
    ] = None,
    policy_path: Annotated[
        Path | None, typer.Option("--policy", help="The policy to try (default: the packaged one).")
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Records per prediction request.")] = 100,
    time_budget: Annotated[
        float | None, typer.Option("--time-budget", help="Seconds of search per training (default: the policy's).")
    ] = None,
    max_trials: Annotated[int | None, typer.Option("--max-trials", min=1, help="Trials per training.")] = None,
    families: Annotated[
        list[str] | None, typer.Option("--family", help="Estimator families to search (repeatable).")
    ] = None,
    periodic: Annotated[
        list[str] | None, typer.Option("--periodic", help="A baseline EVERY:LAST (repeatable; default: three).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    html_out: Annotated[Path, typer.Option("--out", help="The HTML report to write.")] = Path("backtest.html"),
    as_json: Annotated[bool, typer.Option("--json/--no-json", help="Print the result as JSON.")] = False,
) -> None:
    """Replay a labelled history through the loop's own detectors, rules, training sets, training and gate,
    in event time and as fast as the machine allows, against no retraining, periodic retraining and (with
    --change-at) an oracle; write an HTML report."""
    from driftloop.backtest.report import render_html
    from driftloop.backtest.run import BacktestConfig, run_backtest
    from driftloop.policy import load_policy

    require_file(data, "--data")
    if policy_path is not None:
        require_file(policy_path, "--policy")
    config = BacktestConfig(
        data=data, target=target, time_column=time_column, label_delay=label_delay, train_rows=train_rows,
        change_at=change_at, batch=batch, time_budget=time_budget, max_trials=max_trials, families=families,
        periodic=[_schedule(p) for p in periodic or []], seed=seed,
    )  # fmt: skip
    policy = load_policy(policy_path)
    err.print(f"backtest of {data}: training the champion, then replaying (this takes a while)")
    result = run_backtest(config, policy)
    html_out.write_text(render_html(result))
    if as_json:
        print_json(_finite(result))
        return
    metric = result["metric"]
    out.print(f"{metric} after the change (whole stream), retrains/promotions:")
    for name, arm in result["arms"].items():
        out.print(
            f"  {name:<22} {arm['score_after_change']:.4f} ({arm['score']:.4f})  {arm['retrains']}/{arm['promotions']}"
        )
    delay = result["first_alarm_labelled_since_change"]
    out.print(
        f"alarms before the change: {result['alarms_before_change']}; first alarm {delay} labelled records after it"
    )
    out.print(f"loop replay: {result['seconds']['loop']} s")
    err.print(f"report written to {html_out}")


def _finite(value: Any) -> Any:
    """JSON has no NaN: an undefined score is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
