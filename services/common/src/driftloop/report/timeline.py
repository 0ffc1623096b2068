"""The model version timeline: versions, champion moves (promotions, rollbacks) and retrain jobs.

Alias moves come from the registry's ``history.jsonl``; retrain jobs, with their trigger and
the gate's decision (gain and its confidence interval), from ``retrain_jobs``. The charts mark
every champion move as a vertical line.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, inspect

from driftloop.registry import CHAMPION, Registry
from driftloop.report.timerange import TimeRange, iso
from driftloop.store.jobs import JobStore


def timeline(engine: Engine, registry: Registry, model: str, rng: TimeRange) -> dict[str, Any]:
    moves = [_move(entry) for entry in registry.history(model) if entry.get("alias") == CHAMPION]
    in_range = [m for m in moves if rng.since <= m["_moment"] < rng.until]
    before = [m for m in moves if m["_moment"] < rng.since]
    jobs = []
    if inspect(engine).has_table("retrain_jobs"):
        for job in JobStore(engine).recent(model, limit=500):
            created = job.created_at if job.created_at.tzinfo else job.created_at.replace(tzinfo=UTC)
            if rng.since <= created < rng.until:
                jobs.append(_job(job.to_dict()))
    jobs.reverse()  # oldest first, like the moves
    return {
        **rng.to_dict(),
        "versions": registry.versions(model),
        "champion": registry.aliases(model).get(CHAMPION),
        "champion_at_start": before[-1]["version"] if before else None,
        "moves": [{k: v for k, v in m.items() if not k.startswith("_")} for m in in_range],
        "jobs": jobs,
    }


def _move(entry: dict[str, Any]) -> dict[str, Any]:
    moment = datetime.fromtimestamp(float(entry["time"]), UTC)
    kind = "rollback" if "rollback_of" in entry else ("first" if entry.get("previous") is None else "promotion")
    return {
        "time": iso(moment),
        "_moment": moment,
        "kind": kind,
        "version": entry.get("version"),
        "previous": entry.get("previous"),
        "reason": entry.get("reason", ""),
    }


def _job(job: dict[str, Any]) -> dict[str, Any]:
    decision = job.get("decision") or {}
    return {
        "id": job["id"],
        "time": job["created_at"],
        "finished_at": job["finished_at"],
        "state": job["state"],
        "trigger": job["trigger"],
        "challenger_version": job["challenger_version"],
        "outcome": decision.get("outcome"),
        "metric": decision.get("metric"),
        "gain": decision.get("gain"),
        "ci": decision.get("ci"),
        "confidence": decision.get("confidence"),
        "reasons": decision.get("reasons", []),
        "error": job["error"],
    }
