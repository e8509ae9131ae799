"""MaxPool and AvgPool."""

from __future__ import annotations
