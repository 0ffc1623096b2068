"""Settings of the feature-engineering service: ``DRIFTLOOP_`` environment variables, groups with ``__``."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from driftloop.http.settings import ApiKeys, BodyLimits
from driftloop.settings import DEFAULT_HOME, ServiceSettings
from driftloop.store.settings import StoreSettings
from driftloop_features.strategy import QualityGate, Strategy


class FeaturesGroup(BaseModel):
    sources: dict[str, Path] = Field(default_factory=dict)
    """Source data (CSV/Parquet) per model, a JSON map: DRIFTLOOP_FEATURES__SOURCES='{"credit": "credit.csv"}'."""
    datasets_dir: Path = DEFAULT_HOME / "datasets"
    """Where dataset snapshots (Parquet) and their manifests are written."""
    definitions: dict[str, Path] = Field(default_factory=dict)
    """Derived-feature YAML per model, for models whose bundle does not record its own."""
    gate: QualityGate = Field(default_factory=QualityGate)
    """Default quality gate (DRIFTLOOP_FEATURES__GATE__MIN_TRAIN_ROWS=500, ...)."""
    strategy: Strategy = Field(default_factory=Strategy)
    """Default strategy for a request without one (DRIFTLOOP_FEATURES__STRATEGY__KIND=recent, ...)."""


class FeaturesLimits(BodyLimits):
    max_records: int = Field(default=10_000, ge=1)
    """Most records one /v1/transform request may carry (more: a 413 naming the field)."""


class FeaturesSettings(ServiceSettings):
    """Settings of the feature-engineering service."""

    port: int = 8081
    """Port the service listens on."""
    store: StoreSettings = Field(default_factory=StoreSettings)
    """The SQL store with predictions and feedback (DRIFTLOOP_STORE__URL)."""
    features: FeaturesGroup = Field(default_factory=FeaturesGroup)
    """Sources, the datasets directory and derived-feature definitions."""
    auth: ApiKeys = Field(default_factory=ApiKeys)
    """API keys for /v1/transform, /v1/datasets and the OpenAPI document (DRIFTLOOP_AUTH__API_KEYS)."""
    limits: FeaturesLimits = Field(default_factory=FeaturesLimits)
    """Body size and record-count limits (DRIFTLOOP_LIMITS__MAX_BODY_BYTES, DRIFTLOOP_LIMITS__MAX_RECORDS)."""
