"""Reductions (ReduceMean, ReduceSum, ReduceMax, ...)."""

from __future__ import annotations
