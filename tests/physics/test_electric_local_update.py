"""Fused electric passes against their NumPy twins; the local update against the global solve."""

from __future__ import annotations

import numpy as np
import pytest

from rfasim.grid import Grid
from rfasim.physics import electric_kernels
from rfasim.physics.electric import (
    ConjugateGradientSolver,
    ElectricProblem,
    MultigridSolver,
    assemble_reference,
    joule_reference,
)
from rfasim.physics.local_update import LocalUpdateOptions, electrode_box
from rfasim.probes import ProbePlacement, rasterize_probes
from rfasim.sources import ElectrodeRaster
from rfasim.tissue import TissueClass

SIGMA = 0.333


def mixed_problem(grounded=("x-", "y+", "z-")):
    """Metal voxels at two polarities, sub-voxel couplings (one voxel coupled to both), insulators."""
    grid = Grid.centered((14.0, 12.0, 10.0), 1.0)
    generator = np.random.default_rng(11)
    sigma = generator.uniform(0.1, 0.6, grid.shape) * (generator.random(grid.shape) > 0.08)
    first = np.zeros(grid.shape, bool)
    first[4:6, 5, 3:7] = True
    second = np.zeros(grid.shape, bool)
    second[10, 3:5, 4] = True
    coupling = np.ravel_multi_index(np.array([[3, 5, 5], [7, 5, 5], [9, 4, 4], [6, 6, 6]]).T, grid.shape)
    electrodes = [
        ElectrodeRaster("a", np.flatnonzero(first), coupling[[0, 1, 3]], np.array([2e-4, 1e-4, 5e-5]), polarity=0.5),
        ElectrodeRaster("b", np.flatnonzero(second), coupling[[2, 3]], np.array([3e-4, 7e-5]), polarity=-0.5),
    ]
    for electrode in electrodes:
        electrode.validate(grid)
    return grid, sigma, ElectricProblem(grid, electrodes, grounded_faces=grounded)


@pytest.mark.parametrize("grounded", [(), ("x-", "y+", "z-"), ("x-", "x+", "y-", "y+", "z-", "z+")])
def test_fused_assembly_and_joule_match_numpy_twins(grounded):
    grid, sigma, problem = mixed_problem(grounded)
    gx, gy, gz, diagonal, rhs = problem._system(sigma, own_buffers=True)  # float64 buffers
    expected = assemble_reference(problem, sigma)
    for fast, slow in zip((gx[:-1], gy[:, :-1], gz[:, :, :-1], diagonal, rhs), expected[:5], strict=True):
        np.testing.assert_allclose(fast, slow, rtol=1e-13, atol=1e-18)
    assert np.all(gx[-1] == 0) and np.all(gy[:, -1] == 0) and np.all(gz[:, :, -1] == 0)
    potential = np.random.default_rng(5).uniform(-0.5, 0.5, grid.shape)
    heating, output = np.empty(grid.shape), np.empty(grid.shape)
    power = electric_kernels.joule(
        potential, problem._no_ghost, 1.0, sigma, problem._metal, problem._metal_potential, grid.spacing_m,
        problem._grounded, problem._origin, gx, gy, gz, problem._coupling_index, problem._coupling_factor,
        problem._coupling_factor_polarity, problem._coupling_factor_polarity2, 1.0 / grid.voxel_volume_m3,
        heating, output,
    )
    potential_ref, heating_ref, power_ref = joule_reference(problem, potential, expected[:3], expected[5])
    np.testing.assert_allclose(output, potential_ref, rtol=1e-14)
    np.testing.assert_allclose(heating, heating_ref, rtol=1e-12, atol=1e-12 * np.abs(heating_ref).max())
    assert power == pytest.approx(power_ref, rel=1e-12)


def test_multigrid_operator_is_the_float64_assembly_rounded_once():
    """The multigrid path assembles straight into the hierarchy's fine level: each face and
    diagonal is the float64 value rounded to the hierarchy's precision, the rhs stays float64."""
    grid, sigma, problem = mixed_problem()
    exact = [array.copy() for array in problem._system(sigma, own_buffers=True)]
    stored = problem._system(sigma)
    hierarchy = problem.solver.hierarchy(grid.shape)
    assert all(np.shares_memory(array, view) for array, view in zip(stored[:4], hierarchy.fine_system(), strict=True))
    for fast, slow in zip(stored[:4], exact[:4], strict=True):
        assert fast.dtype == hierarchy.precision
        np.testing.assert_array_equal(fast, slow.astype(hierarchy.precision))
    assert stored[4].dtype == np.float64
    np.testing.assert_array_equal(stored[4], exact[4])


