"""Derived features: declared in a model's configuration, computed by scikit-learn in training and
by the same ONNX graph in serving (importing this package registers the skl2onnx converters).

Needs the ``driftloop[train]`` extra.
"""

from driftloop.features.converters import register_converters
from driftloop.features.definitions import (
    Bucketize,
    Clip,
    Cross,
    DerivedFeature,
    Log1p,
    Ratio,
    check_definitions,
    parse_definitions,
)
from driftloop.features.transformers import derived_feature_names, derived_transformer

__all__ = [
    "Bucketize",
    "Clip",
    "Cross",
    "DerivedFeature",
    "Log1p",
    "Ratio",
    "check_definitions",
    "derived_feature_names",
    "derived_transformer",
    "parse_definitions",
    "register_converters",
]
