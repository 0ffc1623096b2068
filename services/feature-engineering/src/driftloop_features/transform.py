"""The transform: raw records to the champion's canonical model frame plus the derived features."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from driftloop.contract import DataContract
from driftloop.errors import ConfigError
from driftloop.features import DerivedFeature, derived_feature_names, derived_transformer, parse_definitions
from driftloop.registry import Bundle, Registry
from driftloop.train.frame import model_frame
from driftloop_features.records import records_frame


def bundle_definitions(bundle: Bundle, files: Mapping[str, Path]) -> list[DerivedFeature]:
    """A model's derived features: those its training recorded (lineage ``parameters.derived``),
    else the YAML file configured for the model (a list, or a mapping with a ``derived`` key), else none."""
    lineage_path = bundle.path / "lineage.json"
    if lineage_path.exists():
        recorded = bundle.document("lineage").get("parameters", {}).get("derived")
        if recorded:
            return parse_definitions(recorded)
    path = files.get(bundle.name)
    if path is None:
        return []
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the derived features of {bundle.name!r} from {path}: {exc}") from None
    return parse_definitions(data.get("derived") if isinstance(data, dict) else data)


def engineer(frame: pd.DataFrame, contract: DataContract, definitions: Sequence[DerivedFeature]) -> pd.DataFrame:
    """Canonical model frame (float32-rounded numerics, "" for a missing category) and derived columns."""
    canonical = model_frame(frame, contract)
    if not definitions:
        return canonical
    derived = derived_transformer(definitions, contract).fit(canonical).transform(canonical)
    names = derived_feature_names(definitions, contract)
    return pd.concat([canonical, pd.DataFrame(derived, columns=names, index=canonical.index)], axis=1)


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready records: NaN becomes null."""
    plain = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for row in plain.to_dict(orient="records")
    ]


class Transformer:
    """Engineered features for batch consumers, from the model's champion in the registry."""

    def __init__(self, registry: Registry, definition_files: Mapping[str, Path]) -> None:
        self.registry = registry
        self.definition_files = definition_files

    def transform(self, model: str, records: Sequence[Any]) -> dict[str, Any]:
        bundle = self.registry.resolve(model)
        definitions = bundle_definitions(bundle, self.definition_files)
        frame = records_frame(records, bundle.contract)
        engineered = engineer(frame, bundle.contract, definitions)
        return {
            "model": model,
            "version": bundle.version,
            "columns": [str(c) for c in engineered.columns],
            "derived": derived_feature_names(definitions, bundle.contract),
            "records": frame_records(engineered),
        }
