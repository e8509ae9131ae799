"""ONNX's own conformance suite (``onnx.backend.test``) run through lpir's ONNX backend.

The node tests come from the installed onnx package, with the model tests it ships (pytorch-
converted, pytorch-operator, simple, light). Each test imports a model with lpir, compiles it,
runs it on the suite's inputs and compares with the suite's outputs at the suite's tolerances.
The tests lpir does not pass yet are listed, with the reason, in onnx_backend_expected_failures.txt:
they must fail (a listed test that passes fails the run, so that it is taken off the list), and
every other test must pass. ``python benchmarks/bench_onnx_backend.py --write-expected-failures``
rewrites the list.
"""

from __future__ import annotations

import unittest

import onnx.backend.test
import pytest

from lpir.io.onnx.backend import LpirBackend
from onnx_check import EXPECTED_FAILURES, expected_failures



def _cpu_test_cases() -> dict[str, type[unittest.TestCase]]:
    """The suite's CPU tests as unittest classes; listed failures marked as expected."""
    listed = expected_failures()
    cases = onnx.backend.test.BackendTest(LpirBackend, __name__).test_cases
    found = set()
    for case in cases.values():
        for name in [n for n in vars(case) if n.startswith("test_")]:
            if not name.endswith("_cpu"):
                delattr(case, name)  # devices lpir does not have: not generated rather than skipped
            elif name in listed:
                found.add(name)
                setattr(case, name, unittest.expectedFailure(getattr(case, name)))
    stale = sorted(set(listed) - found)
    if stale:
        raise RuntimeError(f"{EXPECTED_FAILURES.name} lists tests the suite does not have: {stale[:5]}")
    return cases


@pytest.fixture(autouse=True)
def _model_data_in_temporary_folder(tmp_path_factory, monkeypatch):
    """The suite writes the inputs of its 'light' model tests under $ONNX_HOME (~/.onnx by
    default): a temporary folder instead."""
    monkeypatch.setenv("ONNX_HOME", str(tmp_path_factory.getbasetemp() / "onnx_home"))


globals().update(_cpu_test_cases())
