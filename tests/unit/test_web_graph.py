"""The ONNX surgery behind the web app (workbench/web/graph.py) and the checks on a head brought
back (workbench/web/head.py), on a tiny real model: pooled pixels, then a final Gemm layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests import builders
from workbench.errors import WorkbenchError
from workbench.web import graph
from workbench.web.head import FORMAT, read_head

CLASSES, SIZE = 4, 6


def tiny_classifier() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(CLASSES, 3)).astype(np.float32)
    bias = rng.normal(size=CLASSES).astype(np.float32)
    nodes = [
        helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["view"]),
        helper.make_node("Gemm", ["view", "fc.weight", "fc.bias"], ["logits"], transB=1),
    ]
    model = helper.make_model(
        helper.make_graph(
            nodes, "tiny",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])],
            [numpy_helper.from_array(weight, "fc.weight"), numpy_helper.from_array(bias, "fc.bias")],
        ),
        opset_imports=[helper.make_opsetid("", 18)],
    )  # fmt: skip
    model.ir_version = 10
    return model


def quantized(model: onnx.ModelProto, folder: Path) -> onnx.ModelProto:
    """The int8 export training makes (workbench.ml.quantize), of ``model``."""
    from workbench.ml.quantize import quantize_int8

    onnx.save(model, str(folder / "model.onnx"))
    rng = np.random.default_rng(1)
    return onnx.load(
        str(quantize_int8(folder, (rng.random((4, 3, SIZE, SIZE), np.float32) for _ in range(4))))
    )


def run(model: onnx.ModelProto, images: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": images})


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(2).random((5, 3, SIZE, SIZE), dtype=np.float32)


@pytest.mark.parametrize("int8", [False, True], ids=["float", "int8"])
def test_the_embedding_is_a_second_output_and_the_logits_do_not_change(
    tmp_path: Path, images: np.ndarray, int8: bool
) -> None:
    model = quantized(tiny_classifier(), tmp_path) if int8 else tiny_classifier()
    (logits,) = run(model, images)
    web_logits, embedding = run(graph.with_embedding_output(model), images)
    assert np.array_equal(web_logits, logits)
    assert np.allclose(
        embedding, images.mean(axis=(2, 3)), atol=0.01 if int8 else 1e-6
    )  # int8: quantized input
    weight, bias = graph.head_weights(model)
    assert weight.shape == (CLASSES, 3) and bias.shape == (CLASSES,)
    expected = tiny_classifier().graph.initializer[0]
    assert np.allclose(weight, numpy_helper.to_array(expected), atol=0.05 if int8 else 0)


def test_a_new_head_on_the_backbone_computes_what_the_browser_does(images: np.ndarray) -> None:
    model = tiny_classifier()
    weight = np.arange(5 * 3, dtype=np.float32).reshape(5, 3) / 7
    bias = np.linspace(-1, 1, 5, dtype=np.float32)
    (logits,) = run(graph.with_head(model, weight, bias), images)
    assert logits.shape == (5, 5)
    assert np.allclose(logits, images.mean(axis=(2, 3)) @ weight.T + bias, atol=1e-5)


def test_a_head_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(WorkbenchError, match="classes x 3"):
        graph.with_head(tiny_classifier(), np.zeros((2, 4), np.float32), np.zeros(2, np.float32))


def test_a_model_without_a_final_gemm_cannot_be_personalised(tmp_path: Path) -> None:
    folder = builders.onnx_export(tmp_path / "export", ["a", "b"])  # ends in a MatMul
    with pytest.raises(WorkbenchError, match="cannot be personalised"):
        graph.with_embedding_output(onnx.load(str(folder / "model.onnx")))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "something-else"}, "not a head exported by the web app"),
        ({"labels": ["a", "a"]}, "names a label twice"),
        ({"weight": [[0.0, 1.0, 2.0]]}, "1 weight rows for 2 labels"),
        ({"weight": "many"}, "must be numbers"),
        ({"backbone": "../model.onnx"}, "unknown backbone file"),
    ],
)
def test_a_head_json_that_is_not_right_is_refused_with_the_reason(change: dict, message: str) -> None:
    head = {"format": FORMAT, "labels": ["a", "b"], "weight": [[0.0] * 3] * 2, "bias": [0.0, 0.0]}
    read_head(head)  # the good one passes
    with pytest.raises(WorkbenchError, match=message):
        read_head(head | change)
