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
  const CHARTS = ["volume", "latency", "predictions", "drift", "performance", "timeline"];
  const state = { status: "loading", data: null, renders: 0 };
  window.driftloop = state;

  const $ = (id) => document.getElementById(id);
  const t = (iso) => iso.replace(/(Z|[+]00:00)$/, "").replace("T", " ");  // Plotly dates: UTC wall time

  function layout(extra) {
    return Object.assign({
      margin: { l: 55, r: 55, t: 10, b: 40 }, hovermode: "x unified", showlegend: true,
      legend: { orientation: "h", y: -0.2 }, font: { size: 12 },
      xaxis: { type: "date", title: { text: "UTC" } },
    }, extra);
  }

  function markers(timeline) {
    const shapes = [], annotations = [];
    for (const move of (timeline && timeline.moves) || []) {
      const colour = move.kind === "rollback" ? C.red : move.kind === "promotion" ? C.green : C.grey;
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: t(move.time), x1: t(move.time), y0: 0, y1: 1,
                    line: { color: colour, width: 2, dash: "dash" } });
      annotations.push({ xref: "x", yref: "paper", x: t(move.time), y: 1, yanchor: "top", xanchor: "left", showarrow: false,
                         bgcolor: "rgba(255,255,255,0.8)",
                         text: move.kind === "rollback" ? `rollback to v${move.version}` : `v${move.version}`,
                         font: { color: colour, size: 11 } });
    }
    return { shapes, annotations };
  }

  function empty(div, what) {
    Plotly.react(div, [], layout({ xaxis: { visible: false }, yaxis: { visible: false },
      annotations: [{ text: what, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }] }), PLOT);
  }

  function draw(div, traces, extra, timeline) {
    const m = markers(timeline);
    const base = layout(extra);
    base.shapes = (base.shapes || []).concat(m.shapes);
    base.annotations = (base.annotations || []).concat(m.annotations);
    return Plotly.react(div, traces, base, PLOT);
  }

  function volume(d, tl) {
    if (!d.time.length) return empty("chart-volume", "no requests in this range");
    const x = d.time.map(t);
    return draw("chart-volume", [
      { name: "requests / s", x, y: d.requests_per_second, type: "scatter", mode: "lines+markers", line: { color: C.blue } },
      { name: "refused requests", x, y: d.rejected, type: "bar", yaxis: "y2", marker: { color: C.red }, opacity: 0.6 },
    ], { yaxis: { title: { text: "requests / s" }, rangemode: "tozero" },
         yaxis2: { title: { text: "refused" }, overlaying: "y", side: "right", rangemode: "tozero", showgrid: false } }, tl);
  }

  function latency(d, tl) {
    if (!d.time.length) return empty("chart-latency", "no requests in this range");
    const x = d.time.map(t);
    return draw("chart-latency", [["p50", C.blue], ["p95", C.orange], ["p99", C.red]].map(([k, colour]) =>
      ({ name: k, x, y: d[k], type: "scatter", mode: "lines+markers", line: { color: colour } })),
      { yaxis: { title: { text: "ms" }, rangemode: "tozero" } }, tl);
  }

  function predictions(d, tl) {
    if (!d.time.length) return empty("chart-predictions", "no predictions in this range");
    const x = d.time.map(t);
    if (d.kind === "mean") {
      return draw("chart-predictions", [{ name: "mean prediction", x, y: d.mean, type: "scatter", mode: "lines+markers",
                                          line: { color: C.blue } }], { yaxis: { title: { text: "mean" } } }, tl);
    }
    const traces = Object.keys(d.shares).map((label, i) => ({ name: `class ${label}`, x, y: d.shares[label],
      type: "scatter", mode: "lines", stackgroup: "shares", line: { color: SERIES[i % SERIES.length] } }));
    return draw("chart-predictions", traces, { yaxis: { title: { text: "share" }, range: [0, 1], tickformat: ".0%" } }, tl);
  }

  function performance(d, tl) {
    if (!d.time.length || !d.total_labelled) return empty("chart-performance", "no labelled predictions in this range");
    const x = d.time.map(t);
    return draw("chart-performance", [
      { name: d.metric, x, y: d.value, type: "scatter", mode: "lines+markers", connectgaps: false, line: { color: C.blue } },
      { name: "label coverage", x, y: d.coverage, type: "bar", yaxis: "y2", marker: { color: C.sky }, opacity: 0.45 },
    ], { yaxis: { title: { text: d.metric } },
         yaxis2: { title: { text: "coverage" }, overlaying: "y", side: "right", range: [0, 1], tickformat: ".0%", showgrid: false } }, tl);
  }

  function driftCharts(d, tl) {
    if (!d.time.length) {
      empty("chart-drift-heatmap", "no drift windows in this range");
      return empty("chart-drift-scores", "no drift windows in this range");
    }
    const x = d.time.map(t);
    const top = Math.max(0.3, ...d.psi.flat().filter((v) => v !== null));
    draw("chart-drift-heatmap", [{ type: "heatmap", x, y: d.columns, z: d.psi, zmin: 0, zmax: top,
      colorscale: "Cividis", reversescale: true, colorbar: { title: { text: "PSI" } }, hoverongaps: false,
      hovertemplate: "%{y}<br>%{x}<br>PSI %{z:.3f}<extra></extra>" }],
      { margin: { l: 130, r: 20, t: 10, b: 40 }, hovermode: "closest", showlegend: false }, tl);
    const traces = [];
    d.scores.forEach((s, i) => {
      const colour = SERIES[i % SERIES.length];
      const sx = s.time.map(t);
      traces.push({ name: s.column, legendgroup: s.column, x: sx, y: s.score, type: "scatter", mode: "lines+markers", line: { color: colour } });
      if (s.threshold !== null && sx.length) {
        traces.push({ name: `${s.column} threshold`, legendgroup: s.column, showlegend: false, x: [sx[0], sx[sx.length - 1]],
                      y: [s.threshold, s.threshold], type: "scatter", mode: "lines", line: { color: colour, dash: "dot" } });
      }
    });
    return draw("chart-drift-scores", traces, { yaxis: { title: { text: "score (log)" }, type: "log", exponentformat: "power" } }, tl);
  }

  function timeline(d) {
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
      yaxis2: { title: { text: "champion version" }, overlaying: "y", side: "right", dtick: 1, showgrid: false } }, d);
  }

  function jobsTable(d) {
    const rows = d.jobs.slice().reverse().map((j) => {
      const ci = j.ci ? `[${j.ci[0].toFixed(4)}, ${j.ci[1].toFixed(4)}]` : "";
      const gain = j.gain === null || j.gain === undefined ? "" : j.gain.toFixed(4);
      const cells = [t(j.time).slice(0, 19), j.trigger, j.state, j.outcome || "", j.metric || "", gain, ci,
                     j.challenger_version === null ? "" : `v${j.challenger_version}`, (j.reasons || []).join("; ") || j.error || ""];
      return "<tr>" + cells.map((c) => `<td>${String(c).replace(/&/g, "&amp;").replace(/</g, "&lt;")}</td>`).join("") + "</tr>";
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
      `${p.total_labelled} labelled; champion v${tl.champion}; ${tl.jobs.length} retrain jobs, ${tl.moves.length} champion changes`;
  }

  function render(charts) {
    const tl = charts.timeline;
    const done = [volume(charts.volume, tl), latency(charts.latency, tl), predictions(charts.predictions, tl),
                  performance(charts.performance, tl), driftCharts(charts.drift, tl), timeline(tl)];
    jobsTable(tl);
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
