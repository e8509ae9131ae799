"""Which layers an algorithm leaves alone: by name, by op type, or by a name pattern.

The same rules as NNCF's ``IgnoredScope``: names match exactly, patterns are regular
expressions matched at the start of a layer name (``re.match``), types are OpenVINO op types.
With ``validate`` every rule must match some node, so a typo is an error, not a silent no-op.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from lpir.errors import ValidationError
from lpir.ir.graph import Model


@dataclass(frozen=True)
class IgnoredScope:
    """Layers to leave unchanged: ``names`` (exact), ``types`` (op types), ``patterns`` (regex)."""

    names: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    validate: bool = True

    def __post_init__(self):
        for field in ("names", "types", "patterns"):
            value = getattr(self, field)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, field, tuple(value))
        for pattern in self.patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValidationError(f"ignored scope: pattern {pattern!r} is not a regular expression ({exc})") from None

    def ignored_names(self, model: Model) -> set[str]:
        """Names of the nodes of ``model`` this scope covers (raises on unmatched rules if ``validate``)."""
        nodes = model.nodes()
        names = {node.name for node in nodes}
        ignored = {name for name in self.names if name in names}
        ignored |= {node.name for node in nodes if node.type in self.types}
        unmatched: list[str] = [f"name {name!r}" for name in self.names if name not in names]
        unmatched += [f"type {t!r}" for t in self.types if not any(node.type == t for node in nodes)]
        for pattern in self.patterns:
            matched = {name for name in names if re.match(pattern, name)}
            if not matched:
                unmatched.append(f"pattern {pattern!r}")
            ignored |= matched
        if self.validate and unmatched:
            raise ValidationError(f"ignored scope: no node of model '{model.name}' matches {', '.join(unmatched)} "
                                  "(pass validate=False to allow rules that match nothing)")
        return ignored


def as_ignored_scope(scope: IgnoredScope | Iterable[str] | None) -> IgnoredScope:
    """An :class:`IgnoredScope` from None, a scope, or a list of layer names."""
    if scope is None:
        return IgnoredScope()
    if isinstance(scope, IgnoredScope):
        return scope
    if isinstance(scope, str):
        return IgnoredScope(names=(scope,))
    return IgnoredScope(names=tuple(scope))
