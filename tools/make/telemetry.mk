# Telemetry benchmark (issue 4): forwarder throughput Kafka -> PostgreSQL and end-to-end lag at a steady
# rate, against its own Kafka broker and PostgreSQL (the integration-test servers; `make setup` first).
# Prints Markdown for docs/benchmarks.md (## Telemetry); asserts nothing, so it is not in CHECK_TARGETS.
BENCH_TELEMETRY_ARGS ?=

.PHONY: bench-telemetry

bench: bench-telemetry

bench-telemetry: venv system
	$(BIN)/python bench/telemetry_forwarder.py $(BENCH_TELEMETRY_ARGS)
