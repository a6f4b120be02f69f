"""The coupled RF-electric / Pennes bioheat time loop: :class:`Simulation` and :func:`simulate`.

One verb, a few nouns (k-Wave style): a grid and a material map (the domain), a
:class:`~rfasim.tissue.TissueModel`, the electrodes (or a user power density), a generator
protocol, and :class:`~rfasim.simulation.options.SimulationOptions` go in; a
:class:`~rfasim.simulation.state.SimulationResult` comes out.

:class:`Simulation` separates the three phases: ``setup()`` (boundary conditions, stable step,
electric configurations), ``step()`` (generator control, one heat step, the damage models, the
electric field's upkeep) and ``run(trackers)``.  The physics lives in its own rooms:
:mod:`rfasim.physics.bioheat` (Pennes), :mod:`rfasim.physics.damage` (damage models),
:mod:`rfasim.simulation.electric_coupling` (the RF field).  The loop never imports plotting or
file I/O: progress bars, snapshots and logging are trackers (:mod:`rfasim.trackers`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from rfasim.generators import Generator, GeneratorReading
from rfasim.grid import Grid
from rfasim.physics.bioheat import PennesBioheat, ThermalBoundary
from rfasim.physics.bioheat_kernel import HeatConstants
from rfasim.physics.damage import ArrheniusDamage, DamageModel, damage_model
from rfasim.physics.desiccation import retention_per_step, update_dried_fraction
from rfasim.physics.vessels import VesselThrombosis
from rfasim.simulation.electric_coupling import ElectricCoupling
from rfasim.simulation.options import SimulationOptions
from rfasim.simulation.state import EnergyBalance, SimulationResult, TimeSeries, TissueState
from rfasim.sources import ElectrodeRaster, PowerDensitySource
from rfasim.tissue import TissueClass, TissueModel
from rfasim.trackers import Tracker


@dataclass(frozen=True)
class GeneratorOutput:
    """What the generator delivers during one step."""

    voltage_v: float
    power_w: float
    current_a: float
    impedance_ohm: float
    tip_temperature_c: float
    state: str
    stop: bool


def _validated_material(grid: Grid, material: np.ndarray) -> np.ndarray:
    material = np.asarray(material)
    if material.shape != grid.shape:
        raise ValueError(f"material map has shape {material.shape}, the grid {grid.shape}")
    if not np.issubdtype(material.dtype, np.integer):
        raise ValueError(f"material map must be integer TissueClass codes, got dtype {material.dtype}")
    valid = {int(c) for c in TissueClass}
    unknown = sorted(set(np.unique(material).tolist()) - valid)
    if unknown:
        raise ValueError(f"material map holds unknown material codes {unknown}; valid: {sorted(valid)}")
    return material.astype(np.uint8)


def _validated_duration(duration_s: object, generator: Generator | None) -> float:
    if duration_s is None:
        if generator is None:
            raise ValueError("duration_s is required when no generator is given")
        duration_s = generator.duration_s
    if not isinstance(duration_s, (int, float)) or not math.isfinite(duration_s) or duration_s <= 0:
        raise ValueError(f"duration_s must be positive and finite, got {duration_s!r}")
    return float(duration_s)


class Simulation:
    """One ablation: coupled RF field and Pennes bioheat on the voxel grid.

    Parameters
    ----------
    grid : Grid
        Simulation grid (isotropic, world-aligned).
    material : ndarray of int
        :class:`~rfasim.tissue.TissueClass` code per voxel.
    generator : Generator, optional
        Protocol driving the electrodes; required unless ``source`` is given.
    electrodes : sequence of ElectrodeRaster
        Rasterised electrodes (required with a generator).
    tissue : TissueModel, optional
        Tissue physics (defaults: :class:`~rfasim.tissue.TissueModel`).
    source : PowerDensitySource, optional
        A given power density (W/m^3) instead of, or beside, the electric model.
    duration_s : float, optional
        Simulated time (s); defaults to the generator's duration.
    options : SimulationOptions, optional
    initial_state : TissueState, optional
        State to continue from (sequential ablations); default: tissue at body temperature.

    Raises
    ------
    ValueError
        For non-physical input, naming the parameter and its value, before any kernel runs.

    Examples
    --------
    >>> import numpy as np
    >>> from rfasim.generators import ConstantPower
    >>> grid = Grid.centered(30.0, 2.0)
    >>> x, y, z = grid.voxel_centers_mm()
    >>> ball = ElectrodeRaster.from_mask("ball", (x**2 + y**2 + z**2) <= 9.0)
    >>> simulation = Simulation(grid, np.ones(grid.shape, np.uint8), ConstantPower(power_w=5.0, duration_s=20.0), [ball])
    >>> simulation.setup()
    >>> while simulation.step():
    ...     pass
    >>> bool(simulation.result().peak_temperature_c.max() > 37.0)
    True
    """

    def __init__(self, grid: Grid, material: np.ndarray, generator: Generator | None = None,
                 electrodes: Sequence[ElectrodeRaster] = (), *, tissue: TissueModel | None = None,
                 source: PowerDensitySource | None = None, duration_s: float | None = None,
                 options: SimulationOptions | None = None, initial_state: TissueState | None = None) -> None:
        self.grid = grid
        self.tissue = tissue if tissue is not None else TissueModel()
        self.options = options if options is not None else SimulationOptions()
        self.material = _validated_material(grid, material).copy()
        self.electrodes = list(electrodes)
        if generator is None and source is None:
            raise ValueError("simulate needs a generator with electrodes, or a power density source")
        if generator is not None and not self.electrodes:
            raise ValueError("a generator needs at least one electrode")
        self.generator = generator
        self.source = source
        self.duration_s = _validated_duration(duration_s, generator)
        for electrode in self.electrodes:
            electrode.validate(grid)
        if source is not None:
            probe = source.at(0.0)
            if probe.shape != grid.shape:
                raise ValueError(f"power density has shape {probe.shape}, the grid {grid.shape}")
            if not np.all(np.isfinite(probe)):
                raise ValueError("power density field holds NaN or infinite values")
        self.damage_models = self._damage_models()
        self.state = self._initial_state(initial_state)
        self.ready = False

    def _damage_models(self) -> list[DamageModel]:
        names = list(dict.fromkeys(("arrhenius", *self.options.damage_models)))
        return [damage_model(name, self.tissue) for name in names]

    def _initial_state(self, initial_state: TissueState | None) -> TissueState:
        if initial_state is None:
            state = TissueState.at_rest(self.grid, self.tissue.body_temperature_c)
        else:
            state = initial_state.copy()
        # Peak temperature in single precision (what the heat step reads and writes every step).
        state.peak_temperature_c = np.asarray(state.peak_temperature_c, np.float32)
        for model in self.damage_models:
            state.doses.setdefault(model.name, model.initial_dose(self.grid.shape))
        arrays = {"temperature_c": state.temperature_c, "peak_temperature_c": state.peak_temperature_c,
                  **{f"doses[{name!r}]": dose for name, dose in state.doses.items()}}
        for name, array in arrays.items():
            if array.shape[-3:] != self.grid.shape or not np.all(np.isfinite(array)):
                raise ValueError(f"initial_state.{name} must be finite with the grid's shape")
        return state

    # --- setup --------------------------------------------------------------------------------

    def setup(self) -> None:
        """Boundary conditions, the stable step and the electric configurations."""
        self._wall_start = time.perf_counter()
        self._setup_vessels()
        self.bioheat = PennesBioheat(self.tissue, self.grid.spacing_m)
        for electrode in self.electrodes:  # insulated shafts carry no current; heat-wise tissue-like
            insulated = np.setdiff1d(electrode.insulated_index, electrode.metal_index)
            self.material.ravel()[insulated] = TissueClass.INSULATOR
        self.boundary: ThermalBoundary = self.bioheat.apply_boundary_conditions(
            self.material, self.state.temperature_c, self.electrodes)
        np.maximum(self.state.peak_temperature_c, self.state.temperature_c, out=self.state.peak_temperature_c)
        stable = self.bioheat.critical_time_step(self.material, self.boundary.fixed)
        step = min(self.options.time_step_safety * stable, self.options.maximum_time_step_s, self.duration_s)
        self.steps = max(1, math.ceil(self.duration_s / step - 1e-9))
        self.time_step_s = self.duration_s / self.steps
        self.constants: HeatConstants = self._fuse_damage(self.bioheat.constants(self.time_step_s))
        self._setup_desiccation()
        self.electric: ElectricCoupling | None = None
        if self.generator is not None:
            groups = getattr(self.generator, "groups", None) or [list(range(len(self.electrodes)))]
            self.electric = ElectricCoupling(self.grid, self.electrodes, groups, self.options, self.bioheat)
            self.electric.dried_fraction = self.state.dried_fraction
            self.generator.reset()
            self.electric.solve(self.state.temperature_c, self.material, self.constants)
        self._new_temperature = self.state.temperature_c.copy()
        self._zeros = np.zeros(self.grid.shape, np.float32)
        self._empty = np.zeros((0, 0, 0))
        self._thermocouples = (np.unique(np.concatenate([e.thermocouple_index for e in self.electrodes]))
                               if self.electrodes else np.zeros(0, int))
        self.timeseries = TimeSeries()
        self.energy = EnergyBalance()
        self.delivered_j = 0.0
        self.step_index = 0
        self.time_s = 0.0
        self.stopped = False
        self.last_output: GeneratorOutput | None = None
        self._next_record_s = 0.0
        self._closed = False
        self.ready = True

    def _fuse_damage(self, constants: HeatConstants) -> HeatConstants:
        """Let the heat step accumulate the built-in doses in its own pass; the rest run their own."""
        arrhenius = next(m for m in self.damage_models if m.name == "arrhenius")
        cem43 = next((m for m in self.damage_models if m.name == "cem43"), None)
        fused = arrhenius if isinstance(arrhenius, ArrheniusDamage) and arrhenius.fused_in_heat_step() else None
        fuse_cem43 = cem43 is not None and cem43.fused_in_heat_step()
        self._separate_models = [m for m in self.damage_models
                                 if m is not fused and not (m is cem43 and fuse_cem43)]
        self._cem43_dose = self.state.doses["cem43"] if fuse_cem43 else None
        parameters = fused.kernel_parameters() if fused is not None else None
        return PennesBioheat.fused_damage_constants(constants, parameters, fuse_cem43, self.state.damage,
                                                    self.state.peak_temperature_c)

    def _setup_vessels(self) -> None:
        """Vessels by calibre: the thrombosis watch and the measured calibre of the Nusselt wall."""
        vessels = self.tissue.vessels
        self._thrombosis: VesselThrombosis | None = None
        measure = vessels.wall_model == "nusselt" and vessels.diameter_mm is None
        if vessels.kind == "none" or not (vessels.thrombosis_diameter_mm > 0 or measure):
            return
        if not np.any(self.material == TissueClass.VESSEL):
            return
        watch = VesselThrombosis(self.material, self.grid.spacing_mm, vessels.thrombosis_diameter_mm)
        self._thrombosis = watch if watch.index.size else None
        large = watch.large_vessel_calibre_mm
        if measure and large.size:
            self.tissue = replace(self.tissue, vessels=replace(vessels, diameter_mm=float(np.median(large))))

    def _setup_desiccation(self) -> None:
        """The dried-fraction field of the desiccation hysteresis (None when it is off)."""
        dried = self.bioheat.dried_fraction_field(self.grid.shape)
        if dried.size == 0:
            self.state.dried_fraction = None
        elif self.state.dried_fraction is None or self.state.dried_fraction.shape != self.grid.shape:
            self.state.dried_fraction = dried
        else:
            self.state.dried_fraction = np.asarray(self.state.dried_fraction, np.float32)
        self._retention = retention_per_step(self.time_step_s, self.tissue.vaporization.rehydration_time_s)

    def _dry(self) -> None:
        """Advance the remembered dried fraction from the new temperatures."""
        dried = self.state.dried_fraction
        if dried is None:
            return
        vaporization = self.tissue.vaporization
        update_dried_fraction(dried, self.state.temperature_c, self.boundary.fixed, vaporization.onset_c,
                              vaporization.width_c, self._retention)

    # --- one step -----------------------------------------------------------------------------

    def _tip_temperature_c(self) -> float:
        if not self._thermocouples.size:
            return math.nan
        return float(self.state.temperature_c.ravel()[self._thermocouples].max())

    def _control(self) -> GeneratorOutput:
        """Ask the generator for this step's power; keep the field fresh for it."""
        tip = self._tip_temperature_c()
        electric, generator = self.electric, self.generator
        if generator is None or electric is None:
            return GeneratorOutput(0.0, 0.0, 0.0, math.inf, tip, "source", False)
        fields = (self.state.temperature_c, self.material, self.constants)
        command = generator.control(GeneratorReading(self.time_s, self.time_step_s, electric.impedance_ohm, tip))
        if command.group != electric.group:
            electric.connect(command.group, *fields)
        power_command = 0.0 if command.stop else command.power_w
        if power_command > 0 and electric.stale:
            electric.solve(*fields)  # the field went stale during a pause
        impedance = electric.impedance_ohm
        voltage = generator.limits.voltage_for(power_command, impedance)
        power = voltage**2 / impedance if voltage > 0 else 0.0
        current = voltage / impedance if voltage > 0 else 0.0
        return GeneratorOutput(voltage, power, current, impedance, tip, command.state, command.stop)

    def _record(self, output: GeneratorOutput) -> None:
        if self.time_s < self._next_record_s - 1e-9:
            return
        impedance = output.impedance_ohm if math.isfinite(output.impedance_ohm) else float("nan")
        self.timeseries.append(
            time_s=self.time_s, power_w=output.power_w, voltage_v=output.voltage_v, current_a=output.current_a,
            impedance_ohm=impedance, tip_temperature_c=output.tip_temperature_c, energy_j=self.delivered_j,
            state=output.state,
        )
        self._next_record_s += self.options.record_interval_s

    def _heat(self, output: GeneratorOutput) -> None:
        """One heat step (the built-in doses fused into it), the other damage models on the
        step's starting temperature, then the swap."""
        state, electric = self.state, self.electric
        external = self.source.at(self.time_s + 0.5 * self.time_step_s) if self.source is not None else self._empty
        heating, solve_sigma = self._zeros, self._zeros
        if electric is not None:
            configuration = electric.active
            assert configuration.heating_per_conductivity is not None and configuration.solve_conductivity is not None
            heating, solve_sigma = configuration.heating_per_conductivity, configuration.solve_conductivity
        tallies = self.bioheat.step(
            state.temperature_c, self._new_temperature, self.material, self.boundary, state.damage,
            state.peak_temperature_c, heating, solve_sigma, external, self.constants, output.voltage_v**2,
            self._cem43_dose, state.dried_fraction,
        )
        for model in self._separate_models:
            model.accumulate(state.doses[model.name], state.temperature_c, self.boundary.fixed, self.time_step_s)
        if self._thrombosis is not None:
            if self._thrombosis.update(self.material, self.boundary.fixed, state.damage):
                self.boundary.material_changed()
        self.energy.add(tallies)
        self.delivered_j += tallies.electrical_j
        state.temperature_c, self._new_temperature = self._new_temperature, state.temperature_c
        self._dry()
        if electric is not None:
            electric.observe(tallies)
            # While the generator is off the field heats nothing: re-solve only when power flows.
            if electric.stale and output.power_w > 0:
                electric.solve(state.temperature_c, self.material, self.constants)

    def step(self) -> bool:
        """Advance one time step; returns whether there is another step to take."""
        if not self.ready:
            self.setup()
        if self.stopped or self.step_index >= self.steps:
            return False
        output = self._control()
        self.last_output = output
        self._record(output)
        if output.stop:
            self.stopped = True
            return False
        self._heat(output)
        self.step_index += 1
        self.time_s = self.step_index * self.time_step_s
        return self.step_index < self.steps

    # --- the whole run ------------------------------------------------------------------------

    def run(self, trackers: Sequence[Tracker] = ()) -> SimulationResult:
        """Set up, step to the end with the trackers observing, and return the result."""
        if not self.ready:
            self.setup()
        for tracker in trackers:
            tracker.start(duration_s=self.duration_s, grid=self.grid)
        while self.step_index < self.steps:
            self.step()
            output = self.last_output
            if self._halted() or output is None:
                break
            for tracker in trackers:
                tracker.update(
                    time_s=self.time_s, temperature_c=self.state.temperature_c, state=self.state,
                    power_w=output.power_w, impedance_ohm=output.impedance_ohm, generator_state=output.state,
                )
        for tracker in trackers:
            tracker.finish()
        return self.result()

    def _halted(self) -> bool:
        """Whether the generator stopped the run."""
        return self.stopped

    def _record_end(self) -> None:
        """The closing row of the time series (power off, final impedance)."""
        if self.stopped or self._closed:
            return
        self._closed = True
        impedance = self.electric.impedance_ohm if self.electric is not None else math.nan
        impedance = impedance if math.isfinite(impedance) else math.nan
        series = self.timeseries
        if self.time_s >= self._next_record_s - 1e-9 or not series.time_s or series.time_s[-1] < self.time_s:
            series.append(
                time_s=self.time_s, power_w=0.0, voltage_v=0.0, current_a=0.0, impedance_ohm=impedance,
                tip_temperature_c=self._tip_temperature_c(), energy_j=self.delivered_j, state="end",
            )

    def result(self) -> SimulationResult:
        """The result so far (call once the run is over; closes the time series)."""
        if not self.ready:
            raise RuntimeError("the simulation has not been set up")
        self._record_end()
        electric = self.electric
        return SimulationResult(
            grid=self.grid, material=self.material, state=self.state, timeseries=self.timeseries,
            energy=self.energy,
            electric_solves=electric.solves if electric is not None else 0,
            electric_seconds=electric.solve_seconds if electric is not None else 0.0,
            heat_steps=self.step_index, time_step_s=self.time_step_s,
            wall_seconds=time.perf_counter() - self._wall_start,
            rolloffs=int(getattr(self.generator, "rolloffs", 0)) if self.generator is not None else 0,
            potential_v=electric.active.potential if electric is not None else None,
        )


def simulate(grid: Grid, material: np.ndarray, generator: Generator | None = None,
             electrodes: Sequence[ElectrodeRaster] = (), *, tissue: TissueModel | None = None,
             source: PowerDensitySource | None = None, duration_s: float | None = None,
             options: SimulationOptions | None = None, initial_state: TissueState | None = None,
             trackers: Sequence[Tracker] = ()) -> SimulationResult:
    """Run one ablation: :class:`Simulation` set up and run to the end (same parameters).

    Examples
    --------
    >>> import numpy as np
    >>> from rfasim.generators import ConstantPower
    >>> grid = Grid.centered(30.0, 2.0)
    >>> x, y, z = grid.voxel_centers_mm()
    >>> ball = ElectrodeRaster.from_mask("ball", (x**2 + y**2 + z**2) <= 9.0)
    >>> result = simulate(grid, np.ones(grid.shape, np.uint8), ConstantPower(power_w=5.0, duration_s=20.0), [ball])
    >>> bool(result.peak_temperature_c.max() > 37.0)
    True
    """
    simulation = Simulation(grid, material, generator, electrodes, tissue=tissue, source=source,
                            duration_s=duration_s, options=options, initial_state=initial_state)
    return simulation.run(trackers)
