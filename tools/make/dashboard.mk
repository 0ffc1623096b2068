# Dashboard load benchmark (issue 8): a week of traffic at 100 requests/s in SQLite, time of the
# JSON endpoints and of the page in headless Chromium. Prints figures; asserts nothing, so it is
# not in CHECK_TARGETS. `make bench-dashboard BENCH_DASHBOARD_ARGS="--days 1"` for a shorter run.
BENCH_DASHBOARD_ARGS ?=

.PHONY: bench-dashboard

bench: bench-dashboard

bench-dashboard: venv
	$(BIN)/python bench/dashboard_load.py $(BENCH_DASHBOARD_ARGS)
