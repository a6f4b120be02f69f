"""The compiled multigrid (pipelined sweeps, flat hierarchy, CG in Numba) against its twins."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as sparse_linalg

from rfasim.physics import multigrid as mg
from rfasim.physics.electric import to_csr


def random_level(shape, seed=3):
    """A random conductance system with ~10 % inactive voxels and a grounded x- side."""
    generator = np.random.default_rng(seed)
    active = (generator.random(shape) > 0.1).astype(np.uint8)
    faces = [np.zeros(shape) for _ in range(3)]
    faces[0][:-1] = generator.uniform(0.1, 1.0, (shape[0] - 1, shape[1], shape[2])) * active[:-1] * active[1:]
    faces[1][:, :-1] = generator.uniform(0.1, 1.0, (shape[0], shape[1] - 1, shape[2])) * active[:, :-1] * active[:, 1:]
    faces[2][:, :, :-1] = generator.uniform(0.1, 1.0, (shape[0], shape[1], shape[2] - 1)) * active[:, :, :-1] * active[:, :, 1:]
    diagonal = generator.uniform(0.0, 0.05, shape) * active
    diagonal[0] += 0.5 * active[0]
    rhs = generator.normal(size=shape) * active
    return mg.Level.from_padded(*faces, diagonal, active), rhs


@pytest.mark.parametrize("shape", [(9, 7, 6), (17, 12, 11), (1, 5, 4)])
def test_pipelined_sweep_equals_two_half_sweeps(shape):
    """One pass (second colour of plane i-1 right after the first of plane i) = two half-sweeps.

    The pass multiplies by the inverse full diagonal where the twin divides by the diagonal:
    equal to round-off (a wrong order of the colours or planes differs by O(1)).
    """
    level, rhs = random_level(shape)
    gx, gy, gz = level.padded
    inverse = np.empty(shape)
    mg._inverse_diagonal_planes(gx, gy, gz, level.diagonal_extra, inverse)
    start = np.random.default_rng(1).normal(size=shape) * level.active
    expected = start.copy()
    mg.smooth_color(expected, rhs, level.gx, level.gy, level.gz, level.diagonal_extra, level.active, 0)
    mg.smooth_color(expected, rhs, level.gx, level.gy, level.gz, level.diagonal_extra, level.active, 1)
    result = start.copy()
    mg._sweep(result, rhs, gx, gy, gz, inverse, 0, False)
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-14)
    # From a zero start the neighbours are not read: garbage in u must not matter.
    expected = np.zeros(shape)
    mg.smooth_color(expected, rhs, level.gx, level.gy, level.gz, level.diagonal_extra, level.active, 0)
    mg.smooth_color(expected, rhs, level.gx, level.gy, level.gz, level.diagonal_extra, level.active, 1)
    result = np.full(shape, np.nan)
    mg._sweep(result, rhs, gx, gy, gz, inverse, 0, True)
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-14)


def test_compiled_v_cycle_equals_reference_v_cycle():
    level, rhs = random_level((21, 14, 10))
    reference = mg.MultigridPreconditioner(level).apply(rhs)
    hierarchy = mg.MultigridHierarchy(level.shape, np.float64)
    hierarchy.update(*level.padded, level.diagonal_extra)
    np.testing.assert_allclose(hierarchy.apply(rhs) * level.active, reference, rtol=1e-13, atol=1e-13)
    # float32 V-cycle: the same operator to single precision.
    single = mg.MultigridHierarchy(level.shape, np.float32)
    single.update(*level.padded, level.diagonal_extra)
    difference = np.abs(single.apply(rhs) * level.active - reference).max()
    assert difference < 1e-5 * np.abs(reference).max()


def test_compiled_coarsening_equals_reference_coarsening():
    level, _ = random_level((13, 10, 9))
    hierarchy = mg.MultigridHierarchy(level.shape, np.float64)
    hierarchy.update(*level.padded, level.diagonal_extra)
    coarse = mg.coarsen(level)
    offset, shape = hierarchy.offsets[1], tuple(hierarchy.shapes[1])
    size = int(np.prod(shape))

    def view(buffer):
        return buffer[offset:offset + size].reshape(shape)

    np.testing.assert_allclose(view(hierarchy.d), coarse.diagonal_extra, rtol=1e-14)
    np.testing.assert_allclose(view(hierarchy.gx)[:-1], coarse.gx, rtol=1e-14)
    np.testing.assert_allclose(view(hierarchy.gy)[:, :-1], coarse.gy, rtol=1e-14)
    np.testing.assert_allclose(view(hierarchy.gz)[:, :, :-1], coarse.gz, rtol=1e-14)
    assert np.all(view(hierarchy.gx)[-1] == 0)


@pytest.mark.parametrize("precision", [np.float32, np.float64])
def test_compiled_cg_converges_to_the_direct_solution(precision):
    level, rhs = random_level((19, 16, 13))
    matrix, index = to_csr(level)
    exact = np.zeros(level.shape)
    exact.ravel()[index] = sparse_linalg.spsolve(matrix.tocsc(), rhs.ravel()[index])
    hierarchy = mg.MultigridHierarchy(level.shape, precision)
    hierarchy.update(*level.padded, level.diagonal_extra)
    solution, iterations = hierarchy.solve(*level.padded, level.diagonal_extra, rhs, None, 1e-11)
    assert 0 < iterations < 40
    assert np.abs(solution - exact).max() < 1e-9 * np.abs(exact).max()
    # A converged start needs no iteration.
    _, again = hierarchy.solve(*level.padded, level.diagonal_extra, rhs, solution, 1e-9)
    assert again == 0
