"""The demo's narrative: one rich line (or table) per thing that happened, as it happens."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from driftloop.demo.watch import Firing, Window


class Narrator:
    def __init__(self, console: Console, threshold: float) -> None:
        self.console = console
        self.threshold = threshold

    def step(self, number: int, title: str) -> None:
        self.console.rule(f"[bold]{number}. {title}")

    def say(self, text: str) -> None:
        self.console.print(text)

    def window(self, window: Window) -> None:
        head = f"  window {window.window:>2} of v{window.version} ({window.rows} records)"
        if window.value is None or window.metric is None:
            self.console.print(f"{head}: {window.labelled} labelled, too few for a performance verdict")
            return
        drop = window.degradation or 0.0  # relative degradation: positive is worse than at training
        mark = "[bold red]✗ past[/]" if drop > self.threshold else "[green]✓ within[/]"
        drifted = [c.replace("__predictions__", "predicted scores") for c in window.drifted_columns]
        self.console.print(
            f"{head}: {window.metric} {window.value:.3f} ({-drop:+.0%} vs training, {mark} the "
            f"-{self.threshold:.0%} threshold) · labels {window.coverage or 0:.0%} · "
            f"drifted: {escape(', '.join(drifted) or 'none')}"
        )

    def firing(self, firing: Firing, new: bool) -> None:
        if new:
            what = "a signed retrain webhook goes to the controller" if firing.action == "retrain" else "alert only"
            self.console.print(
                f"  [bold yellow]⚑ rule {escape(firing.rule)} fired[/] on window {firing.window} of "
                f"v{firing.version}: {what}"
            )
        if firing.delivery_status is not None:
            self.console.print(
                f"  [bold yellow]⚑ webhook {firing.delivery_status}[/]"
                + (f" (HTTP {firing.http_status})" if firing.http_status else "")
            )

    def job(self, job: dict[str, Any], lines: list[str], state_changed: bool) -> None:
        if state_changed:
            self.console.print(
                f"  [bold cyan]job {job['id'][:8]}[/] {job['state']} (trigger {escape(str(job['trigger']))})"
            )
        for line in lines:
            self.console.print(f"    [dim]{escape(line)}[/]")

    def decision(self, decision: dict[str, Any]) -> None:
        low, high = decision.get("ci") or (float("nan"), float("nan"))
        table = Table(title="Champion vs challenger on the same fresh holdout", title_justify="left")
        table.add_column("")
        table.add_column(str(decision.get("metric", "score")), justify="right")
        table.add_row("champion", f"{decision.get('champion_score', float('nan')):.3f}")
        table.add_row("challenger", f"{decision.get('challenger_score', float('nan')):.3f}")
        gain, confidence = decision.get("gain", float("nan")), decision.get("confidence", 0.95)
        table.add_row("gain", f"{gain:+.3f}, {confidence:.0%} CI [{low:+.3f}, {high:+.3f}]")
        self.console.print(table)
        outcome = decision.get("outcome")
        colour = "green" if outcome == "promoted" else "red"
        self.console.print(f"  decision: [bold {colour}]{outcome}[/]")
        for reason in decision.get("reasons") or []:
            self.console.print(f"    [dim]{escape(str(reason))}[/]")

    def summary(self, rows: list[tuple[str, str, int, float | None]], failed: int, requests: int) -> None:
        table = Table(title="ROC AUC on the traffic each model version answered", title_justify="left")
        for column in ("traffic", "model", "records", "ROC AUC"):
            table.add_column(column, justify="right" if column in ("records", "ROC AUC") else "left")
        for phase, model, records, auc in rows:
            table.add_row(phase, model, f"{records:,}", "–" if auc is None else f"{auc:.3f}")
        self.console.print(table)
        colour = "green" if failed == 0 else "red"
        self.console.print(f"[bold {colour}]{failed} failed scoring requests[/] out of {requests:,}")
