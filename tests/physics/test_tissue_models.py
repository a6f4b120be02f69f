"""Tissue-physics models of issue 12: perfusion responses, desiccation hysteresis (kernel twins,
oracles, and a small coupled run)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_bioheat import _call, _random_problem

from rfasim.generators import ConstantPower
from rfasim.grid import Grid
from rfasim.physics import bioheat, bioheat_kernel, desiccation
from rfasim.physics.bioheat import PennesBioheat
from rfasim.simulation import simulate
from rfasim.sources import ElectrodeRaster
from rfasim.tissue import (
    HEPATIC_PERFUSION_HUMAN_PER_S,
    HEPATIC_PERFUSION_PORCINE_PER_S,
    TissueClass,
    TissueModel,
    VaporizationModel,
)


def test_hepatic_perfusion_constants_follow_the_measured_flows():
    """100 mL/min/100 g x 1.079 g/mL and 950 mL/min/L as Pennes rates (1/s)."""
    assert HEPATIC_PERFUSION_HUMAN_PER_S == pytest.approx(0.01798, rel=1e-3)
    assert HEPATIC_PERFUSION_PORCINE_PER_S == pytest.approx(0.01583, rel=1e-3)


@pytest.mark.parametrize("mode", [0.0, 1.0, 2.0])
def test_perfusion_factor_kernel_matches_reference(mode):
    omega = np.concatenate([np.linspace(0.0, 6.0, 301), [0.05, 0.1053605, 1.0]])
    constants = PennesBioheat(TissueModel(), 1e-3).constants(0.1)._replace(
        perfusion_stasis=mode, hyperaemia_factor=2.5, hyperaemia_peak_stasis=0.1)
    fast = np.array([bioheat_kernel.perfusion_factor(o, mode, 2.5, 0.1) for o in omega])
    np.testing.assert_allclose(fast, bioheat.perfusion_factor_reference(omega, constants), rtol=1e-14)


def test_hyperaemia_rises_to_its_peak_then_falls_to_stasis():
    """1 at DS = 0, the peak factor at DS = 0.1 (continuous), 0 as DS -> 1, (1 - DS) x const after."""
    f = bioheat_kernel.perfusion_factor
    peak_omega = -math.log(1.0 - 0.1)
    assert f(0.0, 2.0, 3.0, 0.1) == pytest.approx(1.0)
    assert f(peak_omega, 2.0, 3.0, 0.1) == pytest.approx(3.0)
    assert f(peak_omega * (1 + 1e-9), 2.0, 3.0, 0.1) == pytest.approx(3.0, rel=1e-6)
    assert f(20.0, 2.0, 3.0, 0.1) < 1e-8
    # Without a rise (factor 1), the response is not exactly the stasis model, but within 11 %.
    assert f(1.0, 2.0, 1.0, 0.1) == pytest.approx(math.exp(-1.0) / 0.9)


@pytest.mark.parametrize("mode", [1.0, 2.0])
def test_heat_step_with_desiccation_memory_matches_reference(mode):
    """The kernel with a dried-fraction field and each gradual response equals its NumPy twin."""
    fields, materials, constants = _random_problem()
    fields["desiccation"] = np.random.default_rng(5).uniform(0, 1, fields["temperature"].shape).astype(np.float32)
    constants = constants._replace(perfusion_stasis=mode, hyperaemia_factor=2.0, desiccation_memory=1.0)
    new_fast, fast, tallies_fast = _call(bioheat_kernel.heat_step, fields, materials, constants)
    new_slow, slow, tallies_slow = _call(bioheat.heat_step_reference, fields, materials, constants)
    np.testing.assert_allclose(new_fast, new_slow, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(tallies_fast, tallies_slow, rtol=1e-10, atol=1e-9)


def test_dried_tissue_conducts_less_than_fresh_tissue_at_the_same_temperature():
    fields, materials, constants = _random_problem()
    fields["temperature"][...] = 60.0
    sigma = materials.electrical_conductivity_s_per_m[fields["material"]]
    fresh, dried = np.empty_like(sigma), np.empty_like(sigma)
    bioheat_kernel.conductivity_field(fields["temperature"], fields["material"], materials, constants, fresh,
                                      np.zeros((0, 0, 0), np.float32))
    bioheat_kernel.conductivity_field(fields["temperature"], fields["material"], materials, constants, dried,
                                      np.ones(sigma.shape, np.float32))
    np.testing.assert_allclose(dried, fresh * 0.01, rtol=1e-12)


@pytest.mark.parametrize("retention", [1.0, 0.9])
def test_dried_fraction_update_matches_reference(retention):
    rng = np.random.default_rng(2)
    shape = (7, 6, 5)
    temperature = rng.uniform(60.0, 110.0, shape)
    fixed = (rng.random(shape) > 0.8).astype(np.uint8)
    fast = rng.uniform(0.0, 1.0, shape).astype(np.float32)
    slow = fast.copy()
    for _ in range(5):
        desiccation.update_dried_fraction(fast, temperature, fixed, 100.0, 5.0, retention)
        desiccation.update_dried_fraction_reference(slow, temperature, fixed, 100.0, 5.0, retention)
        temperature = temperature - 3.0
    np.testing.assert_allclose(fast, slow, rtol=1e-6, atol=1e-7)


def test_dried_fraction_keeps_its_peak_and_rehydrates_with_its_time_constant():
    """Dry to 0.6 at 103 degC; at 80 degC it stays (tau = inf) or relaxes as exp(-t / tau)."""
    shape = (1, 1, 1)
    fixed = np.zeros(shape, np.uint8)
    for tau in (math.inf, 30.0):
        dried = np.zeros(shape, np.float32)
        desiccation.update_dried_fraction(dried, np.full(shape, 103.0), fixed, 100.0, 5.0, 1.0)
        assert dried[0, 0, 0] == pytest.approx(0.6)
        retention = desiccation.retention_per_step(1.0, tau)
        for _ in range(30):
            desiccation.update_dried_fraction(dried, np.full(shape, 80.0), fixed, 100.0, 5.0, retention)
        expected = 0.6 if math.isinf(tau) else 0.6 * math.exp(-1.0)
        assert dried[0, 0, 0] == pytest.approx(expected, rel=1e-5)


def _heat_then_pause(tissue: TissueModel):
    """60 W for 40 s into a 3 mm ball electrode, then 60 s off; the impedance at the end."""
    grid = Grid.centered(30.0, 2.0)
    x, y, z = grid.voxel_centers_mm()
    ball = ElectrodeRaster.from_mask("ball", (x**2 + y**2 + z**2) <= 9.0)
    material = np.ones(grid.shape, np.uint8)
    heated = simulate(grid, material, ConstantPower(power_w=60.0, duration_s=40.0), [ball], tissue=tissue)
    paused = simulate(grid, material, ConstantPower(power_w=0.0, duration_s=60.0), [ball], tissue=tissue,
                      initial_state=heated.state)
    return heated, paused


def test_dried_tissue_keeps_its_impedance_through_a_pause_and_the_energy_balance_closes():
    """With memory the tissue that boiled stays resistive after it cooled (higher impedance at
    the end of the pause); without memory the impedance falls back.  The energy balance still
    closes (sigma changes, the enthalpy does not)."""
    plain_heat, plain = _heat_then_pause(TissueModel())
    memory_heat, memory = _heat_then_pause(TissueModel(vaporization=VaporizationModel(hysteresis=True)))
    assert plain.state.dried_fraction is None and float(memory.state.dried_fraction.max()) > 0.5
    assert memory.timeseries.impedance_ohm[-1] > 1.05 * plain.timeseries.impedance_ohm[-1]
    balance = memory_heat.energy
    supplied = balance.electrical_j + balance.external_j + balance.metabolic_j
    spent = balance.stored_j + balance.perfusion_j + balance.fixed_sink_j + balance.deposited_in_fixed_j
    assert abs(supplied - spent) < 1e-6 * supplied


def test_case_file_keys_build_the_new_models():
    from rfasim.case import build_tissue_model

    model = build_tissue_model({"perfusion_response": "hyperaemia", "hyperaemia_factor": 2.0,
                                "vaporization_hysteresis": True, "rehydration_time_s": 60.0})
    assert model.perfusion_response == "hyperaemia" and model.hyperaemia_factor == 2.0
    assert model.vaporization.hysteresis and model.vaporization.rehydration_time_s == 60.0
    assert model.classes[TissueClass.LIVER].perfusion_rate_per_s > 0
