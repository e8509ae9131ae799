"""Ops that move, select or reshape data without arithmetic (Reshape, Transpose, Concat, Gather, Slice, ...)."""

from __future__ import annotations
