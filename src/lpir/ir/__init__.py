"""The in-memory IR: element types, tensors, shapes and the graph."""

from lpir.ir.graph import Input, Model, Node, Output, RtEntry, make_constant, make_node, make_parameter, make_result
from lpir.ir.shape import DYNAMIC, Dim, Shape, is_static
from lpir.ir.tensor import Tensor
from lpir.ir import types
from lpir.ir.types import ElementType, parse_type

__all__ = ["types", "DYNAMIC", "Dim", "ElementType", "Input", "Model", "Node", "Output", "RtEntry", "Shape",
           "Tensor", "is_static", "make_constant", "make_node", "make_parameter", "make_result", "parse_type"]
