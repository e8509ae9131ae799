"""Subgraphs that stay in float whatever their ops: NNCF's ignored patterns for OpenVINO's CPU.

Quantizing them costs accuracy and gains no speed (a squeeze-and-excitation branch runs on a
1x1 tensor; the attention's Softmax output feeds its MatMul in float on the CPU; rotary and
positional embeddings are precision-critical). The layers a pattern matches are ignored as if
the user had named them, except the nodes marked ``keep`` (the edges of the pattern, which are
quantized as usual).

Matching follows NNCF's rules so the same nodes are ignored: the graph seen is the model
without its constant subgraphs; a match is an induced subgraph (no other edges between matched
nodes, each edge counted with its multiplicity); longer patterns are matched first and a node
belongs to at most one match.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lpir.ir.graph import Model, Node
from lpir.ops import lookup
from lpir.quantization.placement import constant_outputs


@dataclass(frozen=True)
class PatternNode:
    accepts: Callable[[Node], bool]
    keep: bool = False  # matched, but not ignored (NNCF's PATTERN_NODE_TO_EXCLUDE, NON_PATTERN_NODE_TYPE)


@dataclass(frozen=True)
class Pattern:
    name: str
    nodes: tuple[PatternNode, ...]
    edges: tuple[tuple[int, int], ...]  # (producer, consumer) indices into ``nodes``; repeats count
    transformer_only: bool = False

    @property
    def size(self) -> int:
        """Length used to order matching: the nodes a pattern is about (NNCF's)."""
        return sum(1 for n in self.nodes if n.accepts is not anything)


def of_type(*types: str) -> Callable[[Node], bool]:
    wanted = frozenset(types)
    return lambda node: node.type in wanted


def linear(node: Node) -> bool:
    """A layer with weights (convolutions, MatMul): asked from the op's traits."""
    op = lookup(node.type, node.opset)
    return op is not None and bool(op.traits.weight_inputs)


def anything(node: Node) -> bool:
    return True


_ATTENTION_VALUES = of_type("ReadValue", "Reshape", "Transpose", "Split", "Gather", "Squeeze", "Concat")
_MATMUL = of_type("MatMul")


def _rope(transpose: bool, concat: bool) -> Pattern:
    """MatMul [→ Transpose] [→ Concat of it twice] → Cos and Sin."""
    nodes = [PatternNode(_MATMUL)]
    edges = []
    if transpose:
        nodes.append(PatternNode(of_type("Transpose")))
        edges.append((len(nodes) - 2, len(nodes) - 1))
    if concat:
        nodes.append(PatternNode(of_type("Concat")))
        edges += [(len(nodes) - 2, len(nodes) - 1)] * 2
    source = len(nodes) - 1
    nodes += [PatternNode(of_type("Cos")), PatternNode(of_type("Sin"))]
    edges += [(source, source + 1), (source, source + 2)]
    return Pattern("rope", tuple(nodes), tuple(edges), transformer_only=True)


PATTERNS: tuple[Pattern, ...] = (
    # the attention's probabilities times its values: Softmax [→ Reshape] → MatMul ← values
    Pattern("multihead_attention_output",
            (PatternNode(of_type("Softmax")), PatternNode(_MATMUL), PatternNode(_ATTENTION_VALUES)),
            ((0, 1), (2, 1)), transformer_only=True),
    Pattern("multihead_attention_output",
            (PatternNode(of_type("Softmax")), PatternNode(of_type("Reshape")), PatternNode(_MATMUL),
             PatternNode(_ATTENTION_VALUES)),
            ((0, 1), (1, 2), (3, 2)), transformer_only=True),
    # squeeze-and-excitation: x → ReduceMean → linear → bias → ReLU → linear → bias → sigmoid → Multiply(x, ·)
    Pattern("se_block",
            (PatternNode(anything, keep=True), PatternNode(of_type("ReduceMean"), keep=True), PatternNode(linear),
             PatternNode(of_type("Add")), PatternNode(of_type("Relu", "PRelu", "Swish")), PatternNode(linear),
             PatternNode(of_type("Add")), PatternNode(of_type("Sigmoid", "HSigmoid")),
             PatternNode(of_type("Multiply"), keep=True)),
            ((0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 8), (0, 8))),
    # a batch normalisation of a fully connected layer's output, written out
    Pattern("fc_bn_hswish_activation",
            (PatternNode(of_type("Unsqueeze")), PatternNode(of_type("Multiply")), PatternNode(of_type("Add")),
             PatternNode(of_type("Squeeze"))),
            ((0, 1), (1, 2), (2, 3))),
    Pattern("equal_logicalnot", (PatternNode(of_type("Equal")), PatternNode(of_type("LogicalNot"))), ((0, 1),)),
    _rope(True, True), _rope(False, True), _rope(True, False),
    # Segment Anything's positional embedding: MatMul → Multiply → Cos, Sin → Concat
    Pattern("sam_pe",
            (PatternNode(_MATMUL), PatternNode(of_type("Multiply")), PatternNode(of_type("Cos")),
             PatternNode(of_type("Sin")), PatternNode(of_type("Concat"))),
            ((0, 1), (1, 2), (1, 3), (2, 4), (3, 4)), transformer_only=True),
)


def ignored_by_patterns(model: Model, *, transformer: bool = False,
                        patterns: tuple[Pattern, ...] = PATTERNS) -> dict[str, str]:
    """Names of the nodes that ``patterns`` (those of the model type) match → the reason."""
    graph = _Graph(model)
    ignored: dict[str, str] = {}
    matched: set[int] = set()
    active = [p for p in patterns if transformer or not p.transformer_only]
    for pattern in sorted(active, key=lambda p: p.size, reverse=True):  # stable: table order among equals
        for match in graph.matches(pattern):
            own = [node for node, spec in zip(match, pattern.nodes) if not spec.keep]
            if any(node.uid in matched for node in own):
                continue
            matched.update(node.uid for node in own)
            for node in own:
                ignored[node.name] = f"in NNCF's ignored pattern {pattern.name}"
    return ignored


class _Graph:
    """The model's non-constant nodes and the edges between them, with multiplicity."""

    def __init__(self, model: Model):
        nodes = model.nodes()
        constant = constant_outputs(nodes)
        self.nodes = [n for n in nodes if not (n.outputs and all(id(o) in constant for o in n.outputs))]
        self.count: dict[tuple[int, int], int] = {}
        self.successors: dict[int, list[Node]] = {n.uid: [] for n in self.nodes}
        self.predecessors: dict[int, list[Node]] = {n.uid: [] for n in self.nodes}
        for node in self.nodes:
            for port in node.inputs:
                if id(port.source) in constant:
                    continue
                source = port.source.node
                key = (source.uid, node.uid)
                if key not in self.count:
                    self.successors[source.uid].append(node)
                    self.predecessors[node.uid].append(source)
                self.count[key] = self.count.get(key, 0) + 1

    def matches(self, pattern: Pattern):
        """Every assignment of graph nodes to ``pattern``'s nodes (in pattern order)."""
        order = _connected_order(pattern)
        wanted = {}
        for a, b in pattern.edges:
            wanted[(a, b)] = wanted.get((a, b), 0) + 1
        first = order[0]
        for start in self.nodes:
            if pattern.nodes[first].accepts(start):
                yield from self._extend(pattern, order, wanted, {first: start})

    def _extend(self, pattern, order, wanted, assigned: dict[int, Node]):
        if len(assigned) == len(order):
            yield [assigned[i] for i in range(len(pattern.nodes))]
            return
        k = order[len(assigned)]
        for a, b in pattern.edges:  # candidates: neighbours of an assigned node along a pattern edge
            if a == k and b in assigned:
                candidates = self.predecessors[assigned[b].uid]
                break
            if b == k and a in assigned:
                candidates = self.successors[assigned[a].uid]
                break
        used = {n.uid for n in assigned.values()}
        for node in candidates:
            if node.uid in used or not pattern.nodes[k].accepts(node):
                continue
            if all(self.count.get((node.uid, other.uid), 0) == wanted.get((k, j), 0)
                   and self.count.get((other.uid, node.uid), 0) == wanted.get((j, k), 0)
                   for j, other in assigned.items()):
                yield from self._extend(pattern, order, wanted, {**assigned, k: node})


def _connected_order(pattern: Pattern) -> list[int]:
    """Pattern nodes so that each one after the first shares an edge with an earlier one,
    starting from a node that is not ``anything`` (fewer candidates)."""
    first = next(i for i, n in enumerate(pattern.nodes) if n.accepts is not anything)
    order = [first]
    while len(order) < len(pattern.nodes):
        order.append(next(i for a, b in pattern.edges for i, j in ((a, b), (b, a)) if j in order and i not in order))
    return order
