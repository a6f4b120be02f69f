"""Vessels by calibre: local calibre of a lumen, Nusselt wall coefficient, small-vessel thrombosis."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rfasim.generators import ConstantPower
from rfasim.grid import Grid
from rfasim.physics.vessels import VesselThrombosis, laminar_wall_coefficient, vessel_calibre_mm
from rfasim.simulation import simulate
from rfasim.sources import ElectrodeRaster
from rfasim.tissue import BLOOD, BLOOD_VISCOSITY_PA_S, TissueClass, TissueModel, VesselModel


def _tube(grid: Grid, diameter_mm: float, offset_mm: float = 0.0) -> np.ndarray:
    x, y, _ = grid.voxel_centers_mm()
    return np.broadcast_to((x - offset_mm) ** 2 + y**2 <= (0.5 * diameter_mm) ** 2, grid.shape).copy()


@pytest.mark.parametrize("diameter", [2.0, 5.0, 9.0])
def test_calibre_of_a_voxelised_tube_is_its_equivalent_diameter_within_a_voxel(diameter):
    grid = Grid.centered(24.0, 1.0)
    lumen = _tube(grid, diameter)
    calibre = vessel_calibre_mm(lumen, 1.0)
    inside = calibre[lumen]
    rasterised = 2.0 * math.sqrt(lumen[:, :, 0].sum() / math.pi)  # equivalent diameter of the voxelised lumen
    assert abs(float(np.median(inside)) - rasterised) <= 1.0
    assert np.all(calibre[~lumen] == 0.0)


def test_two_tubes_keep_their_own_calibres():
    grid = Grid.centered(30.0, 1.0)
    lumen = _tube(grid, 2.0, -8.0) | _tube(grid, 8.0, 6.0)
    calibre = vessel_calibre_mm(lumen, 1.0)
    x, _, _ = grid.voxel_centers_mm()
    x = np.broadcast_to(x, grid.shape)
    assert float(np.max(calibre[lumen & (x < 0)])) <= 3.0
    assert float(np.median(calibre[lumen & (x > 0)])) >= 7.0


def test_wall_coefficient_oracles():
    """No flow: the fully developed Nu = 3.66; fast flow over a short length: the entrance term
    (Nu ~ 1.61 (Re Pr D/L)^(1/3)); h falls with the diameter at fixed Nusselt number."""
    rho, c, k, mu = BLOOD.density_kg_per_m3, BLOOD.specific_heat_j_per_kg_k, BLOOD.thermal_conductivity_w_per_m_k, BLOOD_VISCOSITY_PA_S
    assert laminar_wall_coefficient(0.01, 0.0, 0.03, rho, c, k, mu) == pytest.approx(3.66 * k / 0.01)
    re, pr = rho * 0.18 * 0.008 / mu, c * mu / k
    graetz = re * pr * 0.008 / 0.03
    expected = (3.66**3 + 1.61**3 * graetz) ** (1 / 3) * k / 0.008
    assert laminar_wall_coefficient(0.008, 0.18, 0.03, rho, c, k, mu) == pytest.approx(expected)
    assert laminar_wall_coefficient(0.008, 0.18, 0.03, rho, c, k, mu) > 1000.0  # faster and smaller: stronger
    model = VesselModel(wall_model="nusselt", diameter_mm=8.0)
    assert model.wall_coefficient(BLOOD) == pytest.approx(expected)
    unmeasured = VesselModel(wall_model="nusselt")  # no lumen measured: the constant
    assert unmeasured.wall_coefficient(BLOOD) == unmeasured.wall_heat_transfer_w_per_m2_k


def test_thrombosis_turns_small_lumen_next_to_coagulated_tissue_into_thrombus():
    grid = Grid.centered(20.0, 1.0)
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    small, large = _tube(grid, 2.0, -5.0), _tube(grid, 6.0, 4.0)
    material[small | large] = TissueClass.VESSEL
    fixed = (material == TissueClass.VESSEL).astype(np.uint8)
    watch = VesselThrombosis(material, 1.0, 3.0)
    assert watch.index.size and not np.any(large.ravel()[watch.index])  # 6 mm measures > 4 mm: large
    damage = np.zeros(grid.shape)
    assert watch.update(material, fixed, damage) == 0
    damage[...] = 2.0  # everything coagulated
    turned = watch.update(material, fixed, damage)
    assert turned > 0
    assert np.all(material[large] == TissueClass.VESSEL)
    interior = np.zeros(grid.shape, bool)
    interior[1:-1, 1:-1, 1:-1] = True
    assert np.all(material[small & interior] == TissueClass.THROMBUS)
    assert np.all(fixed[small & interior] == 0)


def _sink_run(thrombosis_mm: float):
    grid = Grid.centered(30.0, 1.5)
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    x, y, z = grid.voxel_centers_mm()
    material[_tube(grid, 2.0, 5.0)] = TissueClass.VESSEL
    ball = ElectrodeRaster.from_mask("ball", (x**2 + y**2 + z**2) <= 9.0)
    tissue = TissueModel(vessels=VesselModel(thrombosis_diameter_mm=thrombosis_mm))
    return simulate(grid, material, ConstantPower(power_w=8.0, duration_s=120.0), [ball], tissue=tissue)


def test_a_thrombosed_small_vessel_stops_being_a_heat_sink():
    """The same small vessel next to a heated ball: with thrombosis its lumen heats and the
    heat it carries off (fixed sink) is smaller; the energy balance closes."""
    sink, thrombosed = _sink_run(0.0), _sink_run(3.0)  # the 2 mm tube measures 3 mm on this 1.5 mm grid
    assert np.any(thrombosed.material == TissueClass.THROMBUS)
    assert thrombosed.energy.fixed_sink_j < sink.energy.fixed_sink_j
    balance = thrombosed.energy
    supplied = balance.electrical_j + balance.external_j + balance.metabolic_j
    spent = balance.stored_j + balance.perfusion_j + balance.fixed_sink_j + balance.deposited_in_fixed_j
    assert math.isclose(supplied, spent, rel_tol=1e-6)


def test_case_file_vessel_keys_build_the_vessel_model():
    from rfasim.case import build_tissue_model
    from rfasim.errors import CaseFileError

    model = build_tissue_model({"vessel_wall_model": "nusselt", "vessel_diameter_mm": 6.0,
                                "vessel_velocity_m_per_s": 0.1, "vessel_thrombosis_diameter_mm": 3.0})
    vessels = model.vessels
    assert (vessels.wall_model, vessels.diameter_mm, vessels.velocity_m_per_s, vessels.thrombosis_diameter_mm) == (
        "nusselt", 6.0, 0.1, 3.0)
    with pytest.raises(CaseFileError, match="wall_model"):
        build_tissue_model({"vessel_wall_model": "turbulent"})
