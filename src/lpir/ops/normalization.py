"""Normalizations and attention (MVN, Softmax, NormalizeL2, BatchNormInference, ScaledDotProductAttention)."""

from __future__ import annotations
