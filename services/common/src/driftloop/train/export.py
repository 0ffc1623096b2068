"""A fitted pipeline to one ONNX graph: raw columns in, labels and probabilities (no ZipMap) out."""

from __future__ import annotations

import warnings

import onnx
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
        with warnings.catch_warnings():
            # skl2onnx 1.20's tree converters put Python bools in int fields; protobuf < 7 (pinned)
            # accepts them with a DeprecationWarning per node. Known and harmless here.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="onnx")
            model = convert_sklearn(pipeline, initial_types=initial_types, options=options)
    except Exception as exc:  # the converter raises many types; to us it is one failure
        raise TrainingError(f"ONNX conversion of {type(estimator).__name__} failed: {exc}") from exc
    _restore_input_names(model, contract)
    model.doc_string = f"driftloop {contract.task} model; target {contract.target!r}"
    serialized: bytes = model.SerializeToString()
    return serialized


def _restore_input_names(model: onnx.ModelProto, contract: DataContract) -> None:
    """Give the graph inputs the contract's column names again.

    skl2onnx turns every non-word character of an input name into ``_`` ("mean radius" becomes
    "mean_radius"); the contract promises one input per column under the column's own name.
    """
    graph = model.graph
    renames = {
        graph_input.name: spec.name
        for graph_input, spec in zip(graph.input, contract.columns, strict=True)
        if graph_input.name != spec.name
    }
    if not renames:
        return
    taken = {name for node in graph.node for name in [*node.input, *node.output]} - set(renames)
    clash = sorted(set(renames.values()) & taken)
    if clash:
        raise TrainingError(f"column names {clash} collide with names inside the ONNX graph; rename those columns")
    for graph_input in graph.input:
        graph_input.name = renames.get(graph_input.name, graph_input.name)
    for node in graph.node:
        for position, name in enumerate(node.input):
            if name in renames:
                node.input[position] = renames[name]
