"""Branch-free elementary functions that LLVM can vectorise inside Numba loops.

``math.exp`` compiles to a call into the C library, which stops the loop vectoriser: llvmlite
links no vector maths library (no SVML).  :func:`exp_vectorizable` is written in plain
arithmetic instead, so a loop that calls it (inlined) keeps its SIMD form.  It serves the
damage doses of the heat step (:mod:`rfasim.physics.bioheat_kernel`), which need one or two
exponentials per heated voxel and step.

Method (Cody & Waite range reduction, as in every libm): ``x = n ln2 + r`` with integer ``n``
and ``|r| <= ln2 / 2``; ``e^r`` by its Taylor polynomial of degree 13 (truncation below
6e-18 relative, under half an ulp), and ``2^n`` built from its IEEE-754 bits.  Measured
against ``numpy.exp``: at most 2 ulp over [-700, 700] (``tests/physics/test_vector_math.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

_INVERSE_LN2 = 1.0 / math.log(2.0)
# ln 2 split so that n * _LN2_HIGH is exact for |n| < 2^11 (Cody & Waite).
_LN2_HIGH = 6.93145751953125e-1
_LN2_LOW = 1.42860682030941723212e-6
#: Inputs are clamped to this range (e^x over- or underflows beyond it anyway).
EXP_ARGUMENT_LIMIT = 708.0


@intrinsic
def _float_from_bits(typingctx: Any, bits: Any) -> Any:
    """The float64 whose IEEE-754 bits are the int64 ``bits`` (an LLVM bitcast: no memory)."""
    if not isinstance(bits, types.Integer) or getattr(bits, "bitwidth", 0) != 64:
        return None
    signature = types.float64(bits)

    def codegen(context: Any, builder: Any, signature: Any, arguments: Any) -> Any:
        return builder.bitcast(arguments[0], ir.DoubleType())

    return signature, codegen


@intrinsic
def _fused_multiply_add(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
    """``a * b + c`` rounded once (``llvm.fma``).  Unlike a plain ``a * b + c``, fast-math
    reassociation cannot merge two of these, which the range reduction below relies on."""
    if not all(isinstance(v, types.Float) and v.bitwidth == 64 for v in (a, b, c)):
        return None
    signature = types.float64(a, b, c)

    def codegen(context: Any, builder: Any, signature: Any, arguments: Any) -> Any:
        return builder.fma(*arguments)

    return signature, codegen


@numba.njit(cache=True, inline="always")
def exp_vectorizable(x: float) -> float:
    """e^x for ``x`` in [-708, 708] (clamped to it), within 2 ulp of ``math.exp``.

    Branch-free and call-free, so that a Numba loop calling it vectorises, also under the heat
    step's fast-math licences (the range reduction is written with fused multiply-adds, which
    reassociation leaves alone).  NaN is not handled (the heat step never passes one).
    """
    x = min(max(x, -EXP_ARGUMENT_LIMIT), EXP_ARGUMENT_LIMIT)
    n = np.floor(x * _INVERSE_LN2 + 0.5)  # a float: math.floor would answer an int
    r = _fused_multiply_add(-n, _LN2_LOW, _fused_multiply_add(-n, _LN2_HIGH, x))
    p = 1.0 / 6227020800.0  # 1/13!
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    scale = _float_from_bits((numba.int64(n) + numba.int64(1023)) << numba.int64(52))
    return p * scale