def test_box_with_the_exact_outside_reproduces_the_global_solution():
    """Interfaces: a box solved with the global potential held outside gives the global field."""
    grid, sigma, problem = mixed_problem()
    # The decomposition is exact in exact arithmetic: check it at double precision (the
    # default single-precision operator of the global solve differs from it by ~1e-7).
    problem.solver = MultigridSolver(relative_tolerance=1e-12, precision="float64")
    solution = problem.solve(sigma)
    low, high = np.array([2, 2, 1]), np.array([12, 9, 8])
    shape = tuple(high - low)
    faces = [np.empty(shape) for _ in range(3)]
    diagonal, rhs, rhs_outside = np.empty(shape), np.empty(shape), np.empty(shape)
    electric_kernels.assemble(
        sigma, problem._metal, problem._metal_potential, grid.spacing_m, problem._grounded, low,
        solution.potential_v, problem._coupling_index, problem._coupling_factor, problem._coupling_factor_polarity,
        *faces, diagonal, rhs, rhs_outside,
    )
    hierarchy = MultigridSolver(relative_tolerance=1e-12).hierarchy(shape)
    hierarchy.update(*faces, diagonal)
    inside, _ = hierarchy.solve(*faces, diagonal, rhs + rhs_outside, None, 1e-12)
    box = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    unknown = (sigma[box] > 0) & (problem._metal[box] == 0)
    np.testing.assert_allclose(inside[unknown], solution.potential_v[box][unknown], atol=1e-10)
    heating, potential = np.zeros(grid.shape), np.zeros(grid.shape)
    electric_kernels.joule(
        inside, solution.potential_v, 1.0, sigma, problem._metal, problem._metal_potential, grid.spacing_m,
        problem._grounded, low, *faces, problem._coupling_index, problem._coupling_factor,
        problem._coupling_factor_polarity, problem._coupling_factor_polarity2, 1.0 / grid.voxel_volume_m3,
        heating, potential,
    )
    scale = np.abs(solution.heating_per_conductivity).max()
    np.testing.assert_allclose(heating[box], solution.heating_per_conductivity[box], atol=1e-8 * scale)
    # The current leaving the box equals the flux the global solution carries there.
    fluxes = np.zeros(electric_kernels.interface_size(shape))
    total = electric_kernels.interface_fluxes(np.ascontiguousarray(solution.potential_v[box]), solution.potential_v,
                                              1.0, sigma, problem._metal, low, grid.spacing_m, fluxes)
    inside_total = electric_kernels.interface_fluxes(inside, solution.potential_v, 1.0, sigma, problem._metal, low,
                                                     grid.spacing_m, fluxes)
    assert inside_total == pytest.approx(total, rel=1e-8, abs=1e-14)


def needle_case(extent_mm=40.0, spacing_mm=1.0):
    grid = Grid.centered(extent_mm, spacing_mm)
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    placement = ProbePlacement("cooltip-17g-3cm", tip_mm=[0.0, 0.0, -15.0], entry_mm=[0.0, 0.0, extent_mm])
    electrodes = rasterize_probes([placement], grid, material)
    x, y, z = grid.voxel_centers_mm()
    radius = np.sqrt(x**2 + y**2)
    return grid, electrodes, radius, z


def desiccated(radius, z, sigma, drop, heated=1.3):
    """sigma raised by heating around the needle, dropped by drying in a thin shell near the tip."""
    warm = sigma * (1.0 + (heated - 1.0) * np.exp(-(radius**2 + (np.abs(z) > 15) * (np.abs(z) - 15) ** 2) / 36.0))
    shell = (radius < 2.5) & (z < -8.0) & (z > -17.0)
    return np.where(shell, warm * drop, warm)


def heat_error(solution, exact, sigma):
    return float(np.abs((solution.heating_per_conductivity - exact.heating_per_conductivity) * sigma).sum()
                 / np.abs(exact.heating_per_conductivity * sigma).sum())


