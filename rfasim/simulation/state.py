"""What a simulation carries and returns: tissue state, records, energy balance, result."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rfasim.grid import Grid
from rfasim.physics.bioheat_kernel import StepTallies


@dataclass
class TissueState:
    """Fields that carry over between ablations (sequential, overlapping ablations).

    Attributes
    ----------
    temperature_c, peak_temperature_c : ndarray
        Temperature (float64) and peak temperature (float32) per voxel (degC).
    doses : dict of str to ndarray
        Dose of every damage model, by model name (``"arrhenius"``: Omega, dimensionless;
        ``"cem43"``: minutes; others as their model says).
    dried_fraction : ndarray or None
        Desiccation the tissue conductivity remembers (0-1, float32), when the vaporisation
        model's hysteresis is on (:mod:`rfasim.physics.desiccation`); None otherwise.
    """

    temperature_c: np.ndarray
    peak_temperature_c: np.ndarray
    doses: dict[str, np.ndarray] = field(default_factory=dict)
    dried_fraction: np.ndarray | None = None

    @classmethod
    def at_rest(cls, grid: Grid, temperature_c: float) -> TissueState:
        """Unheated tissue at a uniform temperature (doses are created by the damage models)."""
        return cls(
            temperature_c=np.full(grid.shape, float(temperature_c)),
            peak_temperature_c=np.full(grid.shape, float(temperature_c), np.float32),
        )

    @property
    def damage(self) -> np.ndarray:
        """Arrhenius damage Omega per voxel (dimensionless)."""
        return self.doses["arrhenius"]

    @property
    def cem43_minutes(self) -> np.ndarray:
        """Cumulative equivalent minutes at 43 degC per voxel."""
        return self.doses["cem43"]

    def copy(self) -> TissueState:
        """Deep copy."""
        return TissueState(
            self.temperature_c.copy(),
            self.peak_temperature_c.copy(),
            {name: dose.copy() for name, dose in self.doses.items()},
            None if self.dried_fraction is None else self.dried_fraction.copy(),
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

    def add(self, tallies: StepTallies) -> None:
        """Accumulate one step's tallies."""
        self.electrical_j += tallies.electrical_j
        self.external_j += tallies.external_j
        self.metabolic_j += tallies.metabolic_j
        self.stored_j += tallies.stored_j
        self.perfusion_j += tallies.perfusion_j
        self.fixed_sink_j += tallies.fixed_sink_j
        self.deposited_in_fixed_j += tallies.deposited_in_fixed_j

    @property
    def residual_j(self) -> float:
        """Input minus output (J)."""
        return (self.electrical_j + self.external_j + self.metabolic_j) - (
            self.stored_j + self.perfusion_j + self.fixed_sink_j + self.deposited_in_fixed_j
        )


@dataclass
class SimulationResult:
    """What a simulation returns (on the simulation grid).

    Attributes
    ----------
    grid : Grid
    material : ndarray of uint8
        Material codes used (with electrodes' insulation and cooled metal applied).
    state : TissueState
        Final temperature (degC), peak temperature (degC) and every damage model's dose.
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
