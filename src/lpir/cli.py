"""The ``lpir`` command: one thin function per subcommand, each a call of the public API.

Errors a user can cause are :class:`~lpir.errors.LpirError`; they are printed on one line and
the command exits with code 2 (``--debug`` shows the traceback). Anything else is a bug and
propagates with its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from lpir.errors import LpirError, ValidationError

EXIT_USER_ERROR = 2


# -- progress ------------------------------------------------------------------------------
def progress(items: Iterable, *, total: int | None = None, desc: str = "") -> Iterable:
    """Iterate with a progress bar on stderr: tqdm when installed, else a plain status line.

    Nothing is drawn when stderr is not a terminal, so logs and pipes stay clean.
    """
    if not sys.stderr.isatty():
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return _plain_progress(items, total, desc)
    return tqdm(items, total=total, desc=desc, leave=False)


def _plain_progress(items: Iterable, total: int | None, desc: str) -> Iterable:
    items = list(items) if total is None else items
    total = len(items) if total is None else total
    for index, item in enumerate(items, 1):
        yield item
        print(f"\r{desc} {index}/{total}", end="", file=sys.stderr, flush=True)
    print("\r" + " " * (len(desc) + 24) + "\r", end="", file=sys.stderr, flush=True)


def run_with_progress(compiled, inputs, bar: Callable[..., Iterable] = progress, desc: str = "running"):
    """Run a compiled model, one bar step per node on a terminal.

    The observer that moves the bar is attached only when a bar is drawn: with an observer the
    interpreter keeps every output intact for it and so computes nothing in place.
    """
    if not sys.stderr.isatty():
        return compiled(inputs)
    steps = len(compiled.model.nodes())
    ticks = iter(bar(range(steps), total=steps, desc=desc))
    outputs = compiled(inputs, observer=lambda node, values: next(ticks, None))
    for _ in ticks:
        pass
    return outputs


# -- helpers -------------------------------------------------------------------------------
def _read(path: str):
    import lpir
    if not Path(path).exists():
        raise ValidationError(f"{path}: no such file")
    return lpir.read_model(path)


def _parse_assignment(text: str, flag: str) -> tuple[str, str]:
    name, sep, value = text.rpartition("=")
    if not sep or not name or not value:
        raise ValidationError(f"{flag} {text!r}: expected NAME=VALUE")
    return name, value


# -- inspect -------------------------------------------------------------------------------
def cmd_inspect(args: argparse.Namespace) -> int:
    from lpir import inspect_model
    from lpir.analysis.report import format_report
    model = _read(args.model)
    report = inspect_model(model, sparsity=not args.no_sparsity,
                           progress=lambda xs: progress(xs, desc="reading weights"))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_report(report))
    return 0


# -- convert -------------------------------------------------------------------------------
def cmd_convert(args: argparse.Namespace) -> int:
    import lpir
    output = Path(args.output)
    model = _read(args.model)
    lpir.save_model(model, output, compress_to_fp16=args.compress_to_fp16)
    size = output.with_suffix(".bin").stat().st_size
    print(f"wrote {output} and {output.with_suffix('.bin').name} ({size:,} bytes of weights"
          f"{', float weights stored as f16' if args.compress_to_fp16 else ''})")
    return 0


# -- run -----------------------------------------------------------------------------------
def random_inputs(model, shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """Random inputs: floats uniform in [0, 1), integers in [0, 100); dynamic dims from ``shapes``."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for out in model.inputs:
        name = out.names[0] if out.names else out.node.name
        shape = shapes.get(name) or shapes.get(out.node.name)
        if shape is None:
            if out.shape is None or any(not isinstance(d, int) for d in out.shape):
                raise ValidationError(f"input '{name}' has dynamic shape [{_shape_text(out.shape)}]; "
                                      f"give one with --shape {name}=...")
            shape = tuple(out.shape)
        dtype = out.etype.dtype
        if out.etype.is_float:
            inputs[name] = rng.random(shape, dtype=np.float32).astype(dtype)
        elif out.etype.name == "boolean":
            inputs[name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            inputs[name] = rng.integers(0, 100, size=shape).astype(dtype)
    return inputs


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _shape_text(shape) -> str:
    from lpir.ir.shape import format_shape
    return format_shape(shape)


def _load_inputs(assignments: Sequence[str]) -> dict[str, np.ndarray]:
    inputs = {}
    for text in assignments:
        name, path = _parse_assignment(text, "--input")
        try:
            value = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise ValidationError(f"--input {name}: cannot load {path} as .npy ({exc or 'empty file'})") from None
        if not isinstance(value, np.ndarray):
            value.close()
            raise ValidationError(f"--input {name}: {path} holds several arrays (.npz); give one .npy per input")
        inputs[name] = value
    return inputs


def _parse_shapes(assignments: Sequence[str]) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for text in assignments:
        name, dims = _parse_assignment(text, "--shape")
        try:
            shapes[name] = tuple(int(d) for d in dims.split(","))
        except ValueError:
            raise ValidationError(f"--shape {text!r}: dimensions must be integers like 1,3,224,224") from None
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


def cmd_run(args: argparse.Namespace) -> int:
    import lpir
    model = _read(args.model)
    inputs = _load_inputs(args.input)
    if args.random:
        inputs = {**random_inputs(model, _parse_shapes(args.shape), args.seed), **inputs}
    elif not inputs:
        raise ValidationError("give inputs with --input NAME=FILE.npy, or --random")
    outputs = run_with_progress(lpir.compile_model(model), inputs)
    named = outputs.to_dict()
    for name, value in named.items():
        print(output_summary(name, value, args.top))
    if args.output:
        try:
            np.savez(args.output, **named)
        except OSError as exc:
            raise ValidationError(f"--output {args.output}: cannot write ({exc.strerror or exc})") from None
        print(f"saved {len(named)} output(s) to {args.output}")
    return 0


# -- demo ----------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from lpir.demo import run_demo
    run_demo(workdir=args.workdir, progress=progress)
    return 0


# -- parser --------------------------------------------------------------------------------
def _subcommand(subparsers, name: str, func: Callable, summary: str, example: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=summary, description=summary, epilog=f"example:\n  {example}",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of errors")
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lpir", description="Low-precision models in OpenVINO IR: inspect, convert, run.",
        epilog="example:\n  lpir inspect model.xml", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"lpir {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _subcommand(subparsers, "inspect", cmd_inspect,
                    "Show inputs, ops, weights by type, quantization, low-precision layers and sparsity.",
                    "lpir inspect model.xml --json > report.json")
    p.add_argument("model", help="an OpenVINO IR .xml or an ONNX .onnx")
    p.add_argument("--json", action="store_true", help="print the report as JSON (schema in README)")
    p.add_argument("--no-sparsity", action="store_true", help="skip reading weights to count zeros")

    p = _subcommand(subparsers, "convert", cmd_convert, "Convert an ONNX model or an IR to OpenVINO IR v11.",
                    "lpir convert model.onnx -o model.xml --compress-to-fp16")
    p.add_argument("model", help="an OpenVINO IR .xml or an ONNX .onnx")
    p.add_argument("-o", "--output", required=True, help="the .xml to write (the .bin goes beside it)")
    p.add_argument("--compress-to-fp16", action="store_true",
                   help="store float weights as f16 with a decompression Convert, as OpenVINO does by default")

    p = _subcommand(subparsers, "run", cmd_run, "Run a model in lpir's reference interpreter.",
                    "lpir run model.xml --random --shape x=1,3,48,192 --output out.npz")
    p.add_argument("model", help="an OpenVINO IR .xml or an ONNX .onnx")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy", help="an input from a .npy file")
    p.add_argument("--random", action="store_true", help="random values for inputs not given with --input")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=D0,D1,...",
                   help="shape of a random input with dynamic dimensions")
    p.add_argument("--top", type=_positive_int, default=5, help="classes shown for classifier-like outputs (default 5)")
    p.add_argument("--output", metavar="OUT.npz", help="save the outputs, keyed by name")

    p = _subcommand(subparsers, "demo", cmd_demo,
                    "Import a real ONNX text-direction classifier, convert it to IR, run it on real text, inspect it.",
                    "lpir demo")
    p.add_argument("--workdir", help="keep the converted model here (default: a temporary folder)")
    return parser


def _version() -> str:
    from lpir import __version__
    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lpir`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LpirError as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split("\n"))
        print(f"lpir {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
