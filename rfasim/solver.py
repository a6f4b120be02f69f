"""The coupled RF-electric / Pennes bioheat time loop: :func:`simulate`.

One verb, a few nouns (k-Wave style): a grid and a material map (the domain), a
:class:`~rfasim.tissue.TissueModel`, the electrodes (or a user power density), a generator
protocol, and :class:`SimulationOptions` go in; a :class:`SimulationResult` comes out.

Coupling scheme
---------------
The potential is solved at unit voltage for the current sigma(T) (:mod:`rfasim.physics.electric`).
Between solves the heat kernel evaluates the Joule source with the *current* sigma(T) and the
frozen potential gradient, and tallies the frozen-potential conductance, which by Thomson's
principle is a first-order accurate (upper) estimate of the true conductance; the generator's
voltage is set from it.  The field is solved again when the heating-weighted drift of sigma,
``sum q |sigma(T) - sigma_solve| / sum q sigma_solve``, exceeds ``electric_update_tolerance``
(default 2 %), warm-started from the previous solution and reusing the multigrid hierarchy.

Heat is advanced explicitly with the stable step derived from the model
(:func:`rfasim.physics.kernels.stable_time_step`, times ``time_step_safety``); the user never
chooses a step.  The solver loop never imports plotting or file I/O: progress bars, snapshots
and logging are trackers (:mod:`rfasim.trackers`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rfasim.generators import Generator, GeneratorReading
from rfasim.grid import Grid
from rfasim.physics import kernels
from rfasim.physics.electric import (
    FACE_NAMES,
    AMGSolver,
    ConjugateGradientSolver,
    ElectricProblem,
    MultigridSolver,
)
from rfasim.sources import ElectrodeRaster, PowerDensitySource
from rfasim.tissue import PropertyTable, TissueClass, TissueModel
from rfasim.trackers import Tracker

#: Planning figure for memory checks: bytes per voxel the solver needs at its peak (measured:
#: 349 B/voxel of growth on the 80 mm standard case, benchmarks/README.md; rounded up).
BYTES_PER_VOXEL_ESTIMATE = 400


@dataclass(frozen=True)
class SimulationOptions:
    """Numerical options; the defaults are what the tests and benchmarks validate.

    Parameters
    ----------
    time_step_safety : float
        Fraction of the stable explicit step to use (0 < s <= 1).
    maximum_time_step_s : float
        Upper bound on the step (s), so the generator control and the records stay smooth.
    electric_update_tolerance : float
        Heating-weighted relative drift of sigma that triggers a new electric solve.
    record_interval_s : float
        Interval of the time-series records (s).
    grounded_faces : tuple of str
        Outer faces held at 0 V (all six by default; empty for an insulated bipolar box).
    electric_solver : str
        ``"multigrid"`` (matrix-free geometric multigrid + CG, default), ``"amg"`` (pyamg) or
        ``"cg"`` (Jacobi-preconditioned CG).
    """

    time_step_safety: float = 0.9
    maximum_time_step_s: float = 1.0
    electric_update_tolerance: float = 0.02
    record_interval_s: float = 1.0
    grounded_faces: tuple[str, ...] = FACE_NAMES
    electric_solver: str = "multigrid"

    def __post_init__(self) -> None:
        if not 0 < self.time_step_safety <= 1:
            raise ValueError(f"time_step_safety must lie in (0, 1], got {self.time_step_safety!r}")
        for name in ("maximum_time_step_s", "electric_update_tolerance", "record_interval_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be positive and finite, got {value!r}")
        if self.electric_solver not in ("multigrid", "amg", "cg"):
            raise ValueError(
                f"electric_solver must be 'multigrid', 'amg' or 'cg', got {self.electric_solver!r}"
            )


@dataclass
class TissueState:
    """Fields that carry over between ablations (sequential, overlapping ablations).

    Attributes
    ----------
    temperature_c, peak_temperature_c, damage, cem43_minutes : ndarray
        Temperature (degC), peak temperature (degC), Arrhenius damage Omega (dimensionless),
        and cumulative equivalent minutes at 43 degC, per voxel.
    """

    temperature_c: np.ndarray
    peak_temperature_c: np.ndarray
    damage: np.ndarray
    cem43_minutes: np.ndarray

    @classmethod
    def at_rest(cls, grid: Grid, temperature_c: float) -> TissueState:
        """Unheated tissue at a uniform temperature."""
        return cls(
            temperature_c=np.full(grid.shape, float(temperature_c)),
            peak_temperature_c=np.full(grid.shape, float(temperature_c)),
            damage=np.zeros(grid.shape),
            cem43_minutes=np.zeros(grid.shape),
        )

    def copy(self) -> TissueState:
        """Deep copy."""
        return TissueState(
            self.temperature_c.copy(), self.peak_temperature_c.copy(), self.damage.copy(), self.cem43_minutes.copy()
        )


@dataclass
class TimeSeries:
    """Generator records, one row per recorded time (spec: ``timeseries.csv``)."""

    time_s: list[float] = field(default_factory=list)
    power_w: list[float] = field(default_factory=list)
    voltage_v: list[float] = field(default_factory=list)
    current_a: list[float] = field(default_factory=list)
    impedance_ohm: list[float] = field(default_factory=list)
    tip_temperature_c: list[float] = field(default_factory=list)
    energy_j: list[float] = field(default_factory=list)
    state: list[str] = field(default_factory=list)

    COLUMNS = ("t_s", "power_w", "voltage_v", "current_a", "impedance_ohm", "tip_temperature_c", "energy_j")

    def append(self, **values: float | str) -> None:
        """Add one row (keyword per attribute)."""
        for name, value in values.items():
            getattr(self, name).append(value)

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Columns as arrays, keyed by the spec's CSV column names."""
        return {
            "t_s": np.asarray(self.time_s),
            "power_w": np.asarray(self.power_w),
            "voltage_v": np.asarray(self.voltage_v),
            "current_a": np.asarray(self.current_a),
            "impedance_ohm": np.asarray(self.impedance_ohm),
            "tip_temperature_c": np.asarray(self.tip_temperature_c),
            "energy_j": np.asarray(self.energy_j),
        }

    def to_csv(self) -> str:
        """The spec's CSV text (header plus one row per record)."""
        arrays = self.as_arrays()
        lines = [",".join(self.COLUMNS)]
        for row in zip(*(arrays[c] for c in self.COLUMNS), strict=True):
            lines.append(",".join(f"{value:.6g}" for value in row))
        return "\n".join(lines) + "\n"


