"""``lpir convert``: ONNX or IR in; IR v11 (.xml) or ONNX with QDQ (.onnx) out."""

from __future__ import annotations

import argparse
from pathlib import Path

from lpir.cli.common import add_command, positive_int, read


def run(args: argparse.Namespace) -> int:
    import lpir
    output = Path(args.output)
    model = read(args.model)
    if output.suffix.lower() == ".onnx":
        _report_onnx(lpir.save_model(model, output, opset=args.opset, float_fallback=args.float_fallback))
        return 0
    lpir.save_model(model, output, compress_to_fp16=args.compress_to_fp16, opset=args.opset,
                    float_fallback=args.float_fallback)
    size = output.with_suffix(".bin").stat().st_size
    print(f"wrote {output} and {output.with_suffix('.bin').name} ({size:,} bytes of weights"
          f"{', float weights stored as f16' if args.compress_to_fp16 else ''})")
    return 0


def _report_onnx(written) -> None:
    counts = written.op_counts
    data = f", weights in {written.data_path.name}" if written.data_path else ""
    print(f"wrote {written.path} ({written.size:,} bytes{data}): ONNX opset {written.opset}, "
          f"{sum(counts.values())} nodes, {counts.get('QuantizeLinear', 0)} QuantizeLinear, "
          f"{counts.get('DequantizeLinear', 0)} DequantizeLinear")


def register(subparsers) -> None:
    p = add_command(subparsers, "convert", run, "Convert an ONNX model or an IR to OpenVINO IR v11 or to ONNX.",
                    "lpir convert model.onnx -o model.xml --compress-to-fp16\n"
                    "  lpir convert quantized.xml -o quantized.onnx   (FakeQuantize → QuantizeLinear/DequantizeLinear)")
    p.add_argument("model", help="an OpenVINO IR .xml or an ONNX .onnx")
    p.add_argument("-o", "--output", required=True,
                   help="the .xml to write (the .bin goes beside it) or the .onnx to write")
    p.add_argument("--compress-to-fp16", action="store_true",
                   help="IR only: store float weights as f16 with a decompression Convert, as OpenVINO does by default")
    p.add_argument("--opset", type=positive_int, help="ONNX only: the opset to write (default: the lowest from 13 "
                                                     "that holds the model)")
    p.add_argument("--float-fallback", action="store_true",
                   help="ONNX only: write FakeQuantize nodes that have no QDQ form as float arithmetic instead of failing")
