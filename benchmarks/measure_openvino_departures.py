"""Where OpenVINO's CPU departs from lpir's integer mode, FakeQuantize by FakeQuantize.

    python benchmarks/measure_openvino_departures.py [--only TEXT] [--efficientnet PATH] [--all]

For each model of bench_integer.py (quantized the same way, same inputs), OpenVINO's CPU runs the
INT8 IR with its low-precision transformations (f32 hint, no dynamic quantization). Its codes at
each activation FakeQuantize are read from the model cut after that node (a Result there and
nowhere else: adding outputs to the whole model changes the plugin's fusions and what it
computes; through a MaxPool of kernel 1 where the whole model writes i8 codes, which a Result right
after the FakeQuantize would not). lpir's integer mode, with ``arithmetic="reference"`` and
``"openvino-cpu"``, is then compared with them two ways:

* teacher forcing: each FakeQuantize computed from OpenVINO's own codes of the FakeQuantizes
  before it (the segment between them extracted, with the other consumers of its
  FakeQuantizes, and run in integer mode; the FakeQuantizes an arithmetic rewrites are not
  segment boundaries);
* free running: lpir's codes in its own run of the whole model (read by taps).

Prints, per FakeQuantize whose codes differ anywhere (all with ``--all``), the number of codes
that differ in each case, then the first FakeQuantize that departs under teacher forcing and how
far the outputs are apart end to end (max / mean |difference| / range). A code that differs
under teacher forcing is a departure of OpenVINO's arithmetic at that layer; free running adds
the cascade of earlier departures through later rounding boundaries.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import openvino as ov

import lpir
from bench_integer import departure_arguments, quantized_cases, relative
from timing import OV_F32

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import ovcut  # noqa: E402  (the cut models and the teacher forcing, shared with the tests)

ARITHMETICS = ("reference", "openvino-cpu")


def teacher_forced(model, inputs: list, openvino: dict, arithmetic: str) -> dict[str, int]:
    """Codes differing from OpenVINO's at each FakeQuantize, computed from OpenVINO's codes before it."""
    skip = ovcut.unrounded(lpir.compile_model(model, integer=True, arithmetic="openvino-cpu"))
    return {f.fq.name: int(f.differ.sum()) for f in ovcut.teacher_forced(model, inputs, openvino, arithmetic, skip)}


def main() -> None:
    args = departure_arguments()
    core = ov.Core()
    with tempfile.TemporaryDirectory() as folder:
        for label, xml, inputs in quantized_cases(args.efficientnet, args.only, Path(folder)):
            model = lpir.read_model(xml)
            fqs = ovcut.activation_fake_quantizes(model)
            openvino = ovcut.cut_outputs(xml, inputs, [fq.name for fq in fqs])
            compiled = core.compile_model(xml, "CPU", OV_F32)
            result = compiled(inputs)
            ov_outputs = [np.array(result[out]) for out in compiled.outputs]
            forced = {a: teacher_forced(model, inputs, openvino, a) for a in ARITHMETICS}
            skip = ovcut.unrounded(lpir.compile_model(model, integer=True, arithmetic="openvino-cpu"))
            free = {a: ovcut.free_running(model, inputs, fqs, openvino, a, skip) for a in ARITHMETICS}
            print(f"\n{label}: {len(fqs)} activation FakeQuantizes; codes differing from OpenVINO's "
                  "(teacher forced reference / openvino-cpu | free running reference / openvino-cpu)")
            print("\n".join(ovcut.departure_rows(fqs, openvino, forced, free, args.all)))
            for arithmetic in ARITHMETICS:
                departing = [n for n, d in forced[arithmetic].items() if d]
                total = sum(forced[arithmetic].values())
                print(f"  {arithmetic}: teacher forced {total} codes differ in {len(departing)} FakeQuantizes "
                      f"(first: {departing[0] if departing else 'none'}); end to end max/mean "
                      f"{relative(free[arithmetic][1], ov_outputs)} of the range")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
