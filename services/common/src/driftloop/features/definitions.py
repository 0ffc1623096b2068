"""Derived features, declared in a model's configuration (YAML-friendly pydantic models).

Each definition names its output and its input columns; ``kind`` selects the computation::

    derived:
      - {kind: ratio, name: debt_to_income, numerator: debt, denominator: income}
      - {kind: log1p, name: log_income, column: income}
      - {kind: clip, name: age_clipped, column: age, lower: 18, upper: 90}
      - {kind: bucketize, name: age_band, column: age, edges: [25, 35, 50, 65]}
      - {kind: cross, name: purpose_x_housing, left: purpose, right: housing}

A result that is missing or not finite (a missing input, a zero denominator, log1p of a value
at or below -1) is replaced by the definition's ``missing`` value, so the estimator never sees
NaN from a derived feature. Every computation is float32, as in the ONNX graph.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from driftloop.contract import ColumnKind, DataContract
from driftloop.errors import ConfigError

# A cross makes one output column per pair of categories; beyond this it is a mistake, not a feature.
MAX_CROSS_COLUMNS = 256


class _Definition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Output column name (a word: it becomes part of the ONNX graph's names)."""
    missing: float = 0.0
    """Value of the feature when its input is missing or the result is not finite."""

    @property
    def inputs(self) -> list[str]:
        raise NotImplementedError


class Ratio(_Definition):
    """numerator / denominator; a zero denominator gives ``missing``."""

    kind: Literal["ratio"] = "ratio"
    numerator: str
    denominator: str

    @property
    def inputs(self) -> list[str]:
        return [self.numerator, self.denominator]


class Log1p(_Definition):
    """log(1 + x); x at or below -1 gives ``missing``."""

    kind: Literal["log1p"] = "log1p"
    column: str

    @property
    def inputs(self) -> list[str]:
        return [self.column]


class Clip(_Definition):
    """x bounded to [lower, upper] (either bound may be absent)."""

    kind: Literal["clip"] = "clip"
    column: str
    lower: float | None = None
    upper: float | None = None

    @property
    def inputs(self) -> list[str]:
        return [self.column]


class Bucketize(_Definition):
    """The number of edges at or below x: 0 below the first edge, len(edges) from the last one."""

    kind: Literal["bucketize"] = "bucketize"
    column: str
    edges: list[float] = Field(min_length=1)
    missing: float = -1.0

    @field_validator("edges")
    @classmethod
    def _increasing(cls, edges: list[float]) -> list[float]:
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError("edges must be strictly increasing")
        return edges

    @property
    def inputs(self) -> list[str]:
        return [self.column]


class Cross(_Definition):
    """One-hot of the pair (left, right) over every pair of the contract's categories.

    A pair with a category never seen in training (or a missing value) encodes as all zeros.
    """

    kind: Literal["cross"] = "cross"
    left: str
    right: str

    @property
    def inputs(self) -> list[str]:
        return [self.left, self.right]


DerivedFeature = Annotated[Ratio | Log1p | Clip | Bucketize | Cross, Field(discriminator="kind")]
_DEFINITIONS = TypeAdapter(list[DerivedFeature])


def parse_definitions(data: object) -> list[DerivedFeature]:
    """A list of plain dicts (parsed YAML or JSON) to definitions; ConfigError names the problem."""
    try:
        return _DEFINITIONS.validate_python(data or [])
    except ValueError as exc:
        raise ConfigError(f"invalid derived-feature definitions: {exc}") from None


def check_definitions(definitions: Sequence[DerivedFeature], contract: DataContract) -> None:
    """Each definition's inputs exist in the contract with the kind it needs; names are unique."""
    seen: set[str] = set(contract.column_names)
    for definition in definitions:
        if definition.name in seen:
            raise ConfigError(
                f"derived feature {definition.name!r} clashes with another column or feature",
                details={"feature": definition.name},
            )
        seen.add(definition.name)
        wanted = {ColumnKind.CATEGORICAL} if isinstance(definition, Cross) else {ColumnKind.NUMERIC, ColumnKind.BOOLEAN}
        for column in definition.inputs:
            try:
                kind = contract.column(column).kind
            except KeyError:
                raise ConfigError(
                    f"derived feature {definition.name!r} uses column {column!r}, which the model does not have",
                    details={"feature": definition.name, "column": column},
                ) from None
            if kind not in wanted:
                raise ConfigError(
                    f"derived feature {definition.name!r} ({definition.kind}) cannot use {kind} column {column!r}",
                    details={"feature": definition.name, "column": column},
                )
        if isinstance(definition, Cross):
            size = len(cross_pairs(definition, contract))
            if size == 0:
                raise ConfigError(
                    f"cross {definition.name!r} has no pairs: its columns have no categories in the contract",
                    details={"feature": definition.name},
                )
            if size > MAX_CROSS_COLUMNS:
                raise ConfigError(
                    f"cross {definition.name!r} would make {size} columns (at most {MAX_CROSS_COLUMNS})",
                    details={"feature": definition.name},
                )


def cross_pairs(definition: Cross, contract: DataContract) -> list[tuple[str, str]]:
    """The pairs a cross encodes, in output-column order."""
    left = contract.column(definition.left).categories or []
    right = contract.column(definition.right).categories or []
    return [(a, b) for a in left for b in right]
