# Training benchmarks (issue 2): they print figures and write them to bench/results/; they assert
# nothing, so they are not in CHECK_TARGETS. bench/.venv-flaml (FLAML, LightGBM, XGBoost) is
# created by bench/train_sweep.py on first use. See docs/benchmarks.md, section Training.
BENCH_TRAIN_ARGS ?=

.PHONY: bench-train bench-onnx-latency

bench: bench-train bench-onnx-latency

bench-train: venv
	$(BIN)/python bench/train_sweep.py $(BENCH_TRAIN_ARGS)

bench-onnx-latency: venv
	$(BIN)/python bench/onnx_latency.py
