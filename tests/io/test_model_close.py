"""A model read from IR maps its .bin: close() and ``with`` unmap it; saving over it works.

Whether the file is still mapped is read from the kernel's own list of this process's
mappings (/proc/self/maps), not from lpir.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import lpir
import realdata

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")


def mapped(path: Path) -> list[str]:
    """Lines of /proc/self/maps that map ``path`` (its current file or a replaced one)."""
    target = os.path.realpath(path)
    with open("/proc/self/maps") as maps:
        return [line for line in maps if line.rstrip().split(maxsplit=5)[-1].startswith(target)]


@pytest.fixture
def ir_copy(real_ir, tmp_path) -> Path:
    source = Path(real_ir("ppocr_cls"))
    for suffix in (".xml", ".bin"):
        shutil.copy(source.with_suffix(suffix), tmp_path / f"cls{suffix}")
    return tmp_path / "cls.xml"


def first_constant(model: lpir.Model):
    return next(n for n in model.nodes() if n.type == "Const" and n.tensor.size > 100)


def test_close_unmaps_the_weights(ir_copy):
    model = lpir.read_model(ir_copy)
    first_constant(model).tensor.numpy().sum()  # read through the map, keep nothing
    assert mapped(ir_copy.with_suffix(".bin"))
    model.close()
    assert not mapped(ir_copy.with_suffix(".bin"))
    with pytest.raises(lpir.ValidationError, match="weights were closed"):
        first_constant(model).tensor.numpy()
    model.close()  # twice is fine


def test_with_block_runs_the_model_and_unmaps(ir_copy):
    x = realdata.inputs_for("ppocr_cls")
    with lpir.read_model(ir_copy) as model:
        outputs = lpir.compile_model(model)(x)[0]
        assert mapped(ir_copy.with_suffix(".bin"))
    gc.collect()  # the compiled model's arrays, views on the map, are gone with it
    assert not mapped(ir_copy.with_suffix(".bin"))
    assert outputs.shape == (4, 2)


def test_arrays_taken_from_the_model_keep_the_map_until_they_go(ir_copy):
    model = lpir.read_model(ir_copy)
    weights = first_constant(model).tensor.numpy()
    model.close()
    assert mapped(ir_copy.with_suffix(".bin"))
    expected = weights.copy()
    assert np.array_equal(weights, expected)  # still readable
    del weights
    gc.collect()
    assert not mapped(ir_copy.with_suffix(".bin"))


def test_saving_over_the_file_the_model_was_read_from(ir_copy):
    x = realdata.inputs_for("ppocr_cls")
    model = lpir.read_model(ir_copy)
    before = lpir.compile_model(model)(x)[0]
    gc.collect()
    lpir.save_model(model, ir_copy)
    maps = mapped(ir_copy.with_suffix(".bin"))
    assert maps and not any("(deleted)" in line for line in maps)  # only the new file is mapped
    np.testing.assert_array_equal(lpir.compile_model(model)(x)[0], before)  # reads the new .bin
    again = lpir.read_model(ir_copy)
    np.testing.assert_array_equal(lpir.compile_model(again)(x)[0], before)
    model.close()
    again.close()