@dataclass
class EnergyBalance:
    """Every term of the discrete energy balance over the run (J).

    ``electrical_j + external_j + metabolic_j = stored_j + perfusion_j + fixed_sink_j + deposited_in_fixed_j``
    up to round-off: ``residual_j`` is the difference.
    """

    electrical_j: float = 0.0
    external_j: float = 0.0
    metabolic_j: float = 0.0
    stored_j: float = 0.0
    perfusion_j: float = 0.0
    fixed_sink_j: float = 0.0
    deposited_in_fixed_j: float = 0.0

    def add(self, tallies: np.ndarray) -> None:
        """Accumulate one step's kernel tallies."""
        self.electrical_j += tallies[0]
        self.external_j += tallies[1]
        self.metabolic_j += tallies[2]
        self.stored_j += tallies[3]
        self.perfusion_j += tallies[4]
        self.fixed_sink_j += tallies[5]
        self.deposited_in_fixed_j += tallies[6]

    @property
    def residual_j(self) -> float:
        """Input minus output (J)."""
        return (self.electrical_j + self.external_j + self.metabolic_j) - (
            self.stored_j + self.perfusion_j + self.fixed_sink_j + self.deposited_in_fixed_j
        )


@dataclass
class SimulationResult:
    """What :func:`simulate` returns (on the simulation grid).

    Attributes
    ----------
    grid : Grid
    material : ndarray of uint8
        Material codes used (with electrodes' insulation applied).
    state : TissueState
        Final temperature (degC), peak temperature (degC), Arrhenius damage, CEM43 (min).
    timeseries : TimeSeries
        Generator records.
    energy : EnergyBalance
    electric_solves : int
        Number of electric solves.
    electric_seconds : float
        Wall time spent in them (s).
    heat_steps : int
        Number of heat steps taken.
    time_step_s : float
        Step used (s).
    wall_seconds : float
        Total wall time (s).
    rolloffs : int
        Roll-off events reported by the generator.
    potential_v : ndarray or None
        Last unit-voltage potential (V at 1 V applied), for plots.
    """

    grid: Grid
    material: np.ndarray
    state: TissueState
    timeseries: TimeSeries
    energy: EnergyBalance
    electric_solves: int
    electric_seconds: float
    heat_steps: int
    time_step_s: float
    wall_seconds: float
    rolloffs: int
    potential_v: np.ndarray | None = None

    @property
    def peak_temperature_c(self) -> np.ndarray:
        """Peak temperature per voxel (degC)."""
        return self.state.peak_temperature_c

    @property
    def damage(self) -> np.ndarray:
        """Arrhenius damage Omega per voxel (dimensionless)."""
        return self.state.damage

    @property
    def temperature_c(self) -> np.ndarray:
        """Final temperature per voxel (degC)."""
        return self.state.temperature_c

    def zone_volume_ml(self, threshold_c: float = 100.0) -> float:
        """Volume (mL) of tissue whose peak temperature reached ``threshold_c``."""
        return float((self.state.peak_temperature_c >= threshold_c).sum()) * self.grid.voxel_volume_ml


