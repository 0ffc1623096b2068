# Scoring service: where a request's time goes, stage by stage, in process (figures only).
.PHONY: bench-scoring-path
bench-scoring-path: venv
	$(BIN)/python bench/scoring_request_path.py

# The gRPC service's Python code from its proto (driftloop_scoring/grpc); a unit test checks it is current.
.PHONY: grpc-proto
grpc-proto: venv
	$(BIN)/python tools/grpc_codegen.py
