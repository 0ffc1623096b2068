"""The backtest's HTML report: one self-contained page (no scripts, no network), a chart and tables."""

# ruff: noqa: E501  (HTML and SVG markup reads better on one line per element)

from __future__ import annotations

import html
import itertools
import math
from typing import Any

WIDTH, HEIGHT, PAD = 900, 320, 48
COLOURS = ["#d62728", "#7f7f7f", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def _chart(result: dict[str, Any]) -> str:
    chunks = result["chunks"]
    first, last = chunks[0], chunks[-1]
    values = [v for arm in result["arms"].values() for v in arm["over_time"] if not math.isnan(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    low, high = min(low, high - 0.05), high

    def x(row: float) -> float:
        return float(PAD + (row - first) / max(last - first, 1) * (WIDTH - 2 * PAD))

    def y(value: float) -> float:
        return HEIGHT - PAD - (value - low) / max(high - low, 1e-9) * (HEIGHT - 2 * PAD)

    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img">']
    parts.append(
        f'<rect x="{PAD}" y="{PAD}" width="{WIDTH - 2 * PAD}" height="{HEIGHT - 2 * PAD}" fill="none" stroke="#ccc"/>'
    )
    for tick in (low, (low + high) / 2, high):
        parts.append(f'<text x="4" y="{y(tick) + 4:.1f}" font-size="11">{tick:.3f}</text>')
    if result["change_at"] is not None:
        cx = x(result["change_at"])
        parts.append(
            f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{PAD}" y2="{HEIGHT - PAD}" stroke="#000" stroke-dasharray="4 3"/>'
        )
        parts.append(f'<text x="{cx + 4:.1f}" y="{PAD + 12}" font-size="11">known change</text>')
    for retrain in result["retrains"]:
        rx = x(retrain["fired_row"])
        colour = "#2ca02c" if retrain["promoted"] else "#d62728"
        parts.append(f'<line x1="{rx:.1f}" x2="{rx:.1f}" y1="{HEIGHT - PAD}" y2="{HEIGHT - PAD - 10}" stroke="{colour}" stroke-width="2">'
                     f'<title>retrain ({retrain["rule"]}): {"promoted" if retrain["promoted"] else "rejected"}</title></line>')  # fmt: skip
    for i, (name, arm) in enumerate(result["arms"].items()):
        mids = [(a + b) / 2 for a, b in itertools.pairwise(chunks)]
        points = " ".join(
            f"{x(m):.1f},{y(v):.1f}" for m, v in zip(mids, arm["over_time"], strict=True) if not math.isnan(v)
        )
        colour = COLOURS[i % len(COLOURS)]
        width = 3 if name == "loop" else 1.5
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="{width}"/>')
        parts.append(
            f'<text x="{WIDTH - PAD + 4}" y="{PAD + 14 * i + 10}" font-size="11" fill="{colour}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html(result: dict[str, Any]) -> str:
    metric = result["metric"]
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{arm['score_after_change']:.4f}</td><td>{arm['score']:.4f}</td>"
        f"<td>{arm['retrains']}</td><td>{arm['promotions']}</td></tr>"
        for name, arm in result["arms"].items()
    )
    retrains = "".join(
        f"<tr><td>{r['fired_row']}</td><td>{html.escape(r['rule'])}</td><td>{html.escape(r['strategy'])}</td>"
        f"<td>{r['change_row'] if r['change_row'] is not None else '–'}</td><td>{r['train_rows']}</td>"
        f"<td>{r['holdout_rows']}</td><td>{'promoted' if r['promoted'] else html.escape(str(r['decision'].get('outcome', 'rejected')))}</td>"
        f"<td>{html.escape('; '.join(r['decision'].get('reasons', [])))}</td></tr>"
        for r in result["retrains"]
    )  # fmt: skip
    alarms = "".join(
        f"<tr><td>{a['row']}</td><td>{html.escape(a['rule'])}</td><td>{a['action']}</td>"
        f"<td>{'before' if a['before_change'] else ('after' if result['change_at'] is not None else '–')}</td></tr>"
        for a in result["alarms"]
    )
    title = f"driftloop backtest: {html.escape(result['data'])}"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:1000px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ddd;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}</style></head>
<body><h1>{title}</h1>
<p>{result["rows"]} rows, target <code>{html.escape(result["target"])}</code> ({result["task"]}); champion trained on the
first {result["train_rows"]}; labels {result["label_delay"]} rows late; known change:
{result["change_at"] if result["change_at"] is not None else "none given"}. Loop replay: {result["seconds"]["loop"]} s.</p>
<h2>Served {metric} over the stream</h2>{_chart(result)}
<p>Marks at the bottom: the loop's retrains (green promoted, red rejected).</p>
<h2>Arms</h2><table><tr><th>arm</th><th>{metric} after the change</th><th>{metric}, whole stream</th><th>retrains</th><th>promotions</th></tr>{rows}</table>
<h2>The loop's retrains</h2><table><tr><th>row</th><th>rule</th><th>strategy</th><th>change row</th><th>train rows</th><th>holdout rows</th><th>decision</th><th>why</th></tr>{retrains}</table>
<h2>Firings</h2><table><tr><th>row</th><th>rule</th><th>action</th><th>vs change</th></tr>{alarms}</table>
</body></html>"""
