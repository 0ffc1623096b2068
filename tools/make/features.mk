# Feature engineering (issue 6): the dataset/transform benchmark prints figures and asserts
# nothing, so it is not in CHECK_TARGETS. See docs/benchmarks.md (## Feature engineering).
.PHONY: bench-features

bench: bench-features

bench-features: venv
	$(BIN)/python bench/feature_datasets.py
