"""The electric solver against analytic solutions (spheres, cylinders) and under refinement."""

from __future__ import annotations

import numpy as np
import pytest

from rfasim import analytics
from rfasim.grid import Grid
from rfasim.physics.electric import (
    AMGSolver,
    ConjugateGradientSolver,
    ElectricProblem,
    MultigridSolver,
)
from rfasim.sources import ElectrodeRaster

SIGMA = 0.333


def concentric_spheres(spacing_mm: float, inner_mm: float = 4.0, outer_mm: float = 14.0):
    """Inner sphere at +0.5 V, spherical shell at -0.5 V, nothing conducting outside."""
    grid = Grid.centered(2 * outer_mm + 6 * spacing_mm, spacing_mm)
    x, y, z = grid.voxel_centers_mm()
    radius = np.sqrt(x**2 + y**2 + z**2)
    sigma = np.where(radius < outer_mm + 2 * spacing_mm, SIGMA, 0.0)
    inner = ElectrodeRaster.from_mask("inner", radius <= inner_mm, polarity=0.5)
    outer = ElectrodeRaster.from_mask(
        "outer", (radius >= outer_mm) & (radius < outer_mm + 2 * spacing_mm), polarity=-0.5
    )
    for electrode in (inner, outer):
        electrode.validate(grid)
    return grid, radius, sigma, [inner, outer]


@pytest.mark.parametrize("solver", [MultigridSolver(), AMGSolver(), ConjugateGradientSolver()])
def test_sphere_potential_and_resistance_at_half_millimetre(solver):
    """Concentric spheres a = 4 mm, b = 14 mm at 0.5 mm: R within 3 %, V(r) within 0.02 V."""
    grid, radius, sigma, electrodes = concentric_spheres(0.5)
    problem = ElectricProblem(grid, electrodes, grounded_faces=(), solver=solver)
    solution = problem.solve(sigma)
    expected = analytics.concentric_sphere_resistance(SIGMA, 4e-3, 14e-3)
    assert solution.impedance_ohm == pytest.approx(expected, rel=0.03)
    between = (radius > 5.5) & (radius < 12.5)
    analytic = analytics.concentric_sphere_potential(radius[between] * 1e-3, 4e-3, 14e-3, 0.5, -0.5)
    assert np.max(np.abs(solution.potential_v[between] - analytic)) < 0.02


def test_sphere_resistance_converges_under_refinement():
    """The resistance error falls as the voxelised spheres are refined (first order: staircase)."""
    errors = []
    expected = analytics.concentric_sphere_resistance(SIGMA, 4e-3, 14e-3)
    for spacing in (1.0, 0.5, 0.25):
        grid, _, sigma, electrodes = concentric_spheres(spacing)
        solution = ElectricProblem(grid, electrodes, grounded_faces=()).solve(sigma)
        errors.append(abs(solution.impedance_ohm - expected) / expected)
    assert errors[2] < errors[0] / 2.5, errors
    assert errors[2] < 0.015


def test_coaxial_cylinder_resistance_and_potential():
    """Infinite coaxial cylinders (periodic-free: insulated z faces) a = 3 mm, b = 12 mm."""
    spacing = 0.5
    grid = Grid.centered((30.0, 30.0, 4.0), spacing)
    x, y, _ = grid.voxel_centers_mm()
    radius = np.broadcast_to(np.sqrt(x**2 + y**2), grid.shape)
    sigma = np.where(radius < 13.0, SIGMA, 0.0)
    inner = ElectrodeRaster.from_mask("inner", radius <= 3.0, polarity=0.5)
    outer = ElectrodeRaster.from_mask("outer", (radius >= 12.0) & (radius < 13.0), polarity=-0.5)
    solution = ElectricProblem(grid, [inner, outer], grounded_faces=()).solve(sigma)
    length = grid.shape[2] * grid.spacing_m
    expected = analytics.coaxial_cylinder_resistance(SIGMA, 3e-3, 12e-3, length)
    assert solution.impedance_ohm == pytest.approx(expected, rel=0.03)
    between = (radius > 4.0) & (radius < 11.0)
    analytic = analytics.coaxial_cylinder_potential(radius[between] * 1e-3, 3e-3, 12e-3, 0.5, -0.5)
    assert np.max(np.abs(solution.potential_v[between] - analytic)) < 0.02


def test_joule_heat_equals_electrical_power():
    """Discrete energy identity: the voxel heats add up to V^2 / R (1 V applied)."""
    grid, _, sigma, electrodes = concentric_spheres(1.0)
    solution = ElectricProblem(grid, electrodes, grounded_faces=()).solve(sigma)
    heat = solution.heating_per_conductivity * sigma * grid.voxel_volume_m3
    assert heat.sum() == pytest.approx(1.0 / solution.impedance_ohm, rel=1e-12)
    assert np.all(heat >= 0)


