"""FakeQuantize (bit-exact to the core reference) and the type conversions Convert, ConvertLike."""

from __future__ import annotations
