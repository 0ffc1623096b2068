"""`helm test`: the release answers a prediction, from inside the cluster.

Liveness, readiness (a model is loaded), the model's metadata, then one prediction: the records in
RECORDS (JSON), or one built from the metadata (0 for numbers and booleans, "helm-test" for
categories, which scoring accepts and counts as unseen). The answer must come from the champion
the metadata names, with one prediction per record. Runs with the scoring image's own Python (no
curl in slim images); sends the first of the API keys as X-API-Key.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

BASE = os.environ["SCORING_URL"]
MODEL = os.environ["MODEL_NAME"]
# DRIFTLOOP_AUTH__API_KEYS is a comma-separated list: any one of its keys will do.
KEY = os.environ.get("API_KEY", "").split(",")[0].strip()
HEADERS = {"X-API-Key": KEY} if KEY else {}


def call(path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {**HEADERS, **({"Content-Type": "application/json"} if data else {})}
    request = urllib.request.Request(BASE + path, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    print(path, response.status, text[:300], flush=True)
    return json.loads(text)


def wait_until_ready(limit_s: float) -> None:
    # `helm test` may follow an install without --wait: give the first model a bounded while.
    give_up = time.monotonic() + limit_s
    while True:
        try:
            call("/v2/health/ready")
            return
        except urllib.error.HTTPError as error:
            if time.monotonic() > give_up:
                sys.exit(f"scoring is not ready after {limit_s:.0f} s: {error.code} {error.read()[:300]!r}")
        time.sleep(2)


def main() -> None:
    call("/v2/health/live")
    wait_until_ready(float(os.environ.get("READY_TIMEOUT_S", "120")))
    metadata = call("/v2/models/" + MODEL)
    records = json.loads(os.environ.get("RECORDS") or "[]") or [
        {tensor["name"]: "helm-test" if tensor["datatype"] == "BYTES" else 0 for tensor in metadata["inputs"]}
    ]
    answer = call(f"/v1/models/{MODEL}/predict", {"records": records})
    champion = metadata["parameters"]["version"]
    if str(answer["version"]) != champion or len(answer["predictions"]) != len(records):
        sys.exit(f"expected {len(records)} predictions from {MODEL}@{champion}, got {answer}")
    print(f"{MODEL}@{champion} answered {len(records)} prediction(s)", flush=True)


if __name__ == "__main__":
    main()
