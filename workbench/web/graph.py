"""The classifier's graph cut at its embedding: the input of the final layer.

Every architecture we train ends in one fully connected layer, exported as a ``Gemm`` whose
first input is the pooled embedding (in an int8 export, wrapped in QuantizeLinear and
DequantizeLinear). The web app's model gets that embedding as a second output, ``embedding``, so
one run gives the probabilities and what a personalised head needs; a personalised model is the
graph up to the embedding with a new ``Gemm``. Pure ONNX: no torch, no checkpoint.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.utils import Extractor

from workbench.errors import WorkbenchError

EMBEDDING, LOGITS = "embedding", "logits"
_QDQ = ("QuantizeLinear", "DequantizeLinear")


def _producers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {out: node for node in model.graph.node for out in node.output}


def _through_qdq(name: str, producers: dict[str, onnx.NodeProto]) -> str:
    """The float tensor behind a chain of QuantizeLinear/DequantizeLinear (an int8 export's)."""
    while name in producers and producers[name].op_type in _QDQ:
        name = producers[name].input[0]
    return name


def final_layer(model: onnx.ModelProto) -> onnx.NodeProto:
    """The ``Gemm`` that makes the logits, or a WorkbenchError naming what was found instead."""
    producers = _producers(model)
    node = producers.get(_through_qdq(model.graph.output[0].name, producers))
    if node is None or node.op_type != "Gemm":
        found = node.op_type if node is not None else "no node"
        raise WorkbenchError(
            f"the model's logits come from {found}, not a final Gemm layer: it cannot be personalised"
        )
    return node


def embedding_tensor(model: onnx.ModelProto) -> str:
    """The name of the tensor the final layer reads: the backbone's embedding."""
    return _through_qdq(final_layer(model).input[0], _producers(model))


def with_embedding_output(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` that also outputs its embedding as ``embedding`` (batch x D)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    name = embedding_tensor(model)
    out.graph.node.append(helper.make_node("Identity", [name], [EMBEDDING], name="embedding_output"))
    batch = model.graph.input[0].type.tensor_type.shape.dim[0].dim_param or "batch"
    out.graph.output.append(
        helper.make_tensor_value_info(EMBEDDING, onnx.TensorProto.FLOAT, [batch, _embedding_size(model)])
    )
    return out


def _embedding_size(model: onnx.ModelProto) -> int:
    weight, _ = head_weights(model)
    return int(weight.shape[1])


def head_weights(model: onnx.ModelProto) -> tuple[np.ndarray, np.ndarray]:
    """The final layer's weight (classes x D) and bias (classes), dequantized if need be."""
    gemm = final_layer(model)
    producers = _producers(model)
    initializers = {i.name: i for i in model.graph.initializer}
    attributes = {a.name: helper.get_attribute_value(a) for a in gemm.attribute}
    weight = _constant(gemm.input[1], producers, initializers)
    weight = weight if attributes.get("transB", 0) else weight.T
    bias = _constant(gemm.input[2], producers, initializers) if len(gemm.input) > 2 else np.zeros(len(weight))
    return weight.astype(np.float32), bias.astype(np.float32).reshape(-1)


def _constant(name: str, producers: dict[str, onnx.NodeProto], initializers: dict) -> np.ndarray:
    if name in initializers:
        return numpy_helper.to_array(initializers[name])
    node = producers.get(name)
    if node is None or node.op_type != "DequantizeLinear":
        raise WorkbenchError(f"the final layer's {name!r} is neither a constant nor a dequantized one")
    quantized, scale, *zero = (numpy_helper.to_array(initializers[n]) for n in node.input)
    axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 1)
    shape = [1] * quantized.ndim
    shape[axis] = -1
    zero_point = zero[0].astype(np.float32).reshape(shape if zero[0].ndim else ()) if zero else 0.0
    return (quantized.astype(np.float32) - zero_point) * scale.reshape(shape if scale.ndim else ())


def with_head(model: onnx.ModelProto, weight: np.ndarray, bias: np.ndarray) -> onnx.ModelProto:
    """The backbone of ``model`` (its graph up to the embedding) with a new final layer."""
    weight = np.asarray(weight, np.float32)
    bias = np.asarray(bias, np.float32).reshape(-1)
    dim = _embedding_size(model)
    if weight.ndim != 2 or weight.shape[1] != dim or bias.shape != (weight.shape[0],):
        raise WorkbenchError(
            f"a head for this backbone is classes x {dim} with one bias per class; got weight "
            f"{list(weight.shape)} and bias {list(bias.shape)}"
        )
    name = embedding_tensor(model)
    batch = model.graph.input[0].type.tensor_type.shape.dim[0].dim_param or "batch"
    if name not in {v.name for v in model.graph.value_info}:  # the extractor needs the cut's type
        typed = onnx.ModelProto()
        typed.CopyFrom(model)
        typed.graph.value_info.append(
            helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [batch, dim])
        )
        model = typed
    backbone = Extractor(model).extract_model([model.graph.input[0].name], [name])
    graph = backbone.graph
    graph.initializer.extend(
        [numpy_helper.from_array(weight, "head.weight"), numpy_helper.from_array(bias, "head.bias")]
    )
    graph.node.append(
        helper.make_node("Gemm", [name, "head.weight", "head.bias"], [LOGITS], transB=1, name="head")
    )
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(LOGITS, onnx.TensorProto.FLOAT, [batch, len(bias)]))
    backbone.ir_version = model.ir_version
    del backbone.opset_import[:]
    backbone.opset_import.extend(model.opset_import)
    onnx.checker.check_model(backbone)
    return backbone