def half_resistances(table: PropertyTable, spacing_m: float) -> np.ndarray:
    """Thermal resistance (m^2 K/W) from a voxel's centre to its face, per material.

    ``h / (2 k)`` plus any wall film; infinite for insulating materials, zero for isothermal
    ones.  Two voxels' face conductance is ``h^2 / (r_a + r_b)`` (harmonic mean of k).
    """
    with np.errstate(divide="ignore"):
        resistance = spacing_m / (2.0 * table.thermal_conductivity_w_per_m_k) + table.wall_resistance_m2_k_per_w
    return np.where(np.isfinite(resistance), resistance, np.inf)


def kernel_parameters(tissue: TissueModel, spacing_m: float, time_step_s: float) -> np.ndarray:
    """The scalar parameter vector of :mod:`rfasim.physics.kernels` (layout ``PARAMETER_NAMES``)."""
    vaporization = tissue.vaporization
    parameters = np.zeros(len(kernels.PARAMETER_NAMES))
    parameters[kernels.P_SPACING] = spacing_m
    parameters[kernels.P_DT] = time_step_s
    parameters[kernels.P_BLOOD_RHO_C] = tissue.blood_heat_capacity_j_per_m3_k
    parameters[kernels.P_BLOOD_T] = tissue.body_temperature_c
    parameters[kernels.P_REF_T] = 37.0
    parameters[kernels.P_VAP_ONSET] = vaporization.onset_c
    parameters[kernels.P_VAP_WIDTH] = vaporization.width_c
    parameters[kernels.P_VAP_LOG_DROP] = math.log(vaporization.conductivity_drop_factor)
    parameters[kernels.P_VAP_ON] = 1.0 if vaporization.enabled else 0.0
    parameters[kernels.P_ARR_A] = tissue.arrhenius.frequency_factor_per_s
    parameters[kernels.P_ARR_THETA] = tissue.arrhenius.activation_energy_j_per_mol / kernels.GAS_CONSTANT_J_PER_MOL_K
    parameters[kernels.P_ARR_MIN] = tissue.arrhenius.minimum_temperature_c
    return parameters


