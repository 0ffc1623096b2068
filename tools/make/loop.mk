# The whole loop (issue 6): `make demo` runs it for people; the end-to-end tests (tests/e2e) run in
# `make test`. The loop benchmark prints figures and asserts nothing, so it is not in
# CHECK_TARGETS. See docs/demo.md and docs/benchmarks.md (## Loop).
.PHONY: bench-loop

bench: bench-loop

bench-loop: venv
	$(BIN)/python bench/loop_demo.py
