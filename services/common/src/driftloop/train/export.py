"""A fitted pipeline to one ONNX graph: raw columns in, labels and probabilities (no ZipMap) out."""

from __future__ import annotations

from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline

from driftloop.contract import ColumnKind, DataContract
from driftloop.errors import TrainingError


def export_onnx(pipeline: Pipeline, contract: DataContract) -> bytes:
    initial_types = [
        (spec.name, StringTensorType([None, 1]) if spec.kind is ColumnKind.CATEGORICAL else FloatTensorType([None, 1]))
        for spec in contract.columns
    ]
    estimator = pipeline.steps[-1][1]
    options = {id(estimator): {"zipmap": False}} if is_classifier(estimator) else None
    try:
        model = convert_sklearn(pipeline, initial_types=initial_types, options=options)
    except Exception as exc:  # the converter raises many types; to us it is one failure
        raise TrainingError(f"ONNX conversion of {type(estimator).__name__} failed: {exc}") from exc
    model.doc_string = f"driftloop {contract.task} model; target {contract.target!r}"
    serialized: bytes = model.SerializeToString()
    return serialized
