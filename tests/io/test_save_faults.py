"""Saving is safe under faults: the model saved before stays intact and no temporary file stays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import lpir
from lpir.ir import make_constant, make_parameter, make_result
from lpir.ir.tensor import Tensor
from lpir.ir.types import f32
from lpir.ops import build


class FailingTensor(Tensor):
    """f32 data that cannot be read (a vanished memory map, a failing disk)."""

    def numpy(self):
        raise OSError(5, "Input/output error")

    def raw_bytes(self):
        raise OSError(5, "Input/output error")


def chain(weights: list[Tensor | np.ndarray]) -> lpir.Model:
    x = make_parameter("f32", (4,), name="x")
    out = x.output
    for w in weights:
        out = build("Add", [out, make_constant(w).output]).output
    return lpir.Model([x], [make_result(out)])


def snapshot(folder) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


def test_an_error_midway_through_the_bin_leaves_the_previous_model(tmp_path):
    path = tmp_path / "model.xml"
    lpir.save_model(chain([np.full(4, i, np.float32) for i in range(3)]), path)
    before = snapshot(tmp_path)
    weights = [np.full(4, 10 + i, np.float32) for i in range(5)] + [FailingTensor(f32, (4,), raw=b"")]
    with pytest.raises(lpir.LpirError, match="cannot save the model"):
        lpir.save_model(chain(weights), path)
    assert snapshot(tmp_path) == before  # same files, same bytes, nothing else
    assert lpir.compile_model(lpir.read_model(path))([np.zeros(4, np.float32)])[0].tolist() == [3.0] * 4


SLOW_SAVE = textwrap.dedent("""
    import sys, time
    import numpy as np
    import lpir
    from lpir.ir import make_constant, make_parameter, make_result
    from lpir.ir.tensor import Tensor
    from lpir.ir.types import f32
    from lpir.ops import build

    class SlowTensor(Tensor):  # 4 MB of weights that take a while to compute, like a large model's
        def numpy(self):
            time.sleep(0.05)
            return np.ones(self.shape, np.float32)
        def raw_bytes(self):
            return memoryview(self.numpy().tobytes())

    x = make_parameter("f32", (1 << 20,), name="x")
    out = x.output
    for _ in range(200):
        out = build("Add", [out, make_constant(SlowTensor(f32, (1 << 20,), raw=b"")).output]).output
    print("saving", flush=True)
    lpir.save_model(lpir.Model([x], [make_result(out)]), sys.argv[1])
""")


def test_a_save_killed_midway_leaves_the_previous_model_and_no_temporary_file(tmp_path):
    path = tmp_path / "model.xml"
    lpir.save_model(chain([np.full(4, 1, np.float32)]), path)
    before = snapshot(tmp_path)
    script = tmp_path.parent / "slow_save.py"
    script.write_text(SLOW_SAVE)
    process = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "saving"
        time.sleep(1.0)  # about a quarter of the weights written
        assert process.poll() is None, "the save finished before it could be interrupted"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert snapshot(tmp_path) == before
    assert lpir.compile_model(lpir.read_model(path))([np.zeros(4, np.float32)])[0].tolist() == [1.0] * 4
