"""The branch-free exponential of the heat step's doses against the C library's."""

from __future__ import annotations

import numba
import numpy as np

from rfasim.physics.bioheat_kernel import HEAT_FASTMATH
from rfasim.physics.vector_math import EXP_ARGUMENT_LIMIT, exp_vectorizable


@numba.njit(fastmath=HEAT_FASTMATH)
def _exp_loop(x, out):  # the heat step's licences: reassociation must not spoil the reduction
    for k in range(x.size):
        out[k] = exp_vectorizable(x[k])


def _ulps(x):
    out = np.empty_like(x)
    _exp_loop(x, out)
    reference = np.exp(x)
    return np.abs(out - reference) / np.spacing(reference)


def test_exp_is_within_two_ulp_of_numpy_over_its_range():
    """Random and dense arguments over [-700, 700], the doses' own ranges (CEM43: ln2 (T - 43);
    Arrhenius: -Ea/R / T) and the exact points 0 and the range ends: at most 2 ulp, and a
    wrong constant (the Cody-Waite split or a Taylor coefficient) costs hundreds."""
    generator = np.random.default_rng(0)
    x = np.concatenate([
        generator.uniform(-700.0, 700.0, 200_000), np.linspace(-50.0, 50.0, 20_001),
        np.log(2.0) * np.linspace(-4.0, 67.0, 5_001), -7.7e4 / np.linspace(310.0, 400.0, 5_001),
        [0.0, -EXP_ARGUMENT_LIMIT, EXP_ARGUMENT_LIMIT, 1e-300, -1e-300],
    ])
    assert _ulps(x).max() <= 2.0


def test_exp_clamps_outside_its_range():
    """Beyond +-708 the argument is clamped: finite, and equal to the value at the limit."""
    out = np.empty(2)
    _exp_loop(np.array([-1000.0, 1000.0]), out)
    np.testing.assert_allclose(out, np.exp([-EXP_ARGUMENT_LIMIT, EXP_ARGUMENT_LIMIT]), rtol=3e-16)
