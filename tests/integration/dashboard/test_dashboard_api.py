"""The JSON endpoints behind the charts, over real HTTP: the token, the aggregates, clear 4xx for bad input."""

from __future__ import annotations

import httpx
import pytest
from dashboard_loop import LABELLED_PHASE1, LABELLED_PHASE2, RECORDS_PER_REQUEST, TOKEN, LoopStore

from driftloop.registry import Registry

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_every_route_but_the_library_needs_the_token(controller_url: str) -> None:
    for path in (
        "/dashboard",
        "/dashboard/models/credit",
        "/dashboard/api/models",
        "/dashboard/api/models/credit/volume",
    ):
        answer = httpx.get(f"{controller_url}{path}", follow_redirects=False)
        assert answer.status_code == 401, path
        assert answer.json()["error"]["code"] == "unauthorized"
    assert (
        httpx.get(f"{controller_url}/dashboard/api/models", headers={"Authorization": "Bearer wrong"}).status_code
        == 401
    )
    assert httpx.get(f"{controller_url}/dashboard/assets/plotly.min.js").status_code == 200


def test_aggregates_add_up_to_what_the_loop_stored(loop_store: LoopStore, controller_url: str) -> None:
    base = f"{controller_url}/dashboard/api/models/credit"
    volume = httpx.get(f"{base}/volume", headers=AUTH).json()
    assert sum(volume["requests"]) == loop_store.requests
    assert sum(volume["rejected"]) == 4
    performance = httpx.get(f"{base}/performance", params={"token": TOKEN}).json()
    assert performance["total_labelled"] == (LABELLED_PHASE1 + LABELLED_PHASE2) * RECORDS_PER_REQUEST
    assert all(0.0 <= c <= 1.0 for c in performance["coverage"])
    drift = httpx.get(f"{base}/drift", headers=AUTH).json()
    assert "income" in drift["columns"]
    assert len(drift["psi"]) == len(drift["columns"])
    timeline = httpx.get(f"{base}/timeline", headers=AUTH).json()
    assert [m["kind"] for m in timeline["moves"]] == ["promotion"]
    [job] = timeline["jobs"]
    assert job["outcome"] == "promoted"
    assert job["ci"][0] <= job["gain"] <= job["ci"][1]


def test_the_story_charts_say_what_the_rules_and_the_gate_judged(loop_store: LoopStore, controller_url: str) -> None:
    base = f"{controller_url}/dashboard/api/models/credit"
    holdout = Registry(loop_store.registry).resolve("credit").document("metrics")["holdout"]["roc_auc"]
    # The controller runs the packaged policy: its performance-drop rule judges the training's metric.
    judged = httpx.get(f"{base}/performance", headers=AUTH).json()["judged"]
    assert judged["metric"] == "roc_auc"
    assert judged["rule"] == "performance-drop"
    assert judged["holdout"] == pytest.approx(holdout)
    assert judged["fires_at"] == pytest.approx(holdout * (1 - judged["drop"]), abs=1e-4)
    assert judged["value"]
    assert all(0.0 <= v <= 1.0 for v in judged["value"] if v is not None)

    firings = httpx.get(f"{base}/drift", headers=AUTH).json()["firings"]
    assert firings
    assert {f["rule"] for f in firings} == {"feature-drift"}
    assert all(f["statistic"] == "drift" and f["evidence"] for f in firings)

    view = httpx.get(f"{base}/columns", headers=AUTH).json()
    window, dataset = view["window"], view["dataset"]
    assert window["version"] == 2  # the latest window: the shifted traffic scored by credit@2
    verdicts = [c for c in view["columns"] if c["column"] != "__predictions__" and c["drifted"] is not None]
    assert dataset["judged"] == len(verdicts)
    assert dataset["drifted_columns"] == sum(1 for c in verdicts if c["drifted"])
    assert dataset["share"] == pytest.approx(dataset["drifted_columns"] / dataset["judged"], abs=1e-4)
    assert dataset["threshold"] == 0.5
    assert dataset["drifted"] == (dataset["share"] >= 0.5)
    assert dataset["drifted_columns"] >= 1  # the covariate shift moves income
    for column in view["columns"]:
        assert len(column["bins"]) == len(column["reference"]) == len(column["current"]), column["column"]
        assert sum(column["reference"]) == pytest.approx(1.0, abs=1e-3)
        assert sum(column["current"]) == pytest.approx(1.0, abs=1e-3), column["column"]
        # Small windows: the p-value tests, with the verdict that their score and threshold give.
        assert column["test"] in ("KS test", "chi-squared test"), column
        assert column["drifted"] == (column["score"] < column["threshold"]), column
    income = next(c for c in view["columns"] if c["column"] == "income")
    assert income["drifted"]
    assert income["kind"] == "numeric"
    assert income["score_kind"] == "p-value"


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/credit/volume", {"since": "yesterday-ish"}, 422, "since"),
        ("/credit/volume", {"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, 422, "until"),
        ("/credit/nonsense", {}, 404, "chart"),
        ("/churn/volume", {}, 404, "name"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field(
    controller_url: str, path: str, params: dict[str, str], status: int, field: str
) -> None:
    answer = httpx.get(f"{controller_url}/dashboard/api/models{path}", params=params, headers=AUTH)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["details"]["field"] == field
