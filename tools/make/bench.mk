# Benchmarks (issue 3, Performance): they print figures and write them to bench/results/; they
# assert nothing, so they are not in CHECK_TARGETS. See docs/benchmarking.md.
# The baselines' own virtualenvs (bench/.venv-flask, bench/.venv-mlserver) are created on first
# use; wrk comes from Debian's package (installed by the script when missing).
BENCH_SCORING_ARGS ?=
SOAK_MINUTES ?= 10

.PHONY: bench-scoring bench-scoring-soak

bench: bench-scoring

bench-scoring: venv
	$(BIN)/python bench/scoring/run.py $(BENCH_SCORING_ARGS)

bench-scoring-soak: venv
	$(BIN)/python bench/scoring/soak.py --minutes $(SOAK_MINUTES)