def _validate_fields(grid: Grid, material: np.ndarray) -> np.ndarray:
    material = np.asarray(material)
    if material.shape != grid.shape:
        raise ValueError(f"material map has shape {material.shape}, the grid {grid.shape}")
    if not np.issubdtype(material.dtype, np.integer):
        raise ValueError(f"material map must be integer TissueClass codes, got dtype {material.dtype}")
    valid = {int(c) for c in TissueClass}
    present = set(np.unique(material).tolist())
    unknown = sorted(present - valid)
    if unknown:
        raise ValueError(f"material map holds unknown material codes {unknown}; valid: {sorted(valid)}")
    return material.astype(np.uint8)


@dataclass
class _CoolantCoupling:
    """Free voxels partly filled by cooled metal, coupled to the coolant (sparse)."""

    index: np.ndarray  #: flat voxel indices
    conductance_w_per_k: np.ndarray  #: k_voxel * geometric coupling factor (W/K)
    coolant_temperature_c: np.ndarray


def _coolant_coupling(electrodes: list[ElectrodeRaster], fixed: np.ndarray, material: np.ndarray, table) -> _CoolantCoupling | None:
    """Thermal twin of the electric sub-voxel coupling for cooled electrodes.

    A voxel that the metal only partly fills is joined to the electrode potential through
    ``sigma * factor`` (S); by the same geometry it is joined to the coolant through
    ``k * factor`` (W/K).  Without it, a thin cooled needle that holds no whole voxel would not
    be cooled at all.
    """
    indices, conductances, temperatures = [], [], []
    for electrode in electrodes:
        if not electrode.cooled or electrode.coupling_index.size == 0:
            continue
        index = electrode.coupling_index
        keep = fixed.ravel()[index] == 0
        index = index[keep]
        conductivity = table.thermal_conductivity_w_per_m_k[material.ravel()[index]]
        indices.append(index)
        conductances.append(conductivity * electrode.coupling_factor_m[keep])
        temperatures.append(np.full(index.size, electrode.coolant_temperature_c))
    if not indices:
        return None
    return _CoolantCoupling(np.concatenate(indices), np.concatenate(conductances), np.concatenate(temperatures))


def _cool_partial_voxels(temperature: np.ndarray, coupling: _CoolantCoupling, table, material: np.ndarray,
                         parameters: np.ndarray, energy: EnergyBalance) -> None:
    """Point-implicit coolant exchange of partly cooled voxels (unconditionally stable).

    ``T <- (T + a T_c) / (1 + a)`` with ``a = dt g / C`` (C: apparent heat capacity); the heat
    removed is tallied as a fixed sink from the enthalpy change, so the balance stays exact.
    """
    from rfasim.physics import reference

    flat = temperature.ravel()
    codes = material.ravel()[coupling.index]
    before = flat[coupling.index]
    density = table.density_kg_per_m3[codes]
    heat = table.specific_heat_j_per_kg_k[codes]
    latent = table.latent_heat_j_per_kg[codes]
    capacity = reference.apparent_heat_capacity(density, heat, latent, before, parameters) * parameters[kernels.P_SPACING] ** 3
    a = parameters[kernels.P_DT] * coupling.conductance_w_per_k / capacity
    after = (before + a * coupling.coolant_temperature_c) / (1.0 + a)
    flat[coupling.index] = after
    volume = parameters[kernels.P_SPACING] ** 3
    removed = float(np.sum(
        reference.enthalpy_density(density, heat, latent, before, parameters)
        - reference.enthalpy_density(density, heat, latent, after, parameters)
    )) * volume
    energy.stored_j -= removed
    energy.fixed_sink_j += removed


class _Configuration:
    """Electric problem and last solution of one electrode group."""

    def __init__(self, problem: ElectricProblem) -> None:
        self.problem = problem
        self.heating_per_conductivity: np.ndarray | None = None
        self.solve_conductivity: np.ndarray | None = None
        self.conductance_s = 0.0
        self.potential: np.ndarray | None = None


