"""Where ONNX Runtime departs from lpir on lpir's QDQ export, FakeQuantize by FakeQuantize.

    python benchmarks/measure_onnxruntime_departures.py [--only TEXT] [--efficientnet PATH] [--all]

For each model of bench_integer.py (quantized the same way, same held-out real inputs), lpir
exports the INT8 IR to ONNX (``lpir.save_model(model, "x.onnx")``: QuantizeLinear/DequantizeLinear
pairs, int8 weights, int32 biases) and ONNX Runtime runs it on its CPU with every graph
optimisation (QLinearConv & co. where the export allows). Its codes at each activation
FakeQuantize are read from the export cut after that FakeQuantize's DequantizeLinear
(tests/ortcut.py: reading several tensors from one session changes its fusions). lpir's integer
mode, with ``arithmetic="reference"`` and ``"onnxruntime"``, is then compared with them two ways:

* teacher forcing: each FakeQuantize computed from ONNX Runtime's own codes of the FakeQuantizes
  before it (the segment between them extracted from the IR and run in integer mode);
* free running: lpir's codes in its own run of the whole model.

Prints, per FakeQuantize whose codes differ anywhere (all with ``--all``), the number of codes
that differ in each case, then per arithmetic the total under teacher forcing and how far the
outputs are apart end to end (max / mean |difference| / range; lpir's float emulation of the IR
too). A code that differs under teacher forcing is a departure of ONNX Runtime's arithmetic at
that layer; free running adds the cascade of earlier departures through later rounding
boundaries.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import lpir
from bench_integer import departure_arguments, quantized_cases, relative

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import ortcut  # noqa: E402  (the cut models, shared with the tests)
import ovcut  # noqa: E402  (the teacher forcing and free running, shared with the tests)

ARITHMETICS = ("reference", "onnxruntime")


def teacher_forced(model, inputs: list, onnx_runtime: dict, arithmetic: str) -> dict[str, int]:
    """Codes differing from ONNX Runtime's at each FakeQuantize, computed from its codes before it."""
    return {f.fq.name: int(f.differ.sum()) for f in ovcut.teacher_forced(model, inputs, onnx_runtime, arithmetic)}


def main() -> None:
    args = departure_arguments()
    with tempfile.TemporaryDirectory() as folder:
        for label, xml, inputs in quantized_cases(args.efficientnet, args.only, Path(folder)):
            model = lpir.read_model(xml)
            path = Path(folder) / "export.onnx"
            lpir.save_model(model, path)
            fqs = ovcut.activation_fake_quantizes(model)
            onnx_runtime = ortcut.cut_outputs(path, inputs, [fq.name for fq in fqs])
            session = ortcut.session(path)
            ort_outputs = ortcut.run(session, [i.name for i in session.get_inputs()], inputs)
            forced = {a: teacher_forced(model, inputs, onnx_runtime, a) for a in ARITHMETICS}
            free = {a: ovcut.free_running(model, inputs, fqs, onnx_runtime, a) for a in ARITHMETICS}
            print(f"\n{label}: {len(fqs)} activation FakeQuantizes; codes differing from ONNX Runtime's "
                  "(teacher forced reference / onnxruntime | free running reference / onnxruntime)")
            print("\n".join(ovcut.departure_rows(fqs, onnx_runtime, forced, free, args.all)))
            emulation = list(lpir.compile_model(model)(inputs))
            print(f"  lpir float emulation: end to end max/mean {relative(ort_outputs, emulation)} of the range")
            for arithmetic in ARITHMETICS:
                departing = [n for n, d in forced[arithmetic].items() if d]
                total = sum(forced[arithmetic].values())
                codes = sum(onnx_runtime[n].size for n in forced[arithmetic])
                print(f"  {arithmetic}: teacher forced {total} of {codes} codes differ in {len(departing)} "
                      f"FakeQuantizes; free running {sum(free[arithmetic][0].values())}; end to end max/mean "
                      f"{relative(ort_outputs, free[arithmetic][1])} of the range")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
