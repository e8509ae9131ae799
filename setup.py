"""lpir's optional C extension; everything else about the build is in pyproject.toml.

The extension holds compiled twins of a few numpy kernels (src/lpir/ops/_native.c). It is
optional: without a C compiler the install still succeeds and lpir runs the numpy references,
which give the same bits. Fused multiply-add stays off so that the bits do match.
"""

import sys

from setuptools import Extension, setup

FLAGS = ["/O2", "/fp:precise"] if sys.platform == "win32" else ["-O3", "-ffp-contract=off"]

setup(ext_modules=[Extension("lpir.ops._native", ["src/lpir/ops/_native.c"], extra_compile_args=FLAGS,
                             optional=True)])
