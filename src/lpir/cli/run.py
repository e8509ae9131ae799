"""``lpir run``: run a model in the reference interpreter and summarise its outputs."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from lpir.cli.common import add_command, parse_assignment, positive_int, read
from lpir.errors import ValidationError
from lpir.progress import run_with_progress
from lpir.runtime.arithmetic import ARITHMETICS


def random_inputs(model, shapes: dict[str, tuple[int, ...]], seed: int,
                  notes: list[str] | None = None) -> dict[str, np.ndarray]:
    """Random inputs: floats uniform in [0, 1), integers in [0, 100). An input's shape comes from
    ``shapes``, else from the model with 1 for each dynamic dimension (said in ``notes``)."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for out in model.inputs:
        name = out.names[0] if out.names else out.node.name
        shape = shapes.get(name) or shapes.get(out.node.name)
        if shape is None:
            if out.shape is None:
                raise ValidationError(f"input '{name}' has a dynamic rank; give its shape with --shape {name}=...")
            shape = tuple(d if isinstance(d, int) else 1 for d in out.shape)
            if notes is not None and any(not isinstance(d, int) for d in out.shape):
                notes.append(f"input '{name}' [{_shape_text(out.shape)}]: dynamic dimensions set to 1, "
                             f"shape [{','.join(map(str, shape))}] (choose with --shape {name}=...)")
        dtype = out.etype.dtype
        if out.etype.is_float:
            inputs[name] = rng.random(shape, dtype=np.float32).astype(dtype)
        elif out.etype.name == "boolean":
            inputs[name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            inputs[name] = rng.integers(0, 100, size=shape).astype(dtype)
    return inputs


def _shape_text(shape) -> str:
    from lpir.ir.shape import format_shape
    return format_shape(shape)


def _load_inputs(assignments: Sequence[str]) -> dict[str, np.ndarray]:
    inputs = {}
    for text in assignments:
        name, path = parse_assignment(text, "--input")
        try:
            value = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise ValidationError(f"--input {name}: cannot load {path} as .npy ({exc or 'empty file'})") from exc
        if not isinstance(value, np.ndarray):
            value.close()
            raise ValidationError(f"--input {name}: {path} holds several arrays (.npz); give one .npy per input")
        inputs[name] = value
    return inputs


def _parse_shapes(assignments: Sequence[str]) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for text in assignments:
        name, dims = parse_assignment(text, "--shape")
        try:
            shapes[name] = tuple(int(d) for d in dims.split(","))
        except ValueError as exc:
            raise ValidationError(f"--shape {text!r}: dimensions must be integers like 1,3,224,224") from exc
        if any(d < 1 for d in shapes[name]):
            raise ValidationError(f"--shape {text!r}: dimensions must be at least 1")
    return shapes


def output_summary(name: str, value: np.ndarray, top: int = 5) -> str:
    """One line of statistics; for a classifier-like [N, C] float output also the top classes."""
    line = f"{name}: {value.dtype} [{','.join(map(str, value.shape))}]"
    if value.size and (np.issubdtype(value.dtype, np.number) or value.dtype == bool):
        v = value.astype(np.float64)
        line += f"  min {v.min():.6g}  max {v.max():.6g}  mean {v.mean():.6g}  std {v.std():.6g}"
    if value.ndim == 2 and value.shape[1] >= 2 and np.issubdtype(value.dtype, np.floating):
        k = min(top, value.shape[1])
        for row in range(min(value.shape[0], 8)):
            order = np.argsort(-value[row], kind="stable")[:k]
            line += f"\n  [{row}] top-{k}: " + ", ".join(f"{i}:{value[row, i]:.4f}" for i in order)
    return line


def run(args: argparse.Namespace) -> int:
    import lpir
    model = read(args.model)
    inputs = _load_inputs(args.input)
    if args.random:
        notes: list[str] = []
        inputs = {**random_inputs(model, _parse_shapes(args.shape), args.seed, notes), **inputs}
        for note in notes:
            print(note)
    elif not inputs:
        raise ValidationError("give inputs with --input NAME=FILE.npy, or --random")
    if args.integer and args.exact:
        raise ValidationError("--integer and --exact are two interpretations of the quantized layers: choose one")
    compiled = lpir.compile_model(model, integer=args.integer, exact=args.exact, sparse_weights_rate=args.sparse_rate,
                                  arithmetic=args.arithmetic)
    if args.integer or args.exact or args.sparse_rate < 1.0:
        print(compiled.plan)
    outputs = run_with_progress(compiled, inputs)
    named = outputs.to_dict()
    for name, value in named.items():
        print(output_summary(name, value, args.top))
    if args.output:
        try:
            np.savez(args.output, **named)
        except OSError as exc:
            raise ValidationError(f"--output {args.output}: cannot write ({exc.strerror or exc})") from exc
        print(f"saved {len(named)} output(s) to {args.output}")
    return 0


def register(subparsers) -> None:
    p = add_command(subparsers, "run", run, "Run a model in lpir's reference interpreter.",
                    "lpir run model.xml --random --shape x=1,3,48,192 --output out.npz")
    p.add_argument("model", help="an OpenVINO IR .xml or an ONNX .onnx")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy", help="an input from a .npy file")
    p.add_argument("--random", action="store_true", help="random values for inputs not given with --input")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=D0,D1,...",
                   help="shape of a random input with dynamic dimensions")
    p.add_argument("--top", type=positive_int, default=5, help="classes shown for classifier-like outputs (default 5)")
    p.add_argument("--output", metavar="OUT.npz", help="save the outputs, keyed by name")
    p.add_argument("--integer", action="store_true",
                   help="run quantized layers in integers as OpenVINO's CPU does, and print the plan")
    p.add_argument("--exact", action="store_true",
                   help="compute the layers --integer lowers in f64 on their exactly dequantized inputs, rounded once "
                        "(the reference integer mode equals), and print the plan")
    p.add_argument("--arithmetic", choices=ARITHMETICS, default="reference",
                   help="with --integer or --exact: 'openvino-cpu' also computes as OpenVINO's CPU plugin where it "
                        "departs from the reference (the plan lists where); 'openvino-cpu-avx2' as it does on CPUs "
                        "without AVX-512")
    p.add_argument("--sparse-rate", type=float, default=1.0, metavar="R",
                   help="MatMul weights with at least this share of zeros run a sparse kernel (default 1.0: off)")
