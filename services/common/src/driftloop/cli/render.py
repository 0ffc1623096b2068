"""Rich tables for training results and registry contents (data in, renderables out)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from driftloop.registry import Bundle, Registry

_PARITY_STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow", "not_checked": "dim"}


def leaderboard_table(metrics: dict[str, Any], *, limit: int = 12) -> Table:
    """The sweep's leaderboard from a ``metrics.json`` document."""
    metric = metrics["metric"]
    table = Table(title=f"Leaderboard ({metric}, {metrics['sweep']['folds']}-fold CV)", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("trial", justify="right")
    table.add_column("family", no_wrap=True)
    table.add_column(f"cv {metric}", justify="right", no_wrap=True)
    table.add_column("± std", justify="right")
    table.add_column("fit s", justify="right")
    table.add_column("status")
    table.add_column("parity", no_wrap=True)
    table.add_column("parameters", overflow="fold", ratio=1)
    winner = metrics["winner"]["trial"]
    rows = metrics["leaderboard"]
    for rank, row in enumerate(rows[:limit], start=1):
        style = "bold" if row["trial"] == winner else ("dim" if row["status"] != "ok" else "")
        parity = row["parity"]
        table.add_row(
            str(rank),
            str(row["trial"]),
            row["family"] + (" ★" if row["trial"] == winner else ""),
            _number(row["cv_mean"]),
            _number(row["cv_std"]) if len(row["fold_scores"]) > 1 else "-",
            f"{row['fit_seconds']:.1f}",
            row["status"],
            f"[{_PARITY_STYLE[parity]}]{parity}[/]",
            _params(row["params"]),
            style=style,
        )
    if len(rows) > limit:
        table.caption = f"{len(rows) - limit} more trials in metrics.json"
    return table


def holdout_table(metrics: dict[str, Any]) -> Table:
    table = Table(
        title=f"Winner on the holdout ({metrics['holdout']['rows']} rows never seen by the sweep)",
        title_justify="left",
        min_width=72,
    )
    table.add_column("metric")
    table.add_column("ONNX model", justify="right")
    table.add_column("scikit-learn", justify="right")
    for name, value in metrics["holdout"].items():
        if name == "rows":
            continue
        table.add_row(name, _number(value), _number(metrics["holdout_scikit_learn"].get(name)))
    parity = metrics["parity"]
    flips = f", {parity['label_flips']} label flips" if parity.get("label_agreement") is not None else ""
    table.caption = f"parity: max difference {parity['max_abs_diff']:.2g} (tolerance {parity['tolerance']:g}){flips}"
    table.caption_justify = "left"
    return table


def models_table(registry: Registry) -> Table:
    table = Table(title=f"Registry {registry.root}", title_justify="left")
    for column in ("model", "versions", "champion", "aliases", "task", "holdout", "trained"):
        table.add_column(column)
    for name in registry.models():
        versions = registry.versions(name)
        aliases = registry.aliases(name)
        champion = aliases.get("champion")
        shown = registry.resolve(name, champion if champion is not None else versions[-1])
        summary = bundle_summary(shown)
        table.add_row(
            name,
            str(len(versions)) + f" (latest {versions[-1]})",
            str(champion) if champion is not None else "-",
            ", ".join(f"{a}→{v}" for a, v in sorted(aliases.items()) if a != "champion") or "-",
            summary["task"],
            summary["score"],
            summary["time"],
        )
    return table


def versions_table(registry: Registry, name: str) -> Table:
    aliases = registry.aliases(name)
    table = Table(title=f"{name}: versions", title_justify="left")
    for column in ("version", "aliases", "winner", "holdout", "parent", "trigger", "trained"):
        table.add_column(column)
    for version in registry.versions(name):
        summary = bundle_summary(registry.resolve(name, version))
        table.add_row(
            str(version),
            ", ".join(a for a, v in sorted(aliases.items()) if v == version) or "-",
            summary["family"],
            summary["score"],
            str(summary["parent"]) if summary["parent"] is not None else "-",
            summary["trigger"],
            summary["time"],
        )
    return table


def bundle_table(registry: Registry, bundle: Bundle) -> Table:
    metrics, lineage = bundle.document("metrics"), bundle.document("lineage")
    contract = bundle.contract
    aliases = [a for a, v in sorted(registry.aliases(bundle.name).items()) if v == bundle.version]
    table = Table(title=f"{bundle.ref}", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    dataset = lineage.get("dataset", {})
    winner, parity, sweep = metrics["winner"], metrics["parity"], metrics["sweep"]
    source = escape(str(dataset.get("path") or "(data frame)"))
    rows = [
        ("aliases", ", ".join(aliases) or "-"),
        ("task", escape(f"{contract.task} on {contract.target!r}" + _classes(contract.class_labels))),
        ("inputs", f"{len(contract.columns)} columns: " + escape(", ".join(contract.column_names[:12]))),
        ("winner", f"{winner['family']} (trial {winner['trial']}) {_params(winner['params'])}"),
        ("cv", f"{metrics['metric']} {_number(winner['cv_mean'])} ± {_number(winner['cv_std'])}"),
        ("holdout", ", ".join(f"{k} {_number(v)}" for k, v in metrics["holdout"].items() if k != "rows")),
        ("parity", f"max difference {parity['max_abs_diff']:.2g}, passed: {parity['passed']}"),
        ("sweep", f"{sweep['trials']} trials in {sweep['search_seconds']:.0f} s"),
        ("dataset", f"{source} sha256 {str(dataset.get('sha256'))[:16]}… {dataset.get('rows')} rows"),
        ("parent", str(lineage.get("parent_version"))),
        ("trigger", str(lineage.get("trigger"))),
        ("code", str(lineage.get("code_version"))),
        ("trained", str(lineage.get("time"))),
        ("path", str(bundle.path)),
    ]
    for field, value in rows:
        table.add_row(field, value)
    return table


def bundle_summary(bundle: Bundle) -> dict[str, Any]:
    metrics, lineage = bundle.document("metrics"), bundle.document("lineage")
    metric = metrics.get("metric", "")
    return {
        "task": metrics.get("task", "?"),
        "family": metrics.get("winner", {}).get("family", "?"),
        "score": f"{metric} {_number(metrics.get('holdout', {}).get(metric))}",
        "parent": lineage.get("parent_version"),
        "trigger": lineage.get("trigger", "?"),
        "time": str(lineage.get("time", "?")),
    }


def _classes(labels: list[Any] | None) -> str:
    if not labels:
        return ""
    shown = ", ".join(map(str, labels[:8])) + (", …" if len(labels) > 8 else "")
    return f" (classes {shown})"


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def _params(params: dict[str, Any]) -> str:
    return escape(" ".join(f"{key}={value}" for key, value in params.items()))
