"""Taps: callbacks on chosen tensors of a compiled model, as the interpreter produces them.

Calibration, per-layer error reports and the progress bar all watch intermediate tensors. A
:class:`Taps` is resolved once against a compiled model (targets to slots, names to outputs)
and passed to any number of calls: ``compiled(x, taps=taps)``. Each call shows the callback
every tapped tensor's value for that call, right after it is computed; tensors computed at
compile time (constants and folded weight subgraphs) and model inputs are shown at the start
of each call. The interpreter keeps no value alive for a tap, and never overwrites a tapped
tensor in place, so a callback may keep what it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from lpir.errors import ValidationError
from lpir.ir.graph import Output

TapCallback = Callable[[Output, np.ndarray], None]


class Taps:
    """``callback(output, value)`` for each of ``targets`` (outputs, or tensor or node names)."""

    def __init__(self, program, targets: Iterable[Output | str], callback: TapCallback):
        self.callback = callback
        outputs = resolve_targets(program.model, targets)
        self.slots: set[int] = set()
        self.at_start: list[tuple[Output, int | np.ndarray]] = []  # (output, slot or compile-time value)
        self.after_step: dict[int, list[tuple[int, Output]]] = {}
        step_of = {slot: i for i, step in enumerate(program.steps) for slot in step.outputs}
        inputs = set(program.param_slots)
        for out in outputs:
            slot = program.slot(out)
            if slot is None:
                raise ValidationError(f"{out!r} is not part of model '{program.model.name}'")
            if slot in step_of:
                self.after_step.setdefault(step_of[slot], []).append((slot, out))
                self.slots.add(slot)
            elif slot in inputs:
                self.at_start.append((out, slot))
            else:
                self.at_start.append((out, program.constant(slot)))

    @property
    def outputs(self) -> list[Output]:
        return [out for out, _ in self.at_start] + [out for taps in self.after_step.values() for _, out in taps]


def resolve_targets(model, targets: Iterable[Output | str]) -> list[Output]:
    """Outputs from a mix of :class:`Output` objects, tensor names and node names (a node name
    stands for all of that node's outputs); unknown names are reported together."""
    targets = list(targets)
    names = [t for t in targets if isinstance(t, str)]
    by_name: dict[str, list[Output]] = {}
    if names:
        for node in model.nodes():
            for out in node.outputs:
                for tensor_name in out.names:
                    by_name.setdefault(tensor_name, [out])
            by_name.setdefault(node.name, list(node.outputs))
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValidationError(f"model '{model.name}' has no tensor or node named {', '.join(map(repr, unknown))}")
    outputs: list[Output] = []
    for target in targets:
        outputs.extend(by_name[target] if isinstance(target, str) else [target])
    return list(dict.fromkeys(outputs))
