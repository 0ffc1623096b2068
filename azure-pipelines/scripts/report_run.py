"""The retrain pipeline reports the end of its run to the retrain-controller (standard library only):

    ADMIN_TOKEN=... [DECISION='{...}'] python3 report_run.py --controller http://localhost:18083 \
        --job <job id> --run-id <Build.BuildId> --url <run page> --result succeeded --outcome rejected

``POST /v1/jobs/{job}/pipeline-run`` with the admin token (the controller's other writes take the
same): the job's record then shows the run (id, URL, result) and the outcome; ``DECISION`` is the
gate's decision from the Gate stage. A refused report fails the step, with the controller's answer.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from typing import Any


def report(args: argparse.Namespace, token: str, decision: str) -> dict[str, Any]:
    body: dict[str, Any] = {"run_id": args.run_id, "result": args.result, "url": args.url or None}
    if args.outcome:
        body["outcome"] = args.outcome
    # Azure Pipelines leaves a macro it cannot expand as its text ("$(challengerVersion)"): not a value.
    if args.challenger_version.isdigit():
        body["challenger_version"] = int(args.challenger_version)
    if args.message:
        body["message"] = args.message
    if decision.startswith("{"):
        body["decision"] = json.loads(decision)
    request = urllib.request.Request(
        f"{args.controller.rstrip('/')}/v1/jobs/{args.job}/pipeline-run",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"the controller refused the report ({exc.code}): {exc.read().decode()[:500]}") from None
    except urllib.error.URLError as exc:
        raise SystemExit(f"could not reach the controller at {args.controller}: {exc.reason}") from None
    return answer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--controller", required=True, help="the retrain-controller's base URL")
    parser.add_argument("--job", required=True, help="the retrain job the run was handed")
    parser.add_argument("--run-id", required=True, type=int)
    parser.add_argument("--url", default="")
    parser.add_argument("--result", required=True, choices=["succeeded", "failed", "canceled"])
    parser.add_argument("--outcome", default="", choices=["", "promoted", "rejected"])
    parser.add_argument("--challenger-version", default="")
    parser.add_argument("--message", default="")
    args = parser.parse_args(argv)
    job = report(args, os.environ.get("ADMIN_TOKEN", ""), os.environ.get("DECISION", ""))
    outcome = (job.get("decision") or {}).get("outcome")
    print(f"reported run {args.run_id} ({args.result}) to job {job['id']}: now {job['state']}, {outcome}")


if __name__ == "__main__":
    main()