def simulate(
    grid: Grid,
    material: np.ndarray,
    generator: Generator | None = None,
    electrodes: Sequence[ElectrodeRaster] = (),
    *,
    tissue: TissueModel | None = None,
    source: PowerDensitySource | None = None,
    duration_s: float | None = None,
    options: SimulationOptions | None = None,
    initial_state: TissueState | None = None,
    trackers: Sequence[Tracker] = (),
) -> SimulationResult:
    """Run one ablation: coupled RF field and Pennes bioheat on the voxel grid.

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
        A given power density (W/m^3) instead of the electric model ("bring your own source").
        May be combined with electrodes and a generator; then both heat the tissue.
    duration_s : float, optional
        Simulated time (s); defaults to the generator's duration.
    options : SimulationOptions, optional
    initial_state : TissueState, optional
        State to continue from (sequential ablations); default: tissue at body temperature.
    trackers : sequence of Tracker
        Observers called during the run (progress bars, snapshots).

    Returns
    -------
    SimulationResult

    Raises
    ------
    ValueError
        For non-physical input, naming the parameter and its value, before any kernel runs.

    Examples
    --------
    >>> import numpy as np
    >>> from rfasim.grid import Grid
    >>> from rfasim.sources import ElectrodeRaster
    >>> from rfasim.generators import ConstantPower
    >>> grid = Grid.centered(30.0, 2.0)
    >>> material = np.ones(grid.shape, np.uint8)  # liver
    >>> x, y, z = grid.voxel_centers_mm()
    >>> ball = ElectrodeRaster.from_mask("ball", (x**2 + y**2 + z**2) <= 9.0)
    >>> result = simulate(grid, material, ConstantPower(power_w=5.0, duration_s=20.0), [ball])
    >>> bool(result.peak_temperature_c.max() > 37.0)
    True
    """
    wall_start = time.perf_counter()
    tissue = tissue if tissue is not None else TissueModel()
    options = options if options is not None else SimulationOptions()
    material = _validate_fields(grid, material).copy()
    electrodes = list(electrodes)
    if generator is None and source is None:
        raise ValueError("simulate needs a generator with electrodes, or a power density source")
    if generator is not None and not electrodes:
        raise ValueError("a generator needs at least one electrode")
    if duration_s is None:
        if generator is None:
            raise ValueError("duration_s is required when no generator is given")
        duration_s = generator.duration_s
    if not isinstance(duration_s, (int, float)) or not math.isfinite(duration_s) or duration_s <= 0:
        raise ValueError(f"duration_s must be positive and finite, got {duration_s!r}")
    for electrode in electrodes:
        electrode.validate(grid)
    if source is not None:
        probe = source.at(0.0)
        if probe.shape != grid.shape:
            raise ValueError(f"power density has shape {probe.shape}, the grid {grid.shape}")
        if not np.all(np.isfinite(probe)):
            raise ValueError("power density field holds NaN or infinite values")

    table = tissue.property_table(grid.spacing_m)
    h = grid.spacing_m

    # Insulated shafts are electrically insulating; their heat properties are tissue-like.
    for electrode in electrodes:
        insulated = np.setdiff1d(electrode.insulated_index, electrode.metal_index)
        material.ravel()[insulated] = TissueClass.INSULATOR

    # Thermal boundary conditions: outer layer at body temperature, fixed materials, coolant.
    state = initial_state.copy() if initial_state is not None else TissueState.at_rest(grid, tissue.body_temperature_c)
    for name in ("temperature_c", "peak_temperature_c", "damage", "cem43_minutes"):
        array = getattr(state, name)
        if array.shape != grid.shape or not np.all(np.isfinite(array)):
            raise ValueError(f"initial_state.{name} must be finite with the grid's shape")
    fixed = table.thermally_fixed[material].astype(np.uint8)
    temperature = state.temperature_c
    fixed_materials = np.flatnonzero(table.thermally_fixed)
    for code in fixed_materials:
        if np.isfinite(table.fixed_temperature_c[code]):
            temperature[material == code] = table.fixed_temperature_c[code]
    boundary = np.ones(grid.shape, bool)
    boundary[1:-1, 1:-1, 1:-1] = False
    fixed[boundary] = 1
    temperature[boundary] = tissue.body_temperature_c
    for electrode in electrodes:
        if electrode.cooled:
            cooled = np.union1d(electrode.metal_index, electrode.cooled_index)
            material.ravel()[cooled] = TissueClass.COOLED_METAL
            fixed.ravel()[cooled] = 1
            temperature.ravel()[cooled] = electrode.coolant_temperature_c
    np.maximum(state.peak_temperature_c, temperature, out=state.peak_temperature_c)

    coolant_coupling = _coolant_coupling(electrodes, fixed, material, table)
    half_resistance = half_resistances(table, h)
    stable = kernels.stable_time_step(
        material, fixed, table.density_kg_per_m3, table.specific_heat_j_per_kg_k, half_resistance,
        table.perfusion_rate_per_s, h, tissue.blood_heat_capacity_j_per_m3_k,
    )
    time_step = min(options.time_step_safety * stable, options.maximum_time_step_s, duration_s)
    steps = max(1, math.ceil(duration_s / time_step - 1e-9))
    time_step = duration_s / steps

    parameters = kernel_parameters(tissue, h, time_step)

    # Electric configurations: one per electrode group the generator switches between.
    configurations: list[_Configuration] = []
    if generator is not None:
        groups = getattr(generator, "groups", None) or [list(range(len(electrodes)))]
        for group in groups:
            bad = [index for index in group if not 0 <= index < len(electrodes)]
            if bad:
                raise ValueError(f"generator group refers to electrode {bad[0]}, only {len(electrodes)} given")
            solver = {"multigrid": MultigridSolver, "amg": AMGSolver, "cg": ConjugateGradientSolver}[
                options.electric_solver
            ]()
            problem = ElectricProblem(grid, [electrodes[i] for i in group], options.grounded_faces, solver)
            configurations.append(_Configuration(problem))
        generator.reset()

    conductivity = np.empty(grid.shape)
    electric_solves = 0
    electric_seconds = 0.0

    def solve(configuration: _Configuration) -> None:
        nonlocal electric_solves, electric_seconds
        kernels.conductivity_field(
            temperature, material, table.electrical_conductivity_s_per_m,
            table.conductivity_temperature_coefficient_per_k, parameters, conductivity,
        )
        solution = configuration.problem.solve(conductivity)
        configuration.heating_per_conductivity = solution.heating_per_conductivity
        configuration.solve_conductivity = conductivity.copy()
        configuration.conductance_s = solution.conductance_s
        configuration.potential = solution.potential_v
        electric_solves += 1
        electric_seconds += solution.solve_seconds

    zeros = np.zeros(grid.shape)
    empty = np.zeros((0, 0, 0))
    new_temperature = temperature.copy()
    thermocouples = np.unique(np.concatenate([e.thermocouple_index for e in electrodes])) if electrodes else np.zeros(0, int)
    timeseries = TimeSeries()
    energy = EnergyBalance()
    group = 0
    conductance_estimate = 0.0
    drift = 0.0
    cumulative_energy = 0.0
    next_record = 0.0
    active = configurations[0] if configurations else None
    if active is not None:
        solve(active)
        conductance_estimate = active.conductance_s

    for tracker in trackers:
        tracker.start(duration_s=duration_s, grid=grid)

    simulated = 0.0
    step = 0
    stopped = False
    while step < steps:
        voltage = 0.0
        power_command = 0.0
        generator_state = "source"
        impedance = math.inf
        tip = float(temperature.ravel()[thermocouples].max()) if thermocouples.size else math.nan
        if generator is not None and active is not None:
            impedance = 1.0 / conductance_estimate if conductance_estimate > 0 else math.inf
            command = generator.control(GeneratorReading(simulated, time_step, impedance, tip))
            if command.stop:
                stopped = True
            if command.group != group:
                group = command.group
                active = configurations[group]
                solve(active)
                conductance_estimate = active.conductance_s
                impedance = 1.0 / conductance_estimate
            power_command = 0.0 if stopped else command.power_w
            if power_command > 0 and drift > options.electric_update_tolerance:
                solve(active)  # the field went stale during a pause
                conductance_estimate = active.conductance_s
                impedance = 1.0 / conductance_estimate
                drift = 0.0
            voltage = generator.limits.voltage_for(power_command, impedance)
            generator_state = command.state
        power = voltage**2 / impedance if voltage > 0 else 0.0
        current = voltage / impedance if voltage > 0 else 0.0

        if simulated >= next_record - 1e-9:
            timeseries.append(
                time_s=simulated, power_w=power, voltage_v=voltage, current_a=current,
                impedance_ohm=impedance if math.isfinite(impedance) else float("nan"),
                tip_temperature_c=tip, energy_j=cumulative_energy, state=generator_state,
            )
            next_record += options.record_interval_s
        if stopped:
            break

        parameters[kernels.P_V2] = voltage**2
        external = empty
        if source is not None:
            external = source.at(simulated + 0.5 * time_step)
        hpc = active.heating_per_conductivity if active is not None else zeros
        solve_sigma = active.solve_conductivity if active is not None else zeros
        tallies = kernels.heat_step(
            temperature, new_temperature, material, fixed, state.damage, state.cem43_minutes,
            state.peak_temperature_c, hpc, solve_sigma, external,
            table.density_kg_per_m3, table.specific_heat_j_per_kg_k, half_resistance,
            table.electrical_conductivity_s_per_m, table.conductivity_temperature_coefficient_per_k,
            table.perfusion_rate_per_s, table.metabolic_heat_w_per_m3, table.latent_heat_j_per_kg, parameters,
        )
        energy.add(tallies)
        if coolant_coupling is not None:
            _cool_partial_voxels(new_temperature, coolant_coupling, table, material, parameters, energy)
        cumulative_energy += tallies[0]
        temperature, new_temperature = new_temperature, temperature
        state.temperature_c = temperature
        step += 1
        simulated = step * time_step

        if active is not None:
            conductance_estimate = tallies[7]
            drift = tallies[8] / max(active.conductance_s, 1e-300)
            # While the generator is off the field heats nothing: re-solve only when power flows.
            if drift > options.electric_update_tolerance and power > 0:
                solve(active)
                conductance_estimate = active.conductance_s

        for tracker in trackers:
            tracker.update(
                time_s=simulated, temperature_c=temperature, state=state, power_w=power,
                impedance_ohm=impedance, generator_state=generator_state,
            )

    if not stopped:
        impedance = 1.0 / conductance_estimate if conductance_estimate > 0 else math.nan
        tip = float(temperature.ravel()[thermocouples].max()) if thermocouples.size else math.nan
        if simulated >= next_record - 1e-9 or not timeseries.time_s or timeseries.time_s[-1] < simulated:
            timeseries.append(
                time_s=simulated, power_w=0.0, voltage_v=0.0, current_a=0.0, impedance_ohm=impedance,
                tip_temperature_c=tip, energy_j=cumulative_energy, state="end",
            )
    for tracker in trackers:
        tracker.finish()
    state.temperature_c = temperature
    return SimulationResult(
        grid=grid,
        material=material,
        state=state,
        timeseries=timeseries,
        energy=energy,
        electric_solves=electric_solves,
        electric_seconds=electric_seconds,
        heat_steps=step,
        time_step_s=time_step,
        wall_seconds=time.perf_counter() - wall_start,
        rolloffs=int(getattr(generator, "rolloffs", 0)) if generator is not None else 0,
        potential_v=active.potential if active is not None else None,
    )
