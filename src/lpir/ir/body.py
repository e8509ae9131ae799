"""Sub-graph bodies of TensorIterator, Loop and If, with their port maps.

A node that runs a sub-graph keeps it in ``node.bodies``: one :class:`Body` for TensorIterator
and Loop, two (then, else) for If. A body is a :class:`~lpir.ir.graph.Model` plus how the
node's ports map onto its Parameters and Results, as OpenVINO's ``SubGraphOp`` describes them:

- an :class:`InputMap` feeds body Parameter ``parameter`` from the node's input ``port``:
  whole (invariant), sliced along ``axis`` (one part per iteration) or, with ``back_edge``,
  merged: the first iteration reads the input, later ones body Result ``back_edge`` of the
  iteration before;
- an :class:`OutputMap` gives the node's output ``port`` from body Result ``result``: its value
  after the last iteration, or with ``axis`` the values of every iteration concatenated (when no
  iteration runs: the initial value of a Result that feeds a back edge, else zeros of the
  Result's shape with unknown dimensions, and the concatenation axis, of length 0);
- Loop's ``current_iteration`` Parameter receives the iteration number and its
  ``execution_condition`` Result decides whether another iteration runs.

Indices refer to the body model's ``parameters`` and ``results`` lists, never to layer ids of
a file: the IR reader and writer translate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lpir.ir.graph import Model


@dataclass
class Slicing:
    """How a tensor is cut into per-iteration parts along ``axis`` (or assembled from them).

    ``start``/``end`` are positions on the axis (negative ones count from its end, ``end=-1``
    the end itself), ``stride`` the step between parts (negative walks backwards) and
    ``part_size`` the length of one part, as in OpenVINO's port map.
    """

    axis: int
    start: int = 0
    end: int = -1
    stride: int = 1
    part_size: int = 1


@dataclass
class InputMap:
    """The node's input ``port`` feeds body Parameter ``parameter``."""

    port: int
    parameter: int
    slicing: Slicing | None = None  # cut into one part per iteration
    back_edge: int | None = None  # body Result that feeds the Parameter from the second iteration


@dataclass
class OutputMap:
    """The node's output ``port`` comes from body Result ``result``."""

    port: int
    result: int
    slicing: Slicing | None = None  # every iteration's value concatenated along slicing.axis


@dataclass
class Body:
    """A sub-graph and the maps between its owner's ports and its Parameters and Results."""

    model: Model
    inputs: list[InputMap] = field(default_factory=list)
    outputs: list[OutputMap] = field(default_factory=list)
    current_iteration: int | None = None  # Loop: Parameter receiving the iteration number
    execution_condition: int | None = None  # Loop: Result deciding whether to go on

    def input_for(self, parameter: int) -> InputMap | None:
        """The map feeding body Parameter ``parameter`` (None when nothing does)."""
        return next((m for m in self.inputs if m.parameter == parameter), None)

    def output_for(self, port: int) -> OutputMap | None:
        """The map giving the node's output ``port`` (None when this body gives none)."""
        return next((m for m in self.outputs if m.port == port), None)
