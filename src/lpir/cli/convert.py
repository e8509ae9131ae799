"""``lpir convert``: ONNX or IR in, IR v11 out."""

from __future__ import annotations

import argparse
from pathlib import Path

from lpir.cli.common import add_command, read


def run(args: argparse.Namespace) -> int:
    import lpir
    output = Path(args.output)
    lpir.save_model(read(args.model), output, compress_to_fp16=args.compress_to_fp16)
    size = output.with_suffix(".bin").stat().st_size
    print(f"wrote {output} and {output.with_suffix('.bin').name} ({size:,} bytes of weights"
          f"{', float weights stored as f16' if args.compress_to_fp16 else ''})")
    return 0


def register(subparsers) -> None:
    p = add_command(subparsers, "convert", run, "Convert an ONNX model or an IR to OpenVINO IR v11.",
                    "lpir convert model.onnx -o model.xml --compress-to-fp16")
    p.add_argument("model", help="an OpenVINO IR .xml or an ONNX .onnx")
    p.add_argument("-o", "--output", required=True, help="the .xml to write (the .bin goes beside it)")
    p.add_argument("--compress-to-fp16", action="store_true",
                   help="store float weights as f16 with a decompression Convert, as OpenVINO does by default")
