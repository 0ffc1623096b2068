# Drift windows benchmark (issue 5): throughput of the window computation, detection delay and
# false alarms on synthetic credit streams. Prints figures and writes bench/results/drift_windows.json;
# asserts nothing, so it is not in CHECK_TARGETS. `make bench-drift BENCH_DRIFT_ARGS=--quick` for a short run.
BENCH_DRIFT_ARGS ?=

.PHONY: bench-drift

bench: bench-drift

bench-drift: venv
	$(BIN)/python bench/drift_windows.py $(BENCH_DRIFT_ARGS)
