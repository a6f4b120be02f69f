"""Generator protocols and the solver's refusal of non-physical input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rfasim.generators import (
    ConstantPower,
    GeneratorLimits,
    GeneratorReading,
    ImpedanceControlled,
    RampSchedule,
    Switched,
    TemperatureControlled,
)
from rfasim.grid import Grid
from rfasim.solver import SimulationOptions, simulate
from rfasim.sources import ElectrodeRaster, PowerDensitySource
from rfasim.tissue import TissueClass, TissueProperties


def reading(time_s: float, impedance: float, tip: float = float("nan"), dt: float = 1.0) -> GeneratorReading:
    return GeneratorReading(time_s, dt, impedance, tip)


def test_limits_cap_power_voltage_and_current():
    limits = GeneratorLimits(max_power_w=100.0, max_voltage_v=50.0, max_current_a=2.0)
    assert limits.voltage_for(100.0, 10.0) == pytest.approx(20.0)  # 2 A into 10 Ohm
    assert limits.voltage_for(100.0, 100.0) == pytest.approx(50.0)  # voltage cap
    assert limits.voltage_for(50.0, 50.0) == pytest.approx(50.0)
    assert limits.voltage_for(0.0, 50.0) == 0.0


def test_impedance_control_pauses_on_a_rise_above_the_starting_impedance():
    generator = ImpedanceControlled(power_w=100.0, impedance_rise_ohm=10.0, pause_s=15.0, ramp_w_per_s=50.0)
    generator.reset()
    assert generator.control(reading(0.0, 60.0)).power_w == 50.0
    assert generator.control(reading(1.0, 55.0)).power_w == 100.0
    assert generator.control(reading(2.0, 65.0)).power_w == 100.0  # 5 Ohm above the baseline of 60
    command = generator.control(reading(3.0, 71.0))
    assert command.power_w == 0.0 and command.state == "roll-off" and generator.rolloffs == 1
    assert generator.control(reading(17.0, 50.0)).state == "paused"
    assert generator.control(reading(18.1, 50.0)).power_w == 50.0  # resumes with the ramp


def test_ramp_schedule_steps_every_minute_and_stops_after_the_second_rolloff():
    generator = RampSchedule(start_power_w=40.0, step_w_per_min=10.0, power_w=90.0, rolloff_impedance_factor=3.0,
                             pause_s=30.0, resume_fraction=0.7, duration_s=900.0)
    generator.reset()
    assert generator.control(reading(0.0, 50.0)).power_w == 40.0
    assert generator.control(reading(61.0, 50.0)).power_w == 50.0
    assert generator.control(reading(600.0, 50.0)).power_w == 90.0  # capped
    assert generator.control(reading(601.0, 160.0)).state == "roll-off"
    assert generator.control(reading(620.0, 50.0)).state == "paused"
    assert generator.control(reading(632.0, 50.0)).power_w == pytest.approx(63.0)  # 70 % of 90 W
    command = generator.control(reading(700.0, 200.0))
    assert command.stop and generator.rolloffs == 2


def test_temperature_control_settles_on_a_first_order_plant():
    """PID on a lumped tip: dT/dt = (P * 0.5 - (T - 37) * 0.1) / 5 reaches 90 degC without runaway."""
    generator = TemperatureControlled(power_w=150.0, target_temperature_c=90.0)
    generator.reset()
    temperature, history = 37.0, []
    for step in range(600):
        power = generator.control(reading(float(step), 80.0, temperature)).power_w
        temperature += (power * 0.5 - (temperature - 37.0) * 0.1) / 5.0
        history.append(temperature)
    assert abs(history[-1] - 90.0) < 1.0
    assert max(history) < 100.0


def test_switched_generator_alternates_groups():
    generator = Switched(inner=ConstantPower(power_w=10.0, duration_s=100.0), groups=[[0], [1]], dwell_s=10.0)
    groups = [generator.control(reading(float(t), 50.0)).group for t in range(0, 35)]
    assert groups[0] == 0 and groups[12] == 1 and groups[25] == 0


def _ball(grid: Grid, centre_x: float, name: str, **options) -> ElectrodeRaster:
    x, y, z = grid.voxel_centers_mm()
    return ElectrodeRaster.from_mask(name, (x - centre_x) ** 2 + y**2 + z**2 <= 4.0, **options)


def test_switched_electrodes_heat_both_sides_alternately():
    grid = Grid.centered(40.0, 2.0)
    material = np.ones(grid.shape, np.uint8)
    electrodes = [_ball(grid, -9.0, "left"), _ball(grid, 9.0, "right")]
    generator = Switched(inner=ConstantPower(power_w=8.0, duration_s=60.0), groups=[[0], [1]], dwell_s=10.0)
    result = simulate(grid, material, generator, electrodes)
    x, _, _ = grid.voxel_centers_mm()
    left = result.peak_temperature_c[(x < -4)[:, 0, 0]].max()
    right = result.peak_temperature_c[(x > 4)[:, 0, 0]].max()
    assert left > 45.0 and right > 45.0 and abs(left - right) < 0.2 * (left - 37.0)
    assert abs(result.energy.residual_j) < 1e-6 * result.energy.electrical_j


def test_bipolar_pair_in_an_insulated_box_heats_between_the_electrodes():
    grid = Grid.centered(40.0, 2.0)
    material = np.ones(grid.shape, np.uint8)
    electrodes = [_ball(grid, -8.0, "plus", polarity=0.5), _ball(grid, 8.0, "minus", polarity=-0.5)]
    result = simulate(grid, material, ConstantPower(power_w=10.0, duration_s=30.0), electrodes,
                      options=SimulationOptions(grounded_faces=()))
    assert result.energy.electrical_j == pytest.approx(300.0, rel=1e-6)
    centre = result.peak_temperature_c[10, 10, 10]
    corner = result.peak_temperature_c[3, 3, 3]
    assert centre > corner


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: TissueProperties(1000.0, 3600.0, 0.5, -0.3), "electrical_conductivity_s_per_m"),
        (lambda: TissueProperties(1000.0, 3600.0, 0.0 - 1.0, 0.3), "thermal_conductivity_w_per_m_k"),
        (lambda: TissueProperties(1000.0, 3600.0, 0.5, float("nan")), "electrical_conductivity_s_per_m"),
        (lambda: ConstantPower(power_w=-5.0), "power_w"),
        (lambda: ConstantPower(power_w=5.0, duration_s=0.0), "duration_s"),
        (lambda: ImpedanceControlled(power_w=math.nan), "power_w"),
    ],
)
def test_non_physical_parameters_are_refused(make, needle):
    with pytest.raises(ValueError, match=needle):
        make()


def test_solver_refuses_bad_fields_before_running():
    grid = Grid.centered(12.0, 2.0)
    material = np.ones(grid.shape, np.uint8)
    with pytest.raises(ValueError, match="zero active length"):
        simulate(grid, material, ConstantPower(power_w=1.0, duration_s=1.0),
                 [ElectrodeRaster("empty", np.zeros(0, np.int64))])
    density = np.zeros(grid.shape)
    density[2, 2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        simulate(grid, material, source=PowerDensitySource(density), duration_s=1.0)
    with pytest.raises(ValueError, match="duration_s"):
        simulate(grid, material, source=PowerDensitySource(np.zeros(grid.shape)), duration_s=-1.0)
    with pytest.raises(ValueError, match="unknown material codes"):
        simulate(grid, np.full(grid.shape, 42, np.uint8), source=PowerDensitySource(np.zeros(grid.shape)),
                 duration_s=1.0)
    assert TissueClass.LIVER == 1
