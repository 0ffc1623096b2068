// driftloop dashboard: renders the charts of one model from the JSON aggregates.
// Live mode fetches /dashboard/api/models/{model}/{chart}; the static report carries the same
// data inline and applies the time range by zooming the time axes.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("driftloop-config").textContent);
  // Okabe–Ito: distinguishable with the common colour-vision deficiencies.
  const C = { orange: "#E69F00", sky: "#56B4E9", green: "#009E73", yellow: "#F0E442",
              blue: "#0072B2", red: "#D55E00", purple: "#CC79A7", black: "#000000", grey: "#999999" };
  const SERIES = [C.blue, C.orange, C.green, C.red, C.purple, C.sky, C.yellow, C.black];
  const OUTCOME = { promoted: C.green, rejected: C.orange, failed: C.red, none: C.grey };
  const PLOT = { displaylogo: false, responsive: true, displayModeBar: "hover" };
  const CHARTS = ["volume", "latency", "predictions", "drift", "columns", "performance", "timeline"];
  const METRIC = { roc_auc: "ROC AUC", accuracy: "accuracy", f1: "F1", rmse: "RMSE", mae: "MAE", log_loss: "log loss" };
  const metricName = (m) => METRIC[m] || m;
  const SHORT_TEST = { "KS test": "KS", "chi-squared test": "chi²", "Wasserstein distance (normed)": "Wasserstein",
                       "Jensen-Shannon distance": "Jensen-Shannon" };
  const state = { status: "loading", data: null, renders: 0 };
  window.driftloop = state;

  const $ = (id) => document.getElementById(id);
  const t = (iso) => iso.replace(/(Z|[+]00:00)$/, "").replace("T", " ");  // Plotly dates: UTC wall time

  // The top margin holds Plotly's mode bar, so that it never covers the labels drawn at the top of the plot.
  function layout(extra) {
    return Object.assign({
      margin: { l: 55, r: 55, t: 34, b: 40 }, hovermode: "x unified", showlegend: true,
      legend: { orientation: "h", y: -0.2 }, font: { size: 12 },
      xaxis: { type: "date" },  // UTC (the page says so): an axis title would sit under the legend
    }, extra);
  }

  // Champion changes: dashed lines labelled at the top. Rule firings: dotted lines named at the foot,
  // those closer than 4 % of the range to each other under one label ("feature-drift ×3").
  function markers(story) {
    const shapes = [], annotations = [];
    for (const move of (story.timeline && story.timeline.moves) || []) {
      const colour = move.kind === "rollback" ? C.red : move.kind === "promotion" ? C.green : C.grey;
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: t(move.time), x1: t(move.time), y0: 0, y1: 1,
                    line: { color: colour, width: 2, dash: "dash" } });
      annotations.push({ xref: "x", yref: "paper", x: t(move.time), y: 1, yanchor: "top", xanchor: "left", showarrow: false,
                         bgcolor: "rgba(255,255,255,0.85)",
                         text: move.kind === "rollback" ? `rollback to v${move.version}` : `v${move.version}`,
                         font: { color: colour, size: 11 } });
    }
    const firings = story.firings || [];
    for (const f of firings) {
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: t(f.time), x1: t(f.time), y0: 0, y1: 1,
                    line: { color: f.action === "retrain" ? C.red : C.purple, width: 1.5, dash: "dot" } });
    }
    for (const group of firingGroups(firings, story.span)) {
      const counts = {};
      group.forEach((f) => { counts[f.rule] = (counts[f.rule] || 0) + 1; });
      const text = Object.entries(counts).map(([rule, n]) => (n > 1 ? `${rule} ×${n}` : rule)).join(", ");
      annotations.push({ xref: "x", yref: "paper", x: t(group[0].time), y: 0, yanchor: "bottom", xanchor: "right",
                         textangle: -90, showarrow: false, bgcolor: "rgba(255,255,255,0.85)", text,
                         font: { color: group.some((f) => f.action === "retrain") ? C.red : C.purple, size: 10 } });
    }
    return { shapes, annotations };
  }

  function firingGroups(firings, span) {
    const groups = [];
    const gap = span ? (Date.parse(span[1]) - Date.parse(span[0])) * 0.04 : 0;
    for (const f of firings) {
      const last = groups[groups.length - 1];
      if (last && Date.parse(f.time) - Date.parse(last[0].time) <= gap) last.push(f);
      else groups.push([f]);
    }
    return groups;
  }

  function empty(div, what) {
    Plotly.react(div, [], layout({ xaxis: { visible: false }, yaxis: { visible: false },
      annotations: [{ text: what, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }] }), PLOT);
  }

  function draw(div, traces, extra, story) {
    const m = markers(story);
    const base = layout(extra);
    base.shapes = (base.shapes || []).concat(m.shapes);
    base.annotations = (base.annotations || []).concat(m.annotations);
    return Plotly.react(div, traces, base, PLOT);
  }

  function volume(d, story) {
    if (!d.time.length) return empty("chart-volume", "no requests in this range");
    const x = d.time.map(t);
    return draw("chart-volume", [
      { name: "requests / s", x, y: d.requests_per_second, type: "scatter", mode: "lines+markers", line: { color: C.blue } },
      { name: "refused requests", x, y: d.rejected, type: "bar", yaxis: "y2", marker: { color: C.red }, opacity: 0.6 },
    ], { yaxis: { title: { text: "requests / s" }, rangemode: "tozero" },
         yaxis2: { title: { text: "refused" }, overlaying: "y", side: "right", rangemode: "tozero", showgrid: false } }, story);
  }

  function latency(d, story) {
    if (!d.time.length) return empty("chart-latency", "no requests in this range");
    const x = d.time.map(t);
    return draw("chart-latency", [["p50", C.blue], ["p95", C.orange], ["p99", C.red]].map(([k, colour]) =>
      ({ name: k, x, y: d[k], type: "scatter", mode: "lines+markers", line: { color: colour } })),
      { yaxis: { title: { text: "ms" }, rangemode: "tozero" } }, story);
  }

  function predictions(d, story) {
    if (!d.time.length) return empty("chart-predictions", "no predictions in this range");
    const x = d.time.map(t);
    if (d.kind === "mean") {
      return draw("chart-predictions", [{ name: "mean prediction", x, y: d.mean, type: "scatter", mode: "lines+markers",
                                          line: { color: C.blue } }], { yaxis: { title: { text: "mean" } } }, story);
    }
    const traces = Object.keys(d.shares).map((label, i) => ({ name: `class ${label}`, x, y: d.shares[label],
      type: "scatter", mode: "lines", stackgroup: "shares", line: { color: SERIES[i % SERIES.length] } }));
    return draw("chart-predictions", traces, { yaxis: { title: { text: "share" }, range: [0, 1], tickformat: ".0%" } }, story);
  }

  function performance(d, story) {
    const judged = d.judged;
    const windows = judged && judged.time.length;
    if ((!d.time.length || !d.total_labelled) && !windows) return empty("chart-performance", "no labelled predictions in this range");
    const traces = [];
    const annotations = [];
    const lines = [];
    if (windows) {
      traces.push({ name: `${metricName(judged.metric)} (drift windows)`, x: judged.time.map(t), y: judged.value,
                    type: "scatter", mode: "lines+markers", connectgaps: false, line: { color: C.blue, width: 2.5 } });
      const level = (y, text, colour, dash) => {
        lines.push({ type: "line", xref: "paper", yref: "y", x0: 0, x1: 1, y0: y, y1: y, line: { color: colour, width: 1.5, dash } });
        annotations.push({ xref: "paper", yref: "y", x: 0.01, y, xanchor: "left", yanchor: "bottom", showarrow: false,
                           text, font: { color: colour, size: 11 }, bgcolor: "rgba(255,255,255,0.95)" });
      };
      if (judged.holdout !== null) level(judged.holdout, `holdout ${metricName(judged.metric)} ${judged.holdout.toFixed(3)}`, C.grey, "dash");
      if (judged.fires_at !== null) {
        const side = judged.lower_is_better ? "above" : "below";
        level(judged.fires_at, `${judged.rule}: breaches ${side} ${judged.fires_at.toFixed(3)} (${Math.round(judged.drop * 100)} % worse)`, C.red, "dot");
      }
    }
    if (d.time.length && d.total_labelled) {
      const x = d.time.map(t);
      traces.push({ name: `${metricName(d.metric)} (labelled predictions)`, x, y: d.value, type: "scatter", mode: "lines+markers",
                    connectgaps: false, line: { color: C.orange, dash: "dash" }, marker: { symbol: "square" } });
      traces.push({ name: "label coverage", x, y: d.coverage, type: "bar", yaxis: "y2", marker: { color: C.sky }, opacity: 0.35 });
    }
    return draw("chart-performance", traces, { shapes: lines, annotations,
      yaxis: { title: { text: windows ? metricName(judged.metric) : metricName(d.metric) } },
      yaxis2: { title: { text: "coverage" }, overlaying: "y", side: "right", range: [0, 1], tickformat: ".0%", showgrid: false } }, story);
  }

  function performanceNote(charts) {
    const judged = charts.performance.judged, jobs = charts.timeline.jobs;
    const gate = jobs.length ? jobs[jobs.length - 1].metric : null;
    if (!judged) return;
    const uses = [judged.rule ? `rule ${judged.rule}` : null, gate === judged.metric ? "the promotion gate" : null].filter(Boolean);
    let note = `${metricName(judged.metric)} of each drift window's labelled records` + (uses.length ? `: the metric of ${uses.join(" and of ")}` : "") + ". ";
    if (gate && gate !== judged.metric) note += `The promotion gate compares ${metricName(gate)}. `;
    const secondary = metricName(charts.performance.metric);
    note += `${secondary[0].toUpperCase()}${secondary.slice(1)} per bucket of labelled predictions (dashed), label coverage (bars, right axis).`;
    $("note-performance").textContent = note;
  }

  function driftCharts(d, story, tests) {
    if (!d.time.length) {
      empty("chart-drift-heatmap", "no drift windows in this range");
      return empty("chart-drift-scores", "no drift windows in this range");
    }
    const x = d.time.map(t);
    const top = Math.max(0.3, ...d.psi.flat().filter((v) => v !== null));
    draw("chart-drift-heatmap", [{ type: "heatmap", x, y: d.columns, z: d.psi, zmin: 0, zmax: top,
      colorscale: "Cividis", reversescale: true, colorbar: { title: { text: "PSI" } }, hoverongaps: false,
      hovertemplate: "%{y}<br>%{x}<br>PSI %{z:.3f}<extra></extra>" }],
      { margin: { l: 130, r: 20, t: 34, b: 40 }, hovermode: "closest", showlegend: false }, story);
    const traces = [];
    const thresholds = new Map();  // one line per threshold value, labelled with the tests that use it
    d.scores.forEach((s, i) => {
      traces.push({ name: s.column, x: s.time.map(t), y: s.score, type: "scatter", mode: "lines+markers",
                    line: { color: SERIES[i % SERIES.length] } });
      if (s.threshold === null) return;
      const entry = thresholds.get(s.threshold) || { tests: new Set(), direction: null, columns: [] };
      const test = tests[s.column];
      if (test && test.score_kind) { entry.tests.add(test.test); entry.direction = test.direction; }
      entry.columns.push(s.column);
      thresholds.set(s.threshold, entry);
    });
    const annotations = [];
    const logs = d.scores.flatMap((s) => s.score).concat([...thresholds.keys()]).filter((v) => v > 0).map(Math.log10);
    const spread = Math.max(1, Math.max(...logs) - Math.min(...logs));
    let lastLabel = null;
    for (const [value, e] of [...thresholds.entries()].sort((a, b) => a[0] - b[0])) {
      const tests = [...e.tests].map((name) => SHORT_TEST[name] || name).join(" / ");
      const bound = `${e.direction === "above" ? "≥" : "p<"}${value.toPrecision(2)}`;
      traces.push({ name: `threshold ${bound}` + (tests ? ` (${tests})` : ""), x: [x[0], x[x.length - 1]], y: [value, value],
                    type: "scatter", mode: "lines", line: { color: C.black, width: 1.5, dash: "dot" },
                    hovertemplate: `threshold %{y:.3g} of ${e.columns.join(", ")}<extra></extra>` });
      // The bound at the line's end, in the right margin where no data is drawn; one too close to the
      // previous would overlap it, and the legend names it anyway.
      const at = Math.log10(value);
      if (lastLabel === null || at - lastLabel > 0.07 * spread) {
        annotations.push({ xref: "paper", yref: "y", x: 1, y: at, xanchor: "left", yanchor: "middle", showarrow: false,
                           text: bound, font: { size: 10, color: C.black } });
        lastLabel = at;
      }
    }
    return draw("chart-drift-scores", traces, { annotations, margin: { l: 55, r: 62, t: 34, b: 40 },
      yaxis: { title: { text: "score (log)" }, type: "log", exponentformat: "power" } }, story);
  }

  // Drift per column of the latest window: reference and current distributions, the test and the verdict.
  function columnsView(d) {
    const root = $("columns");
    if (!d.window) {
      $("dataset-verdict").textContent = "no drift window in this range";
      root.innerHTML = "";
      return [];
    }
    const ds = d.dataset, w = d.window;
    const verdict = ds.drifted === null ? "not enough data for a verdict" : ds.drifted ? "DATASET DRIFT" : "no dataset drift";
    const by = ds.rule ? `rule ${ds.rule}` : "the default share";
    $("dataset-verdict").className = ds.drifted ? "verdict drifted" : "verdict";
    $("dataset-verdict").textContent = `${verdict}: ${ds.drifted_columns} of ${ds.judged} columns drifted` +
      (ds.share === null ? "" : ` (${Math.round(ds.share * 100)} %; the dataset drifts from ${Math.round(ds.threshold * 100)} %, ${by})`) +
      ` in window ${w.index} of v${w.version} (${w.rows} records, ${t(w.start).slice(0, 23)} to ${t(w.end).slice(0, 23)} UTC)`;
    root.innerHTML = d.columns.map((c, i) => {
      const name = c.column === "__predictions__" ? "predictions" : c.column;
      const status = c.drifted === null ? "no verdict" : c.drifted ? "drifted" : "not drifted";
      const rule = c.score_kind ? `${c.score_kind} ${c.score.toPrecision(3)} (drifts ${c.direction === "below" ? "below" : "from"} ${c.threshold.toPrecision(3)})` : "";
      const detail = [c.test, rule, c.psi === null ? "" : `PSI ${c.psi.toFixed(3)}`, `n ${c.n}`].filter(Boolean).join(" · ");
      return `<div class="column${c.drifted ? " drifted" : ""}"><h3>${escape(name)} <span class="kind">${c.kind}</span> ` +
             `<span class="status">${status}</span></h3><p class="note">${escape(detail)}</p><div id="column-${i}" class="mini"></div></div>`;
    }).join("");
    d.columns.forEach((c, i) => { $(`column-${i}`).innerHTML = barsSvg(c, w.index); });
    return [];
  }

  // Reference against current shares as plain SVG bars: 17 small Plotly figures cost about a second
  // of drawing in the browser; these cost a few milliseconds and need no interaction.
  function barsSvg(c, windowIndex) {
    const W = 320, H = 196, left = 38, bottom = 68, top = 8, right = 6;
    const plotW = W - left - right, plotH = H - top - bottom;
    const peak = Math.max(0.05, ...c.reference, ...c.current);
    const ymax = Math.ceil(peak * 10) / 10;  // the next 10 %: the middle tick is a whole 5 %
    const y = (v) => top + plotH * (1 - v / ymax);
    const step = plotW / Math.max(1, c.bins.length), bar = step * 0.38;
    const current = c.drifted ? C.red : C.blue;
    const parts = [`<svg class="bars" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${escape(c.column)}: reference and current shares">`];
    for (const tick of [0, ymax / 2, ymax]) {
      parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e5e5e5"/>`,
                 `<text x="${left - 4}" y="${y(tick) + 3}" text-anchor="end" font-size="10">${+(tick * 100).toFixed(1)}%</text>`);
    }
    c.bins.forEach((label, k) => {
      const x0 = left + k * step + step * 0.1;
      const tip = `<title>${escape(label)}: reference ${(c.reference[k] * 100).toFixed(1)} %, window ${windowIndex} ${(c.current[k] * 100).toFixed(1)} %</title>`;
      parts.push(`<rect class="bar-ref" x="${x0}" y="${y(c.reference[k])}" width="${bar}" height="${y(0) - y(c.reference[k])}" fill="${C.grey}">${tip}</rect>`,
                 `<rect class="bar-cur" x="${x0 + bar}" y="${y(c.current[k])}" width="${bar}" height="${y(0) - y(c.current[k])}" fill="${current}">${tip}</rect>`);
      const lx = x0 + bar + 3, ly = y(0) + 10;
      parts.push(`<text x="${lx}" y="${ly}" font-size="9.5" text-anchor="end" transform="rotate(-40 ${lx} ${ly})">${escape(label.length > 13 ? label.slice(0, 12) + "…" : label)}</text>`);
    });
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(0)}" y2="${y(0)}" stroke="#444"/></svg>`);
    return parts.join("");
  }

  function escape(text) { return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;"); }

  function firingsTable(firings) {
    const rows = firings.slice().reverse().map((f) => {
      const evidence = (f.evidence || []).map((e) => `${e.column} ${e.statistic} ${Number(e.value).toPrecision(3)} (threshold ${Number(e.threshold).toPrecision(3)})`);
      if (f.evidence_count > evidence.length) evidence.push(`and ${f.evidence_count - evidence.length} more`);
      const cells = [t(f.time).slice(0, 23), f.rule, f.action, `v${f.version}`, f.statistic || "", f.threshold === null ? "" : f.threshold,
                     evidence.join("; "), f.action === "retrain" ? (f.delivery || "pending") : ""];
      return "<tr>" + cells.map((c) => `<td>${escape(c)}</td>`).join("") + "</tr>";
    });
    $("firings").innerHTML = rows.length
      ? "<table><thead><tr><th>fired (UTC)</th><th>rule</th><th>action</th><th>version</th><th>statistic</th><th>threshold</th><th>evidence</th><th>webhook</th></tr></thead><tbody>" + rows.join("") + "</tbody></table>"
      : "<p class='note'>no rule fired in this range</p>";
  }

  function timeline(d, story) {
    const traces = [];
    const moves = d.moves;
    if (moves.length) {
      const x = moves.map((m) => t(m.time)), y = moves.map((m) => m.version);
      const text = moves.map((m) => `${m.kind}: ${m.reason}`);
      if (d.champion_at_start !== null) { x.unshift(t(d.since)); y.unshift(d.champion_at_start); text.unshift("champion at the start"); }
      x.push(t(d.until)); y.push(moves[moves.length - 1].version); text.push("");
      traces.push({ name: "champion version", x, y, yaxis: "y2", type: "scatter", mode: "lines+markers", line: { shape: "hv", color: C.black },
                    text, hovertemplate: "v%{y} %{text}<extra></extra>" });
    } else if (d.champion !== null) {
      traces.push({ name: "champion version", x: [t(d.since), t(d.until)], y: [d.champion, d.champion], yaxis: "y2",
                    type: "scatter", mode: "lines", line: { shape: "hv", color: C.black } });
    }
    for (const outcome of ["promoted", "rejected", "failed", "none"]) {
      const jobs = d.jobs.filter((j) => (j.outcome || (j.state === "failed" ? "failed" : "none")) === outcome);
      if (!jobs.length) continue;
      traces.push({ name: `retrain: ${outcome === "none" ? "no decision" : outcome}`, type: "scatter", mode: "markers",
        x: jobs.map((j) => t(j.time)), y: jobs.map((j) => (j.gain === null ? 0 : j.gain)),
        marker: { color: OUTCOME[outcome], size: 12, symbol: outcome === "promoted" ? "star" : "circle" },
        error_y: { type: "data", symmetric: false, color: OUTCOME[outcome],
                   array: jobs.map((j) => (j.ci ? j.ci[1] - j.gain : 0)), arrayminus: jobs.map((j) => (j.ci ? j.gain - j.ci[0] : 0)) },
        text: jobs.map((j) => `${j.trigger}<br>${(j.reasons || []).join("<br>") || j.error || j.state}`),
        hovertemplate: "gain %{y:.4f}<br>%{text}<extra></extra>" });
    }
    if (!traces.length) return empty("chart-timeline", "no versions or jobs in this range");
    return draw("chart-timeline", traces, { hovermode: "closest",
      yaxis: { title: { text: "gate: gain over champion" }, zeroline: true },
      yaxis2: { title: { text: "champion version" }, overlaying: "y", side: "right", dtick: 1, showgrid: false } }, story);
  }

  function jobsTable(d) {
    const rows = d.jobs.slice().reverse().map((j) => {
      const ci = j.ci ? `[${j.ci[0].toFixed(4)}, ${j.ci[1].toFixed(4)}]` : "";
      const gain = j.gain === null || j.gain === undefined ? "" : j.gain.toFixed(4);
      const cells = [t(j.time).slice(0, 19), j.trigger, j.state, j.outcome || "", j.metric || "", gain, ci,
                     j.challenger_version === null ? "" : `v${j.challenger_version}`, (j.reasons || []).join("; ") || j.error || ""];
      return "<tr>" + cells.map((c) => `<td>${escape(c)}</td>`).join("") + "</tr>";
    });
    $("jobs").innerHTML = rows.length
      ? "<table><thead><tr><th>created (UTC)</th><th>trigger</th><th>state</th><th>decision</th><th>metric</th><th>gain</th><th>CI</th><th>challenger</th><th>reasons</th></tr></thead><tbody>" + rows.join("") + "</tbody></table>"
      : "<p class='note'>no retrain jobs in this range</p>";
  }

  function summary(charts) {
    const v = charts.volume, p = charts.performance, tl = charts.timeline;
    const sum = (a) => a.reduce((x, y) => x + y, 0);
    const sec = (iso) => t(iso).slice(0, 19);
    $("summary").textContent = `${sec(v.since)} to ${sec(v.until)} UTC (buckets of ${v.step_seconds} s): ` +
      `${sum(v.requests)} requests, ${sum(v.records)} records, ${sum(v.rejected)} refused, ` +
      `${p.total_labelled} labelled; champion v${tl.champion}; ${charts.drift.firings.length} rule firings, ` +
      `${tl.jobs.length} retrain jobs, ${tl.moves.length} champion changes`;
  }

  function render(charts) {
    const tl = charts.timeline;
    const story = { timeline: tl, firings: charts.drift.firings, span: [tl.since, tl.until] };
    const tests = Object.fromEntries(charts.columns.columns.map((c) => [c.column, c]));
    const done = [volume(charts.volume, story), latency(charts.latency, story), predictions(charts.predictions, story),
                  performance(charts.performance, story), driftCharts(charts.drift, story, tests), timeline(tl, story),
                  ...columnsView(charts.columns)];  // SVG, drawn at once
    performanceNote(charts);
    jobsTable(tl);
    firingsTable(charts.drift.firings);
    summary(charts);
    return Promise.all(done);
  }

  function finish(promise) {
    state.status = "loading";
    document.body.dataset.state = "loading";
    return promise.then(() => {
      state.renders += 1;
      state.status = "ready";
      document.body.dataset.state = "ready";
      document.body.dataset.renders = String(state.renders);
      $("status").textContent = "";
    }).catch((error) => {
      state.status = "error";
      document.body.dataset.state = "error";
      $("status").textContent = `could not load: ${error.message}`;
    });
  }

  function toIso(local) { return local ? new Date(local + "Z").toISOString().replace(".000Z", "Z") : ""; }

  async function fetchAll(params) {
    const headers = config.token ? { Authorization: `Bearer ${config.token}` } : {};
    const query = new URLSearchParams(params).toString();
    const base = `${config.api}/models/${encodeURIComponent(config.model)}`;
    const answers = await Promise.all(CHARTS.map(async (name) => {
      const response = await fetch(`${base}/${name}?${query}`, { headers });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
      return [name, body];
    }));
    return Object.fromEntries(answers);
  }

  function liveLoad() {
    const params = {};
    const since = toIso($("since").value), until = toIso($("until").value);
    if (since || until) { if (since) params.since = since; if (until) params.until = until; }
    else if ($("range").value) params.since = $("range").value;
    return finish(fetchAll(params).then((charts) => { state.data = charts; return render(charts); }));
  }

  // The static report has every bucket inline: a range zooms the time axes and the table stays whole.
  function staticLoad() {
    const charts = config.data.charts;
    const end = new Date(charts.volume.until);
    let since = toIso($("since").value), until = toIso($("until").value) || charts.volume.until;
    if (!since && $("range").value) {
      const units = { m: 60, h: 3600, d: 86400 }, preset = $("range").value;
      since = new Date(end.getTime() - parseInt(preset, 10) * units[preset.slice(-1)] * 1000).toISOString();
    }
    const ids = ["chart-volume", "chart-latency", "chart-predictions", "chart-performance", "chart-drift-heatmap", "chart-drift-scores", "chart-timeline"];
    const range = since ? { "xaxis.range": [t(since), t(until)] } : { "xaxis.autorange": true };
    return finish(Promise.all(ids.map((id) => (document.getElementById(id).data ? Plotly.relayout(id, range) : null))));
  }

  function start() {
    if (config.models) {
      $("models").innerHTML = config.models.map((m) =>
        `<a href="${config.root}/models/${encodeURIComponent(m)}${config.token ? "?token=" + encodeURIComponent(config.token) : ""}">${m}</a>`).join("");
    }
    if (config.data) {
      state.data = config.data.charts;
      finish(render(config.data.charts));
      $("range").addEventListener("change", () => { $("since").value = ""; $("until").value = ""; staticLoad(); });
      $("apply").addEventListener("click", staticLoad);
    } else {
      liveLoad();
      $("range").addEventListener("change", () => { $("since").value = ""; $("until").value = ""; liveLoad(); });
      $("apply").addEventListener("click", liveLoad);
    }
  }
  start();
})();
