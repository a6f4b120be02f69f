"""The sub-grid electrode model: its 2-D calibration twin, its calibration, and its 3-D use."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rfasim.errors import ProbeError
from rfasim.grid import Grid
from rfasim.physics.electric import ElectricProblem
from rfasim.probes import ProbePlacement, rasterize_probes
from rfasim.probes.coverage import Piece
from rfasim.probes.subgrid import (
    CALIBRATION_OFFSETS,
    _disc_fractions,
    calibrated_scale,
    coax_conductance_ratio,
    smearing_radius_mm,
    subgrid_coupling,
)
from rfasim.sources import ElectrodeRaster


def test_twin_reproduces_peacemans_equivalent_radius():
    """One node held at the electrode potential acts as a wire of radius ~0.198 h (Peaceman 1978)."""
    for n in (25, 41):
        weights = np.zeros((n, n))
        weights[n // 2, n // 2] = 1.0
        conductance = coax_conductance_ratio(weights, 1e7, 0.3) * 2.0 * math.pi / math.log(1.0787 * n / 0.6)
        equivalent_radius = 1.0787 * n / 2.0 * math.exp(-2.0 * math.pi / conductance)
        assert 0.195 < equivalent_radius < 0.202


@pytest.mark.parametrize("radius_edges", [0.3, 0.49, 0.735, 0.98])
def test_calibration_matches_exact_conductance_at_every_alignment(radius_edges):
    scale, ratios = calibrated_scale(radius_edges)
    assert scale > 0
    assert math.exp(np.mean(np.log(ratios))) == pytest.approx(1.0, abs=1e-6)
    assert max(abs(r - 1.0) for r in ratios) < 0.02  # alignment error of the model's conductance


def test_three_dimensional_solver_matches_the_twin():
    """An infinite smeared wire in a grounded square box: the 3-D solver gives the twin's conductance."""
    radius_edges, offset = 0.49, CALIBRATION_OFFSETS[3]
    scale, ratios = calibrated_scale(radius_edges)
    weights, n = _disc_fractions(smearing_radius_mm(radius_edges, 1.0), offset, 5)
    grid = Grid((n, n, 3), 1.0, (-(n // 2), -(n // 2), -1.0))
    centre = np.array([offset[0], offset[1], 0.0])
    along = np.array([0.0, 0.0, 50.0])
    index, edges = subgrid_coupling([Piece(centre - along, centre + along, radius_edges)], grid)
    assert np.allclose(np.bincount(index, edges, grid.size).reshape(grid.shape)[:, :, 1], scale * weights)
    electrode = ElectrodeRaster("wire", metal_index=np.zeros(0, np.int64), coupling_index=index,
                                coupling_factor_m=edges * grid.spacing_m)
    problem = ElectricProblem(grid, [electrode], grounded_faces=("x-", "x+", "y-", "y+"))
    solution = problem.solve(np.ones(grid.shape))
    per_length = solution.conductance_s / (3 * grid.spacing_m)
    exact = 2.0 * math.pi / math.log(1.0787 * n / (2.0 * radius_edges))
    assert per_length / exact == pytest.approx(ratios[3], rel=2e-3)


def _impedance(spacing_mm: float, shift: float, model: str) -> float:
    grid = Grid.centered(30.0, spacing_mm)
    offset = np.array([shift, shift, 0.0]) * spacing_mm
    probe = ProbePlacement("cooltip-17g-2cm", tip_mm=offset + [0, 0, -10], entry_mm=offset + [0, 0, 40])
    electrodes = rasterize_probes([probe], grid, electrode_model=model)
    return ElectricProblem(grid, electrodes).solve(np.full(grid.shape, 0.333)).impedance_ohm


def test_subgrid_impedance_barely_depends_on_the_needle_position_in_the_voxel():
    """A 17G needle at 1.5 mm moved by half a voxel: neither model's impedance moves by 4 %.

    (Before the well link snapped axis-aligned thin needles onto a node line, the cut cells
    changed it by ~9 %.)"""
    subgrid = [_impedance(1.5, shift, "subgrid") for shift in (0.0, 0.5)]
    cut_cell = [_impedance(1.5, shift, "cut-cell") for shift in (0.0, 0.5)]
    assert abs(subgrid[0] / subgrid[1] - 1.0) < 0.04
    assert abs(cut_cell[0] / cut_cell[1] - 1.0) < 0.04


def test_subgrid_electrode_has_no_dirichlet_metal_and_keeps_cooling():
    grid = Grid.centered(30.0, 1.5)
    probe = ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, -10], entry_mm=[0, 0, 40])
    [electrode] = rasterize_probes([probe], grid, electrode_model="subgrid")
    assert electrode.metal_index.size == 0 and electrode.cooled
    assert electrode.coupling_index.size > 0 and np.all(electrode.coupling_factor_m > 0)


def test_unknown_electrode_model_is_refused():
    grid = Grid.centered(30.0, 1.5)
    probe = ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, -10], entry_mm=[0, 0, 40])
    with pytest.raises(ProbeError, match="unknown electrode model"):
        rasterize_probes([probe], grid, electrode_model="voxel")


def test_subgrid_cooled_needle_closes_the_energy_balance():
    """A short run with a sub-grid cooled needle: the coolant removes heat, the balance closes."""
    from rfasim import simulate
    from rfasim.generators import ConstantPower

    grid = Grid.centered(24.0, 1.5)
    probe = ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, -10], entry_mm=[0, 0, 40])
    electrodes = rasterize_probes([probe], grid, electrode_model="subgrid")
    material = np.ones(grid.shape, np.uint8)
    result = simulate(grid, material, ConstantPower(power_w=20.0, duration_s=20.0), electrodes)
    energy = result.energy
    assert energy.electrical_j > 100.0
    assert energy.fixed_sink_j > 0.0
    assert abs(energy.residual_j) < 1e-6 * energy.electrical_j