def test_monopolar_sphere_in_large_grounded_box_matches_infinite_medium():
    """R = 1 / (4 pi sigma a) minus the box's finite distance: within 8 % for a 60 mm box, a = 4 mm."""
    grid = Grid.centered(60.0, 1.0)
    x, y, z = grid.voxel_centers_mm()
    radius = np.sqrt(x**2 + y**2 + z**2)
    sphere = ElectrodeRaster.from_mask("sphere", radius <= 4.0)
    solution = ElectricProblem(grid, [sphere]).solve(np.full(grid.shape, SIGMA))
    infinite = analytics.concentric_sphere_resistance(SIGMA, 4e-3, np.inf)
    # The grounded box acts like a sphere of radius ~ its half-width: R is a little lower.
    bounded = analytics.concentric_sphere_resistance(SIGMA, 4e-3, 30e-3)
    assert bounded * 0.92 < solution.impedance_ohm < infinite * 1.02


def test_solvers_agree_on_heterogeneous_conductivity():
    """Multigrid, AMG and Jacobi CG give the same potential with a 100x conductivity contrast."""
    grid = Grid.centered(24.0, 1.0)
    x, y, z = grid.voxel_centers_mm()
    needle = (np.abs(x) < 0.6) & (np.abs(y) < 0.6) & (np.abs(z) <= 6)
    sigma = np.where(x**2 + y**2 < 9, SIGMA * 0.01, SIGMA * 1.5) * np.ones(grid.shape)
    results = []
    for solver in (MultigridSolver(relative_tolerance=1e-10), AMGSolver(1e-10), ConjugateGradientSolver(1e-10)):
        electrode = ElectrodeRaster.from_mask("needle", needle)
        results.append(ElectricProblem(grid, [electrode], solver=solver).solve(sigma))
    for other in results[1:]:
        assert np.max(np.abs(other.potential_v - results[0].potential_v)) < 1e-6
        assert other.conductance_s == pytest.approx(results[0].conductance_s, rel=1e-6)


def test_warm_start_needs_no_iteration_for_a_uniform_scaling():
    """The potential does not depend on a uniform scaling of sigma: a warm start is exact."""
    grid = Grid.centered(20.0, 1.0)
    x, y, z = grid.voxel_centers_mm()
    electrode = ElectrodeRaster.from_mask("ball", x**2 + y**2 + z**2 <= 9)
    problem = ElectricProblem(grid, [electrode])
    first = problem.solve(np.full(grid.shape, SIGMA))
    second = problem.solve(np.full(grid.shape, 2 * SIGMA))
    assert second.iterations == 0
    assert second.conductance_s == pytest.approx(2 * first.conductance_s, rel=1e-9)


def test_numba_assembly_and_joule_heat_match_numpy_references():
    from rfasim.physics.electric import (
        assemble_faces,
        assemble_faces_reference,
        face_joule_heat,
        face_joule_heat_reference,
    )

    generator = np.random.default_rng(7)
    shape = (7, 6, 5)
    sigma = generator.uniform(0.1, 1.0, shape) * (generator.random(shape) > 0.1)
    is_metal = (generator.random(shape) > 0.85).astype(np.uint8)
    unknown = ((sigma > 0) & (is_metal == 0)).astype(np.uint8)
    metal_potential = np.where(is_metal != 0, generator.choice([0.5, -0.5], shape), 0.0)
    gx, gy, gz = np.zeros((6, 6, 5)), np.zeros((7, 5, 5)), np.zeros((7, 6, 4))
    diagonal, rhs = np.empty(shape), np.empty(shape)
    assemble_faces(sigma, unknown, is_metal, metal_potential, 1e-3, gx, gy, gz, diagonal, rhs)
    expected = assemble_faces_reference(sigma, unknown, is_metal, metal_potential, 1e-3)
    for fast, slow in zip((gx, gy, gz, diagonal, rhs), expected, strict=True):
        np.testing.assert_allclose(fast, slow, rtol=1e-13, atol=1e-18)
    potential = generator.uniform(-0.5, 0.5, shape)
    heat = np.empty(shape)
    face_joule_heat(potential, sigma, unknown, is_metal, metal_potential, 1e-3, gx, gy, gz, heat)
    np.testing.assert_allclose(
        heat, face_joule_heat_reference(potential, sigma, unknown, is_metal, metal_potential, 1e-3, gx, gy, gz),
        rtol=1e-13, atol=1e-18,
    )
