"""Arithmetic, comparison and logical ops with broadcasting (Add, Multiply, Select, ...)."""

from __future__ import annotations
