"""skl2onnx converters for the derived-feature transformers (registered when this module is imported).

Each converter emits the same float32 operations, in the same order, as the transformer's
``transform``: the parity tests hold them to 1e-6. Written with ``container.add_node`` so that
each graph reads like the numpy code beside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import FloatTensorType

from driftloop.features.transformers import (
    BucketizeFeature,
    ClipFeature,
    CrossFeature,
    Log1pFeature,
    RatioFeature,
    _Derived,
)


class _Graph:
    """Small helpers over skl2onnx's scope and container for one operator."""

    def __init__(self, scope: Any, operator: Any, container: Any) -> None:
        self.scope, self.operator, self.container = scope, operator, container

    def node(self, op_type: str, inputs: list[str], domain: str = "", version: int | None = None, **attrs: Any) -> str:
        output: str = self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(
            op_type,
            inputs,
            [output],
            name=self.scope.get_unique_operator_name(op_type),
            op_domain=domain,
            op_version=version,
            **attrs,
        )
        return output

    def const(self, values: Any, dtype: Any, shape: list[int]) -> str:
        name: str = self.scope.get_unique_variable_name("const")
        proto = {np.float32: TensorProto.FLOAT, np.int64: TensorProto.INT64, np.bool_: TensorProto.BOOL}[dtype]
        flat = np.asarray(values, dtype=dtype).ravel().tolist()
        self.container.add_initializer(name, proto, shape, flat)
        return name

    def column(self, index: int) -> str:
        """Column ``index`` of the input block, as ``[N, 1]``."""
        source = self.operator.inputs[0].full_name
        if self.operator.inputs[0].type.shape[1] == 1:
            return str(source)
        return self.node("Gather", [source, self.const([index], np.int64, [1])], axis=1)

    def not_finite(self, values: str) -> str:
        return self.node("Or", [self.node("IsNaN", [values]), self.node("IsInf", [values])])

    def finish(self, values: str, bad: str, missing: float) -> None:
        """Output ``values`` with ``missing`` where ``bad`` is true."""
        missing_value = self.const([missing], np.float32, [1])
        self.container.add_node(
            "Where",
            [bad, missing_value, values],
            [self.operator.outputs[0].full_name],
            name=self.scope.get_unique_operator_name("Where"),
        )


def _convert_ratio(scope: Any, operator: Any, container: Any) -> None:
    graph = _Graph(scope, operator, container)
    ratio = graph.node("Div", [graph.column(0), graph.column(1)])
    graph.finish(ratio, graph.not_finite(ratio), operator.raw_operator.missing)


def _convert_log1p(scope: Any, operator: Any, container: Any) -> None:
    graph = _Graph(scope, operator, container)
    shifted = graph.node("Add", [graph.column(0), graph.const([1.0], np.float32, [1])])
    result = graph.node("Log", [shifted])
    graph.finish(result, graph.not_finite(result), operator.raw_operator.missing)


def _convert_clip(scope: Any, operator: Any, container: Any) -> None:
    graph = _Graph(scope, operator, container)
    model: ClipFeature = operator.raw_operator
    x = graph.column(0)
    result = x
    if model.lower is not None:
        result = graph.node("Max", [result, graph.const([model.lower], np.float32, [1])])
    if model.upper is not None:
        result = graph.node("Min", [result, graph.const([model.upper], np.float32, [1])])
    # Max/Min on NaN differ between runtimes; the input's own NaN mask decides, as in numpy.
    bad = graph.node("Or", [graph.node("IsNaN", [x]), graph.not_finite(result)])
    graph.finish(result, bad, model.missing)


def _convert_bucketize(scope: Any, operator: Any, container: Any) -> None:
    graph = _Graph(scope, operator, container)
    model: BucketizeFeature = operator.raw_operator
    x = graph.column(0)
    edges = graph.const(list(model.edges), np.float32, [1, len(model.edges)])
    # Not(Less) rather than GreaterOrEqual: it exists from opset 9; NaN rows are masked below.
    at_or_above = graph.node("Cast", [graph.node("Not", [graph.node("Less", [x, edges])])], to=TensorProto.FLOAT)
    # A product with a column of ones sums each row exactly (small integers) without ReduceSum's opset quirks.
    ones = graph.const(np.ones(len(model.edges)), np.float32, [len(model.edges), 1])
    count = graph.node("MatMul", [at_or_above, ones])
    graph.finish(count, graph.node("IsNaN", [x]), model.missing)


def _convert_cross(scope: Any, operator: Any, container: Any) -> None:
    graph = _Graph(scope, operator, container)
    model: CrossFeature = operator.raw_operator
    indices = []
    for position, categories in enumerate([model.left_categories, model.right_categories]):
        indices.append(
            graph.node(
                "LabelEncoder",
                [graph.column(position)],
                domain="ai.onnx.ml",
                version=2,
                keys_strings=list(categories),
                values_int64s=list(range(1, len(categories) + 1)),
                default_int64=0,
            )
        )
    stride = graph.const([len(model.right_categories) + 1], np.int64, [1])
    codes = graph.node("Add", [graph.node("Mul", [indices[0], stride]), indices[1]])
    pair_codes = model.pair_codes()
    equal = graph.node("Equal", [codes, graph.const(pair_codes, np.int64, [1, len(pair_codes)])])
    container.add_node(
        "Cast",
        [equal],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Cast"),
        to=TensorProto.FLOAT,
    )


def _shape(operator: Any) -> None:
    model: _Derived = operator.raw_operator
    rows = operator.inputs[0].type.shape[0]
    operator.outputs[0].type = FloatTensorType([rows, len(model.get_feature_names_out())])


_CONVERTERS = {
    RatioFeature: _convert_ratio,
    Log1pFeature: _convert_log1p,
    ClipFeature: _convert_clip,
    BucketizeFeature: _convert_bucketize,
    CrossFeature: _convert_cross,
}


def register_converters() -> None:
    """Teach skl2onnx the derived-feature transformers (idempotent)."""
    for model, convert in _CONVERTERS.items():
        update_registered_converter(model, f"Driftloop{model.__name__}", _shape, convert)


register_converters()
