"""Convolution, GroupConvolution and their backprop-data (transposed) forms."""

from __future__ import annotations
