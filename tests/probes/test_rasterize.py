"""Rasterisation: geometry preserved below the voxel, electrodes, errors, electric smoothness."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rfasim.errors import ProbeError
from rfasim.grid import Grid
from rfasim.physics.electric import AMGSolver, ElectricProblem
from rfasim.probes import ProbePlacement, raster_measures, rasterize_probes
from rfasim.sources import ElectrodeRaster
from rfasim.tissue import TissueClass

RADIUS_MM = 1.47 / 2
LENGTH_MM = 20.0
OBLIQUE = np.array([1.0, 2.0, -3.0]) / math.sqrt(14.0)


def needle(grid: Grid, direction=(0.0, 0.0, -1.0), offset=(0.13, -0.21, 0.07), model="cooltip-17g-2cm"):
    direction = np.asarray(direction, float) / np.linalg.norm(direction)
    tip = np.asarray(offset) + 0.5 * LENGTH_MM * direction
    return ProbePlacement(model, tip_mm=tip, direction=direction), direction


@pytest.mark.parametrize("spacing_mm", [1.0, 0.5])
@pytest.mark.parametrize("direction", [(0.0, 0.0, -1.0), tuple(OBLIQUE)], ids=["axis", "oblique"])
def test_active_length_radius_and_area_are_preserved(spacing_mm, direction):
    grid = Grid.centered(28.0, spacing_mm)
    placement, unit = needle(grid, direction)
    [electrode] = rasterize_probes([placement], grid)
    measured = raster_measures(electrode, grid, unit)
    area = 2 * math.pi * RADIUS_MM * LENGTH_MM + 2 * math.pi * RADIUS_MM**2
    assert measured["volume_mm3"] == pytest.approx(math.pi * RADIUS_MM**2 * LENGTH_MM, rel=0.01)
    assert measured["length_mm"] == pytest.approx(LENGTH_MM, rel=0.01)
    assert measured["radius_mm"] == pytest.approx(RADIUS_MM, rel=0.01)
    assert measured["surface_area_mm2"] == pytest.approx(area, rel=0.01)


def test_electrode_fields_of_a_cooled_needle():
    grid = Grid.centered(28.0, 0.5)
    placement, unit = needle(grid, OBLIQUE)
    [electrode] = rasterize_probes([placement], grid)
    assert isinstance(electrode, ElectrodeRaster)
    assert electrode.cooled and electrode.coolant_temperature_c == 10.0 and electrode.polarity == 1.0
    assert electrode.metal_index.size > 0 and electrode.coupling_index.size > 0
    assert np.all(electrode.coupling_factor_m > 0)
    assert electrode.insulated_index.size > 0
    assert np.intersect1d(electrode.insulated_index, electrode.metal_index).size == 0
    [sensor] = electrode.thermocouple_index
    assert sensor not in electrode.metal_index
    position = grid.index_to_world(np.array(np.unravel_index(sensor, grid.shape)))
    tip = placement.geometry().tip_mm
    assert (position - tip) @ unit >= -0.5 * grid.spacing_mm  # at or beyond the tip
    assert np.linalg.norm(position - tip) < 1.5 * grid.spacing_mm


def test_cluster_is_one_electrode_and_bipolar_probes_are_two():
    grid = Grid.centered(40.0, 1.0)
    cluster = ProbePlacement("cooltip-cluster-2.5cm", tip_mm=[0, 0, -12], direction=[0, 0, -1])
    assert len(rasterize_probes([cluster], grid)) == 1
    pair = ProbePlacement("bipolar-pair-17g", tip_mm=[0, 0, -12], direction=[0, 0, -1])
    positive, negative = rasterize_probes([pair], grid)
    assert (positive.polarity, negative.polarity) == (0.5, -0.5)
    assert np.intersect1d(positive.metal_index, negative.metal_index).size == 0
    celon = ProbePlacement("celon-prosurge-t30", tip_mm=[0, 0, -14], direction=[0, 0, -1])
    distal, proximal = rasterize_probes([celon], grid)
    assert distal.polarity == 0.5 and proximal.polarity == -0.5
    # the insulator between the electrodes is insulating, never metal
    assert np.intersect1d(distal.insulated_index, np.union1d(distal.metal_index, proximal.metal_index)).size == 0
    assert distal.insulated_index.size > 0


def test_multitine_probe_rasterises_its_tines():
    grid = Grid.centered(48.0, 1.0)
    probe = ProbePlacement("starburst-xl", tip_mm=[0, 0, 5], direction=[0, 0, -1], deployment_diameter_mm=30)
    [electrode] = rasterize_probes([probe], grid)
    centres = grid.index_to_world(np.stack(np.unravel_index(electrode.fraction_index, grid.shape), axis=1))
    assert np.hypot(centres[:, 0], centres[:, 1]).max() == pytest.approx(15.0, abs=1.5)
    assert electrode.thermocouple_index.size == 5


def test_probe_errors():
    grid = Grid.centered(30.0, 1.0)
    with pytest.raises(ProbeError, match="tip .* outside the grid"):
        rasterize_probes([ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, 40], direction=[0, 0, 1])], grid)
    with pytest.raises(ProbeError, match="active part reaches .* outside the grid"):
        rasterize_probes([ProbePlacement("cooltip-17g-3cm", tip_mm=[0, 0, -10], direction=[0, 0, -1])], grid)
    crossing = [
        ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, -10], direction=[0, 0, -1]),
        ProbePlacement("cooltip-17g-2cm", tip_mm=[-10, 0.5, 0], direction=[-1, 0, 0]),
    ]
    with pytest.raises(ProbeError, match="probe 1 .* and probe 2 .* intersect"):
        rasterize_probes(crossing, grid)
    labels = np.zeros(grid.shape, np.uint8)
    with pytest.raises(ProbeError, match="outside the body"):
        rasterize_probes([ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, -10], direction=[0, 0, -1])], grid, labels)
    with pytest.raises(ProbeError, match="do not match the grid"):
        rasterize_probes([ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, -10], direction=[0, 0, -1])], grid, labels[1:])
    with pytest.raises(ProbeError, match="no probe"):
        rasterize_probes([], grid)
    liver = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    assert rasterize_probes([ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, -10], direction=[0, 0, -1])], grid, liver)


def resistance_ohm(electrodes, grid: Grid) -> float:
    conductivity = np.full(grid.shape, 0.333)
    for electrode in electrodes:
        conductivity.ravel()[electrode.insulated_index] = 0.0
    return ElectricProblem(grid, list(electrodes), solver=AMGSolver(1e-9)).solve(conductivity).impedance_ohm


def shifted_resistances(grid: Grid, direction, rasterizer) -> np.ndarray:
    values = []
    for shift in (0.0, 0.25, 0.5):
        offset = np.array([shift, 0.4 * shift, 0.0]) * grid.spacing_mm
        placement, _ = needle(grid, direction, offset=offset)
        values.append(resistance_ohm(rasterizer(placement, grid), grid))
    return np.array(values)


def naive(placement, grid):
    """Metal where the voxel is at least half covered, nothing else (what we improve on)."""
    [electrode] = rasterize_probes([placement], grid)
    metal = electrode.fraction_index[electrode.metal_fraction >= 0.5]
    return [ElectrodeRaster("naive", metal, insulated_index=electrode.insulated_index)]


def cut_cell(placement, grid):
    return rasterize_probes([placement], grid)


@pytest.mark.parametrize("direction", [(0.0, 0.0, -1.0), tuple(OBLIQUE)], ids=["axis", "oblique"])
def test_resistance_is_smooth_under_half_voxel_shifts(direction):
    grid = Grid.centered(28.0, 1.0)
    values = shifted_resistances(grid, direction, cut_cell)
    variation = (values.max() - values.min()) / values.mean()
    assert variation < 0.04, values


def test_naive_rasterisation_jumps_so_the_smoothness_test_can_fail():
    grid = Grid.centered(28.0, 1.0)  # voxel corners at integer mm: a needle on a corner
    placement, _ = needle(grid, offset=(0.0, 0.0, 0.0))
    assert naive(placement, grid)[0].metal_index.size == 0  # no voxel is half covered: lost
    values = shifted_resistances(grid, (0.0, 0.0, -1.0), naive)
    assert (values.max() - values.min()) / values.min() > 0.04  # infinite when the needle is lost


def test_resistance_agrees_between_1_and_half_mm():
    coarse = Grid.centered(28.0, 1.0)
    fine = Grid.centered(28.0, 0.5)
    values = [resistance_ohm(rasterize_probes([needle(grid, OBLIQUE)[0]], grid), grid) for grid in (coarse, fine)]
    assert values[0] == pytest.approx(values[1], rel=0.04)
