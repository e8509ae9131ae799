"""Seed models for the fuzzer: real IRs and ONNX files, as small as still covers the op families.

IR seeds are written by OpenVINO: PP-OCR's direction classifier (convolutions, pooling,
activations, a classifier head), the same with int8 weight compression, and the quantized
models of tests/ovmodels.py (FakeQuantize, i8/u8 and 4-bit group-wise compressed weights) and the
Loop, If and TensorIterator of tests/bodymodels.py (sub-graph bodies, port maps, back edges).
ONNX seeds are PP-OCR's classifier and the first attention block of paraphrase-MiniLM-L3 (MatMul,
LayerNorm, Softmax, reshapes of shape subgraphs), cut from the real file with onnx's extractor.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import onnx
import onnx.utils

from lpir import zoo


def ir_seed(model) -> tuple[str, dict[str, bytes]]:
    import ovmodels
    with tempfile.TemporaryDirectory() as folder:
        xml = Path(ovmodels.save(model, Path(folder) / "model.xml"))
        return "ir", {"model.xml": xml.read_bytes(), "model.bin": xml.with_suffix(".bin").read_bytes()}


def onnx_seed(model: onnx.ModelProto) -> tuple[str, dict[str, bytes]]:
    return "onnx", {"model.onnx": model.SerializeToString()}


def minilm_block() -> onnx.ModelProto:
    """MiniLM's first encoder layer, from the summed embeddings and the additive attention mask
    to the residual Add after self-attention (the 47 MB word-embedding table stays out)."""
    with tempfile.TemporaryDirectory() as folder:
        source = zoo.minilm()
        nodes = list(onnx.load(str(source), load_external_data=False).graph.node)
        layer_norm = next(n for n in nodes if n.op_type == "LayerNormalization")
        mask = next(n for n in nodes if n.op_type == "Mul" and n.input[0].endswith("/Sub_output_0"))
        softmax = next(i for i, n in enumerate(nodes) if n.op_type == "Softmax")
        end = next(n for n in nodes[softmax + 8:] if n.op_type == "Add")  # attention output + residual
        target = Path(folder) / "block.onnx"
        onnx.utils.extract_model(str(source), str(target), [layer_norm.input[0], mask.output[0]], [end.output[0]])
        return onnx.load(str(target))


def all_seeds() -> dict[str, tuple[str, dict[str, bytes]]]:
    import bodymodels
    import openvino as ov
    import ovmodels
    cls = ov.convert_model(str(zoo.ppocr("cls")))
    seeds = {name: ir_seed(model) for name, model in ovmodels.quantized_models().items()}
    seeds["cls_ir"] = ir_seed(cls)
    seeds["cls_int8_ir"] = ir_seed(ovmodels.compress_weights(ov.convert_model(str(zoo.ppocr("cls"))), "int8_asym"))
    seeds["cls_onnx"] = onnx_seed(onnx.load(str(zoo.ppocr("cls"))))
    seeds["loop_ir"] = ir_seed(bodymodels.loop_model())
    seeds["if_ir"] = ir_seed(bodymodels.if_model())
    seeds["tensor_iterator_ir"] = ir_seed(bodymodels.tensor_iterator_model())
    seeds["minilm_block_onnx"] = onnx_seed(minilm_block())
    return seeds
