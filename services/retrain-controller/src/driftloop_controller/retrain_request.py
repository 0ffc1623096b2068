"""From a retrain request (the webhook body) and the policy to the dataset request a job sends.

A firing backed by a detected concept change carries ``"change_point": {"time": "<RFC 3339>",
"labelled": <labelled records since it>}`` (``null`` or absent otherwise). Then the training set
follows the change (strategy ``since_change`` at that time, with the policy's holdout, floor and
weights); otherwise it is the policy's default strategy. The body is checked when the request
arrives, so a malformed change point is a 422 naming the field, never a job that fails later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from driftloop.errors import InvalidInputError
from driftloop.policy import RetrainPolicy


class ChangePoint(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the forwarder may tell more than the controller needs

    time: AwareDatetime
    """Where the detector estimates the change began (event time, RFC 3339 with an offset)."""
    labelled: int | None = Field(default=None, ge=0)
    """Labelled records since then, when the forwarder counts them."""


@dataclass(frozen=True)
class DatasetPlan:
    body: dict[str, Any]
    """Everything of the ``POST /v1/datasets`` body but the model."""
    change_point: ChangePoint | None

    def describe(self) -> str:
        if self.change_point is None:
            return f"the policy's default strategy ({self.body['strategy']['kind']})"
        labelled = self.change_point.labelled
        since = f", {labelled} labelled records since" if labelled is not None else ""
        return f"since the change point at {self.change_point.time.isoformat()}{since}"


def change_point(request: dict[str, Any]) -> ChangePoint | None:
    """The request's change point; InvalidInputError naming ``change_point.<field>`` when it is malformed."""
    value = request.get("change_point")
    if value is None:
        return None
    try:
        return ChangePoint.model_validate(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(["change_point", *(str(part) for part in error["loc"])])
        raise InvalidInputError(f"field {field!r}: {error['msg']}", details={"field": field}) from None


def dataset_plan(policy: RetrainPolicy, request: dict[str, Any]) -> DatasetPlan:
    point = change_point(request)
    strategy = policy.dataset if point is None else policy.dataset.since_change(point.time)
    body: dict[str, Any] = {"strategy": strategy.model_dump(mode="json", exclude_none=True)}
    if policy.quality is not None:
        body["gate"] = policy.quality.model_dump(mode="json")
    return DatasetPlan(body, point)
