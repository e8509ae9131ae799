"""Weight compression: storing weights in a narrower type with a small graph that restores them."""

from lpir.compression.fp16 import compress_weights_to_f16
from lpir.compression.weights import compress_weights

__all__ = ["compress_weights", "compress_weights_to_f16"]
