# Scoring service: where a request's time goes, stage by stage, in process (figures only).
.PHONY: bench-scoring-path
bench-scoring-path: venv
	$(BIN)/python bench/scoring_request_path.py