def test_local_update_agrees_with_the_global_solve():
    """Drying near the tip in 3 % steps (default options): local updates, heating within 0.5 % (L1)
    and half the flux-mismatch indicator, conductance within 1e-4."""
    grid, electrodes, radius, z = needle_case()
    problem = ElectricProblem(grid, electrodes)
    exact = ElectricProblem(grid, electrodes, solver=MultigridSolver(relative_tolerance=1e-10))
    base = desiccated(radius, z, np.full(grid.shape, SIGMA), 1.0)
    first = problem.update(base)
    assert not first.local  # the first update is a global solve
    for drop in (0.97, 0.94, 0.91):
        sigma = desiccated(radius, z, np.full(grid.shape, SIGMA), drop)
        local = problem.update(sigma)
        reference = exact.solve(sigma)
        assert local.local
        error = heat_error(local, reference, sigma)
        assert error < 0.005
        # The indicator bounds the heating error (ratio ~0.2-0.3 here and on the standard case).
        assert 0 < error < 0.5 * local.flux_mismatch < 0.5 * problem.local_options.flux_mismatch_tolerance
        assert local.conductance_s == pytest.approx(reference.conductance_s, rel=1e-4)
    # Energy identity of the update: heating times sigma sums to the conductance.
    total = float((local.heating_per_conductivity * sigma).sum() * grid.voxel_volume_m3)
    assert total == pytest.approx(local.conductance_s, rel=1e-12)


def test_indicators_trigger_a_global_solve():
    grid, electrodes, radius, z = needle_case()
    options = LocalUpdateOptions(flux_mismatch_tolerance=0.02, exterior_drift_tolerance=0.005)
    problem = ElectricProblem(grid, electrodes, local_update=options)
    base = np.full(grid.shape, SIGMA)
    problem.update(base)
    # A strong change right at the needle: the box's surface sees a new current pattern.
    strong = problem.update(desiccated(radius, z, base, 0.2))
    assert not strong.local
    # A change far from the needle only (outside the box): the exterior drift trips.
    low, high = electrode_box(problem, options.margin_mm)
    far = desiccated(radius, z, base, 0.2).copy()
    problem.update(far)
    far[: low[0]] *= 1.5
    assert not problem.update(far).local
    # No change at all: the cached solution comes back.
    again = problem.update(far)
    assert again.iterations == 0 and again.heating_per_conductivity is problem._last_solution.heating_per_conductivity


def test_local_update_of_a_bipolar_pair_in_an_insulated_box():
    """No net current leaves the box: the scale minimises the face mismatch instead."""
    grid = Grid.centered((40.0, 30.0, 30.0), 1.0)
    x, y, z = grid.voxel_centers_mm()
    first = ElectrodeRaster.from_mask("plus", (np.abs(x + 5) < 1) & (np.abs(y) < 1) & (np.abs(z) < 6), polarity=0.5)
    second = ElectrodeRaster.from_mask("minus", (np.abs(x - 5) < 1) & (np.abs(y) < 1) & (np.abs(z) < 6), polarity=-0.5)
    for electrode in (first, second):
        electrode.validate(grid)
    # The margin is set in mm here (6 voxels), below the default floor in voxels.
    options = LocalUpdateOptions(margin_mm=6.0, minimum_margin_voxels=0, flux_mismatch_tolerance=0.3)
    problem = ElectricProblem(grid, [first, second], grounded_faces=(), local_update=options)
    exact = ElectricProblem(grid, [first, second], grounded_faces=(), solver=MultigridSolver(relative_tolerance=1e-10))
    sigma = np.full(grid.shape, SIGMA)
    problem.update(sigma)
    dried = np.where((np.abs(x + 5) < 2.5) & (np.abs(y) < 2.5) & (np.abs(z) < 7), 0.7 * SIGMA, SIGMA)
    local = problem.update(dried)
    reference = exact.solve(dried)
    assert local.local
    assert heat_error(local, reference, dried) < 0.01
    assert local.conductance_s == pytest.approx(reference.conductance_s, rel=2e-3)


