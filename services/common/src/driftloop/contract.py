"""The data contract of a model: what goes in, what comes out.

Inferred from the training data (``driftloop.train.dataset``), stored as ``contract.json`` in every
bundle, and enforced by the scoring service on every record. It is plain data with no dependency
on pandas or scikit-learn, so that serving can read it.

The ONNX graph of a bundle has one input per contract column, shaped ``[N, 1]``:
numeric and boolean columns are ``float32`` (booleans as 0/1, missing as NaN); categorical
columns are strings, with a missing value as the empty string ``""``. Classifiers output
``label`` (int64 index into ``class_labels``) and ``probabilities`` (float32, one column per
class label, in the same order); regressors output ``variable`` (float32 ``[N, 1]``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

CONTRACT_SCHEMA_VERSION = 1
MISSING_CATEGORY = ""


class ColumnKind(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"


class Task(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        return self is not Task.REGRESSION


class ColumnSpec(BaseModel):
    """One input column as seen in training."""

    name: str
    kind: ColumnKind
    nullable: bool = Field(description="Whether the column may be missing (null) in a record.")
    categories: list[str] | None = Field(
        default=None, description="Categories seen in training, sorted (categorical columns)."
    )
    minimum: float | None = Field(default=None, description="Smallest value seen in training.")
    maximum: float | None = Field(default=None, description="Largest value seen in training.")
    missing_rate: float = Field(default=0.0, description="Share of missing values in training.")

    @property
    def onnx_type(self) -> str:
        return "string" if self.kind is ColumnKind.CATEGORICAL else "float32"


class DataContract(BaseModel):
    """Inputs, target and task of one model version."""

    schema_version: int = CONTRACT_SCHEMA_VERSION
    columns: list[ColumnSpec]
    target: str
    task: Task
    class_labels: list[str | int | float | bool] | None = Field(
        default=None, description="Class labels in the order of the model's probability outputs."
    )
    dropped_columns: list[str] = Field(
        default_factory=list, description="Columns of the source data that the model does not use."
    )

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [spec.name for spec in self.columns]

    def columns_of(self, kind: ColumnKind) -> list[str]:
        return [spec.name for spec in self.columns if spec.kind is kind]

    def example_record(self) -> dict[str, Any]:
        """A plausible record (OpenAPI examples, warm-up): the first category, the middle of the training range."""
        record: dict[str, Any] = {}
        for spec in self.columns:
            if spec.kind is ColumnKind.CATEGORICAL:
                record[spec.name] = (spec.categories or ["a"])[0]
            elif spec.kind is ColumnKind.BOOLEAN:
                record[spec.name] = True
            else:
                low, high = spec.minimum or 0.0, spec.maximum or 0.0
                record[spec.name] = round((low + high) / 2, 3)
        return record

    def example_label(self) -> Any:
        """A valid ``actual`` for feedback: the first class label of a classifier, a number for a regressor."""
        return self.class_labels[0] if self.class_labels else 0.0

    def save(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2))

    @classmethod
    def load(cls, path: Path) -> DataContract:
        return cls.model_validate_json(path.read_text())
