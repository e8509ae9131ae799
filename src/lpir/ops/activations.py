"""Unary math and activation functions (Relu, Sigmoid, Clamp, HSwish, Gelu, Erf, ...)."""

from __future__ import annotations
