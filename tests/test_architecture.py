"""The layering the design promises, checked on the source: file formats stay at the edge."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "lpir"
FORMAT_MODULES = {"xml", "defusedxml", "onnx"}
NEVER = {"openvino", "onnxruntime", "torch", "pickle"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted(SOURCE.rglob("*.py")), ids=lambda p: str(p.relative_to(SOURCE)))
def test_imports_respect_the_layers(path):
    roots = imported_roots(path)
    assert not roots & NEVER, f"{path.name} imports {roots & NEVER}"
    if "io" not in path.relative_to(SOURCE).parts:
        assert not roots & FORMAT_MODULES, f"{path.name} parses a file format outside lpir.io: {roots & FORMAT_MODULES}"
