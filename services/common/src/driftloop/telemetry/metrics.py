"""Prometheus metrics of the telemetry publisher (``driftloop_telemetry_*``), labelled by source.

Defined once per process (prometheus_client refuses duplicate names); every publisher counts
into them with its own ``source`` label as well as into its own :class:`PublisherStats`. With
several scoring workers (driftloop/metrics_workers.py) the gauges merge as their
``multiprocess_mode`` says: what waits, summed over the live workers; whether relay and bus are up,
the worst of them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_SENT = Counter("driftloop_telemetry_events_sent", "Events acknowledged by the bus.", ["source"])
EVENTS_SPILLED = Counter(
    "driftloop_telemetry_events_spilled", "Events written to the local spill file while the bus was away.", ["source"]
)
EVENTS_REPLAYED = Counter(
    "driftloop_telemetry_events_replayed", "Spilled events sent to the bus once it came back.", ["source"]
)
EVENTS_DROPPED = Counter(
    "driftloop_telemetry_events_dropped",
    "Events lost: buffer and spill file both full.",
    ["source"],
)
BUFFER_DEPTH = Gauge(
    "driftloop_telemetry_buffer_depth", "Events waiting in memory to be sent.", ["source"], multiprocess_mode="livesum"
)
SPILL_BYTES = Gauge(
    "driftloop_telemetry_spill_bytes",
    "Bytes in the spill file not yet replayed.",
    ["source"],
    multiprocess_mode="livesum",
)
RELAY_UP = Gauge(
    "driftloop_telemetry_relay_up",
    "1 while events go through the relay process, 0 once this process publishes them itself.",
    ["source"],
    multiprocess_mode="livemin",
)
BUS_UP = Gauge(
    "driftloop_telemetry_bus_up",
    "1 while the last send to the bus succeeded.",
    ["source"],
    multiprocess_mode="livemin",
)
SEND_SECONDS = Histogram(
    "driftloop_telemetry_send_seconds",
    "Time to send one batch to the bus and have it acknowledged.",
    ["source"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
