# Drift through the forwarder (issue 5): storage throughput of the forwarder with drift windows on and
# off, embedded bus and SQLite. Prints Markdown for docs/benchmarks.md (## Drift); asserts nothing, so it
# is not in CHECK_TARGETS.
BENCH_DRIFT_FORWARDER_ARGS ?=

.PHONY: bench-drift-forwarder

bench: bench-drift-forwarder

bench-drift-forwarder: venv
	$(BIN)/python bench/drift_forwarder.py $(BENCH_DRIFT_FORWARDER_ARGS)