def test_box_margin_has_a_floor_in_voxels():
    """On a coarse grid the 10 mm margin is a few voxels only: the box keeps at least
    ``minimum_margin_voxels`` (default 10) around the metal, and a box that then holds too much
    of the grid means global solves."""
    for spacing, expected in ((1.0, 10), (2.0, 10), (3.0, 10), (0.5, 20)):
        grid = Grid.centered(80.0, spacing)
        x, y, z = grid.voxel_centers_mm()
        needle = ElectrodeRaster.from_mask("needle", (x**2 + y**2 <= spacing**2) & (np.abs(z) <= 6.0))
        needle.validate(grid)
        problem = ElectricProblem(grid, [needle])
        low, high = electrode_box(problem, 10.0, LocalUpdateOptions().minimum_margin_voxels)
        ijk = np.array(np.unravel_index(needle.metal_index, grid.shape))
        assert int((ijk.min(axis=1) - low).min()) == min(expected, int(ijk.min()))
    grid = Grid.centered(60.0, 3.0)
    x, y, z = grid.voxel_centers_mm()
    needle = ElectrodeRaster.from_mask("needle", (x**2 + y**2 <= 9.0) & (np.abs(z) <= 6.0))
    needle.validate(grid)
    problem = ElectricProblem(grid, [needle])
    problem.update(np.full(grid.shape, SIGMA))
    assert not problem.update(np.full(grid.shape, 1.1 * SIGMA)).local  # the box would hold the grid
    with pytest.raises(ValueError, match="minimum_margin_voxels"):
        LocalUpdateOptions(minimum_margin_voxels=-1)


def test_options_are_validated():
    with pytest.raises(ValueError, match="margin_mm"):
        LocalUpdateOptions(margin_mm=0.0)
    with pytest.raises(ValueError, match="maximum_box_fraction"):
        LocalUpdateOptions(maximum_box_fraction=1.5)
    with pytest.raises(ValueError, match="precision"):
        MultigridSolver(precision="float16")


def test_update_with_another_solver_is_a_global_solve_and_counts_are_kept():
    grid, electrodes, radius, z = needle_case(extent_mm=30.0, spacing_mm=1.5)
    problem = ElectricProblem(grid, electrodes, solver=ConjugateGradientSolver(1e-9))
    base = np.full(grid.shape, SIGMA)
    first = problem.update(base)
    second = problem.update(desiccated(radius, z, base, 0.9))
    assert not first.local and not second.local
    problem.update(desiccated(radius, z, base, 0.9))  # unchanged: answered from the last solve
    counts = problem.statistics()
    assert counts["global_solves"] == 2 and counts["local_updates"] == 0 and counts["unchanged_calls"] == 1


def test_content_digest_tells_any_change_of_the_conductivity():
    """The unchanged-conductivity check hashes the field's bytes: equal fields agree, a change of
    one value by one ulp, two values swapped or a sign flip each give another digest."""
    field = np.random.default_rng(3).uniform(0.1, 0.6, 4096)

    def digest(values):
        return electric_kernels.content_digest(values.view(np.uint64), values)

    assert digest(field) == digest(field.copy())
    nudged = field.copy()
    nudged[1234] = np.nextafter(nudged[1234], 1.0)
    swapped = field.copy()
    swapped[[10, 11]] = swapped[[11, 10]]
    negative = -field
    digests = {digest(values)[:2] for values in (field, nudged, swapped, negative)}
    assert len(digests) == 4
    assert digest(field)[2] and not digest(negative)[2]


def test_known_changed_update_skips_the_unchanged_check():
    """A caller that knows sigma changed skips the digest: that call and the next are solved, not
    answered from cache; the check resumes from there (the fourth call below is cached)."""
    grid, electrodes, radius, z = needle_case()
    problem = ElectricProblem(grid, electrodes)
    base = desiccated(radius, z, np.full(grid.shape, SIGMA), 0.97)
    first = problem.update(base)
    second = problem.update(base, known_changed=True)
    assert problem.unchanged_calls == 0 and second.potential_v is not first.potential_v
    problem.update(base)  # no digest was stored by the known-changed call: solved again
    assert problem.unchanged_calls == 0
    cached = problem.update(base)
    assert problem.unchanged_calls == 1 and cached.iterations == 0
    assert second.local and heat_error(second, first, base) < 0.005  # a real (local) solve
