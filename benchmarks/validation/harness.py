"""Run a corpus experiment in rfasim and measure what the paper measured.

An experiment becomes a cubic block of liver (its faces are the return electrode and are held
at the initial temperature), the experiment's catalog probes placed with their active parts at
the given centres, the generator built by :func:`rfasim.case.build_generator` from the catalog
protocol and the experiment's ``[generator]`` overrides, and the tissue built by
:func:`rfasim.case.build_tissue_model` from its ``[tissue]`` table.  The public
:func:`rfasim.simulate` runs it; the zone is measured with :mod:`rfasim.metrics` (sub-voxel
iso-surface of the Arrhenius damage, the same measure as a plan's ``zone_arrhenius``).

Nothing is tuned per experiment.  ``tissue_overrides`` exists for the global calibration
(:mod:`calibration`), which applies one parameter vector to every experiment.

Examples
--------
>>> from corpus import load_corpus
>>> setup = build_run(load_corpus()["lee2009-cooled-2cm-ex-vivo"], spacing_mm=4.0)
>>> setup.grid.shape, setup.schedule, setup.tissue.body_temperature_c
((20, 20, 20), 'simultaneous', 22.0)
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from corpus import QUANTITIES, Experiment, ProbeEntry

import rfasim
from rfasim.case import build_generator, build_tissue_model
from rfasim.generators import ConstantPower, Generator
from rfasim.grid import Grid
from rfasim.metrics import zone_metrics_from_field
from rfasim.probes import ProbePlacement, rasterize_probes
from rfasim.tissue import TissueClass, TissueModel

#: Arrhenius damage at which tissue counts as coagulated (white zone at gross pathology).
DAMAGE_THRESHOLD = 1.0
#: Peak-temperature isotherm reported beside the damage zone (degC).
ISOTHERM_C = 50.0


@dataclass
class RunSetup:
    """Everything :func:`rfasim.simulate` needs for one experiment."""

    grid: Grid
    material: np.ndarray
    placements: list[ProbePlacement]
    electrodes: list[Any]
    probe_groups: list[list[int]]
    generator: Generator
    schedule: str
    reposition_s: float
    tissue: TissueModel


@dataclass(frozen=True)
class Prediction:
    """What rfasim predicts for one experiment.

    Attributes
    ----------
    name : str
    spacing_mm, extent_mm : float
        Grid spacing and block edge (mm).
    long_axis_mm, mid_axis_mm, short_axis_mm, volume_ml : float
        Arrhenius zone (damage >= 1): diameter along the (first) probe, the two diameters across
        it (larger first) and the volume.
    isotherm_long_axis_mm, isotherm_short_axis_mm, isotherm_volume_ml : float
        The same for the 50 degC peak-temperature isotherm.
    energy_j : float
        Electrical energy delivered (J).
    rolloffs : int
    temperatures_c : tuple of float
        Final temperature at each of the experiment's thermocouple positions (degC).
    simulated_s, wall_s : float
    """

    name: str
    spacing_mm: float
    extent_mm: float
    long_axis_mm: float
    mid_axis_mm: float
    short_axis_mm: float
    volume_ml: float
    isotherm_long_axis_mm: float
    isotherm_short_axis_mm: float
    isotherm_volume_ml: float
    energy_j: float
    rolloffs: int
    temperatures_c: tuple[float, ...] = ()
    simulated_s: float = 0.0
    wall_s: float = 0.0

    def value(self, quantity: str) -> float:
        """The predicted value of a :data:`corpus.QUANTITIES` key."""
        if quantity not in QUANTITIES:
            raise KeyError(f"unknown quantity {quantity!r} (valid: {', '.join(QUANTITIES)})")
        return float(getattr(self, quantity))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record."""
        return {key: (list(value) if isinstance(value, tuple) else value) for key, value in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Prediction:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        values["temperatures_c"] = tuple(values.get("temperatures_c", ()))
        return cls(**values)


@dataclass
class RunOutput:
    """A prediction with the fields behind it (figures, heat-sink metrics)."""

    prediction: Prediction
    setup: RunSetup
    damage: np.ndarray = field(repr=False)
    peak_temperature_c: np.ndarray = field(repr=False)
    temperature_c: np.ndarray = field(repr=False)
    material: np.ndarray = field(repr=False)


# ---------------------------------------------------------------------------------------------
# Set-up
# ---------------------------------------------------------------------------------------------
def placement_for(entry: ProbeEntry, label: str) -> ProbePlacement:
    """A catalog probe with the centre of its active part at ``entry.center_mm``."""
    direction = np.asarray(entry.direction, float)
    trial = ProbePlacement(entry.model, tip_mm=np.zeros(3), direction=direction,
                           deployment_diameter_mm=entry.deployment_diameter_mm, rotation_deg=entry.rotation_deg)
    points = trial.geometry().active_points_mm
    offset = 0.5 * (points.min(axis=0) + points.max(axis=0))
    return ProbePlacement(entry.model, tip_mm=np.asarray(entry.center_mm, float) - offset, direction=direction,
                          deployment_diameter_mm=entry.deployment_diameter_mm, rotation_deg=entry.rotation_deg,
                          label=label)


def tissue_table_with(table: Mapping[str, Any], overrides: Mapping[str, float] | None) -> dict[str, Any]:
    """A ``[tissue]`` table with ``overrides`` applied (``"liver.perfusion_rate_per_s"`` style keys).

    Examples
    --------
    >>> tissue_table_with({"perfused": True}, {"liver.perfusion_rate_per_s": 0.01})
    {'perfused': True, 'liver': {'perfusion_rate_per_s': 0.01}}
    """
    result: dict[str, Any] = {key: (dict(value) if isinstance(value, dict) else value) for key, value in table.items()}
    for key, value in (overrides or {}).items():
        if "." in key:
            section, name = key.split(".", 1)
            result.setdefault(section, {})[name] = float(value)
        else:
            result[key] = float(value)
    return result


def build_run(experiment: Experiment, spacing_mm: float, extent_mm: float | None = None,
              tissue_overrides: Mapping[str, float] | None = None,
              material_edit: Any = None, electrode_model: str = "cut-cell") -> RunSetup:
    """Grid, liver block, placed probes, generator and tissue of an experiment.

    Parameters
    ----------
    experiment : Experiment
    spacing_mm : float
        Grid spacing (mm).
    extent_mm : float, optional
        Block edge (mm); default the experiment's.
    tissue_overrides : mapping, optional
        ``[tissue]`` keys to set (global calibration parameters).
    material_edit : callable, optional
        ``material_edit(grid, material)`` changes the material in place before the probes are
        rasterised (vessels of a heat-sink study).
    electrode_model : str
        :data:`rfasim.probes.rasterize.ELECTRODE_MODELS` entry.
    """
    grid = Grid.centered(extent_mm or experiment.extent_mm, spacing_mm)
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    if material_edit is not None:
        material_edit(grid, material)
    placements = [placement_for(entry, f"probe {n}") for n, entry in enumerate(experiment.probes, start=1)]
    electrodes = rasterize_probes(placements, grid, material, electrode_model=electrode_model)
    groups = [[i for i, e in enumerate(electrodes) if e.probe_label == p.label] for p in placements]
    if any(not group for group in groups):
        raise ValueError(f"{experiment.name}: a probe holds no electrode voxel at {spacing_mm} mm")
    table = experiment.generator_table()
    generator, schedule, reposition_s = build_generator(table, groups, f"{experiment.path} [generator]")
    tissue = build_tissue_model(tissue_table_with(experiment.tissue_table, tissue_overrides),
                                f"{experiment.path} [tissue]")
    return RunSetup(grid, material, placements, list(electrodes), groups, generator, schedule, reposition_s, tissue)


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------
def _simulate(setup: RunSetup) -> tuple[Any, float, int, float]:
    """Final state, delivered energy, roll-offs and simulated time of the set-up's schedule."""
    if setup.schedule != "sequential":
        result = rfasim.simulate(setup.grid, setup.material, setup.generator, setup.electrodes, tissue=setup.tissue)
        return result, float(result.energy.electrical_j), int(result.rolloffs), result.heat_steps * result.time_step_s
    # One probe after the other; temperature and damage carry over (as rfasim plan does).
    state, energy, rolloffs, simulated, result = None, 0.0, 0, 0.0, None
    for number, group in enumerate(setup.probe_groups):
        active = [setup.electrodes[i] for i in group]
        result = rfasim.simulate(setup.grid, setup.material, setup.generator, active, tissue=setup.tissue,
                                 initial_state=state)
        state, energy = result.state, energy + float(result.energy.electrical_j)
        rolloffs += int(result.rolloffs)
        simulated += result.heat_steps * result.time_step_s
        if number < len(setup.probe_groups) - 1 and setup.reposition_s > 0:
            pause = rfasim.simulate(setup.grid, setup.material, ConstantPower(power_w=0.0, duration_s=setup.reposition_s),
                                    active, tissue=setup.tissue, initial_state=state)
            state, simulated = pause.state, simulated + pause.heat_steps * pause.time_step_s
            result = pause
    return result, energy, rolloffs, simulated


def dose_through_metal(field_values: np.ndarray, material: np.ndarray) -> np.ndarray:
    """A dose field whose cooled-metal voxels carry their neighbours' dose (as plans measure it)."""
    from rfasim.plan.pipeline import _through_metal  # one measure for plans and validation

    return _through_metal(field_values, material == TissueClass.COOLED_METAL)


def _temperature_at(temperature: np.ndarray, grid: Grid, point_mm: tuple[float, float, float]) -> float:
    index = np.clip(np.round(grid.world_to_index(np.asarray(point_mm, float))).astype(int), 0,
                    np.asarray(grid.shape) - 1)
    return float(temperature[tuple(index)])


def run_experiment(experiment: Experiment, spacing_mm: float, extent_mm: float | None = None,
                   tissue_overrides: Mapping[str, float] | None = None, material_edit: Any = None) -> RunOutput:
    """Simulate one experiment and measure its zone.

    Parameters
    ----------
    experiment : Experiment
        A ``zone``, ``heat-sink`` or ``configuration`` entry of the corpus.
    spacing_mm : float
        Grid spacing (mm).
    extent_mm : float, optional
        Block edge (mm); default the experiment's.
    tissue_overrides : mapping, optional
        Global calibration parameters (``[tissue]`` keys).
    material_edit : callable, optional
        See :func:`build_run`.

    Returns
    -------
    RunOutput
    """
    start = time.perf_counter()
    setup = build_run(experiment, spacing_mm, extent_mm, tissue_overrides, material_edit)
    result, energy, rolloffs, simulated = _simulate(setup)
    material = result.material
    damage = dose_through_metal(result.state.damage, material)
    peak = dose_through_metal(result.state.peak_temperature_c, material)
    axis = setup.placements[0].geometry().direction
    zone = zone_metrics_from_field(damage, DAMAGE_THRESHOLD, setup.grid, probe_axis=axis)
    isotherm = zone_metrics_from_field(peak, ISOTHERM_C, setup.grid, probe_axis=axis)
    temperatures = tuple(_temperature_at(result.state.temperature_c, setup.grid, reading.position_mm)
                         for reading in experiment.temperatures)
    prediction = Prediction(
        name=experiment.name, spacing_mm=float(spacing_mm), extent_mm=float(setup.grid.shape[0] * spacing_mm),
        long_axis_mm=zone.axes_mm[0], mid_axis_mm=zone.axes_mm[1], short_axis_mm=zone.axes_mm[2],
        volume_ml=zone.volume_ml, isotherm_long_axis_mm=isotherm.axes_mm[0],
        isotherm_short_axis_mm=isotherm.axes_mm[2], isotherm_volume_ml=isotherm.volume_ml,
        energy_j=energy, rolloffs=rolloffs, temperatures_c=temperatures, simulated_s=float(simulated),
        wall_s=time.perf_counter() - start,
    )
    return RunOutput(prediction, setup, damage, peak, result.state.temperature_c, material)


def errors_pct(experiment: Experiment, prediction: Prediction) -> dict[str, float]:
    """(predicted - measured) / measured in % for each measured quantity."""
    return {
        quantity: 100.0 * (prediction.value(quantity) - measurement.value) / measurement.value
        for quantity, measurement in experiment.measured.items()
    }


def within_spread(experiment: Experiment, prediction: Prediction) -> dict[str, bool | None]:
    """Whether each prediction lies within one reported spread of the mean (None without a spread)."""
    return {
        quantity: None if m.spread is None else abs(prediction.value(quantity) - m.value) <= m.spread
        for quantity, m in experiment.measured.items()
    }


# ---------------------------------------------------------------------------------------------
# Heat sink
# ---------------------------------------------------------------------------------------------
@dataclass
class HeatSinkResult:
    """Zone next to a straight vessel parallel to the needle (mid-plane of the active tip).

    Attributes
    ----------
    vessel_diameter_mm : float or None
        None: the reference run without a vessel.
    vessel_axis_offset_mm : float
        Needle axis to vessel axis (mm), along +x.
    radius_toward_vessel_mm, radius_away_mm : float
        Zone radius along +x (towards the vessel) and -x (mm).
    cuff_ablated_fraction : float
        Fraction of the liver pixels touching the vessel that are coagulated (NaN without one).
    cuff_ablated_fraction_without_vessel : float or None
        The same pixels in the reference run.
    rasterized_diameter_mm : float or None
        Equivalent diameter of the rasterised lumen (mm).
    volume_ml : float
    expect_viable_cuff : bool or None
        The outcome the paper reports for this calibre.
    slice_damage, slice_material : ndarray
        Mid-plane fields for figures.
    extent_mm : tuple of float
        (x_min, x_max, y_min, y_max) of the slice.
    """

    vessel_diameter_mm: float | None
    vessel_axis_offset_mm: float
    radius_toward_vessel_mm: float
    radius_away_mm: float
    cuff_ablated_fraction: float
    volume_ml: float
    rasterized_diameter_mm: float | None = None
    cuff_ablated_fraction_without_vessel: float | None = None
    expect_viable_cuff: bool | None = None
    slice_damage: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    slice_material: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    extent_mm: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    @property
    def viable_cuff(self) -> bool | None:
        """Whether part of the perivascular cuff stays uncoagulated (None without a vessel)."""
        return None if math.isnan(self.cuff_ablated_fraction) else self.cuff_ablated_fraction < 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (figures left out)."""
        record = {k: v for k, v in self.__dict__.items() if not k.startswith("slice_")}
        record["cuff_ablated_fraction"] = None if math.isnan(self.cuff_ablated_fraction) else self.cuff_ablated_fraction
        record["extent_mm"] = list(self.extent_mm)
        return record


def vessel_cuff(material_plane: np.ndarray) -> np.ndarray:
    """Liver pixels of a 2D material plane that share an edge with a vessel pixel.

    Examples
    --------
    >>> plane = np.full((5, 5), int(TissueClass.LIVER))
    >>> plane[2, 2] = TissueClass.VESSEL
    >>> int(vessel_cuff(plane).sum())
    4
    """
    vessel = np.isin(material_plane, (TissueClass.VESSEL, TissueClass.THROMBUS))  # thrombosed lumen stays the vessel
    near = np.zeros_like(vessel)
    near[1:, :] |= vessel[:-1, :]
    near[:-1, :] |= vessel[1:, :]
    near[:, 1:] |= vessel[:, :-1]
    near[:, :-1] |= vessel[:, 1:]
    return near & (material_plane == TissueClass.LIVER)


def run_heat_sink(experiment: Experiment, spacing_mm: float, vessel_diameter_mm: float | None,
                  wall_distance_mm: float = 5.0) -> HeatSinkResult:
    """The experiment's needle next to a straight vessel along z (None: no vessel).

    The vessel's near wall is ``wall_distance_mm`` from the needle axis for every calibre, so
    only the calibre changes between runs.
    """
    offset = 0.0 if vessel_diameter_mm is None else wall_distance_mm + 0.5 * vessel_diameter_mm

    def add_vessel(grid: Grid, material: np.ndarray) -> None:
        if vessel_diameter_mm is None:
            return
        x, y, _ = grid.voxel_centers_mm()
        lumen = np.broadcast_to((x - offset) ** 2 + y**2 <= (0.5 * vessel_diameter_mm) ** 2, grid.shape)
        if not lumen.any():
            raise ValueError(f"a {vessel_diameter_mm} mm vessel holds no voxel at {spacing_mm} mm spacing")
        material[lumen] = TissueClass.VESSEL

    output = run_experiment(experiment, spacing_mm, material_edit=add_vessel)
    grid = output.setup.grid
    zone = output.damage >= DAMAGE_THRESHOLD
    axes_x, axes_y, axes_z = grid.axis_coordinates_mm()
    k, j = int(np.argmin(np.abs(axes_z))), int(np.argmin(np.abs(axes_y)))
    row = zone[:, j, k]
    half = 0.5 * spacing_mm
    toward, away = axes_x[(axes_x >= 0) & row], axes_x[(axes_x <= 0) & row]
    plane_material = output.material[:, :, k]
    cuff = vessel_cuff(plane_material)
    fraction = float((zone[:, :, k] & cuff).sum() / cuff.sum()) if cuff.any() else math.nan
    vessel_pixels = int(np.isin(plane_material, (TissueClass.VESSEL, TissueClass.THROMBUS)).sum())
    return HeatSinkResult(
        vessel_diameter_mm=vessel_diameter_mm, vessel_axis_offset_mm=offset,
        radius_toward_vessel_mm=float(toward.max()) + half if toward.size else 0.0,
        radius_away_mm=float(-away.min()) + half if away.size else 0.0,
        cuff_ablated_fraction=fraction, volume_ml=output.prediction.volume_ml,
        rasterized_diameter_mm=2.0 * math.sqrt(vessel_pixels / math.pi) * spacing_mm if vessel_pixels else None,
        slice_damage=output.damage[:, :, k].copy(), slice_material=plane_material.copy(),
        extent_mm=(axes_x[0] - half, axes_x[-1] + half, axes_y[0] - half, axes_y[-1] + half),
    )


def heat_sink_study(experiment: Experiment, spacing_mm: float) -> list[HeatSinkResult]:
    """The reference run without a vessel, then one run per vessel of the experiment."""
    reference = run_heat_sink(experiment, spacing_mm, None)
    results = [reference]
    for case in experiment.vessels:
        result = run_heat_sink(experiment, spacing_mm, case.diameter_mm, case.wall_distance_mm)
        result.expect_viable_cuff = case.expect_viable_cuff
        cuff = vessel_cuff(result.slice_material)
        result.cuff_ablated_fraction_without_vessel = float((reference.slice_damage[cuff] >= DAMAGE_THRESHOLD).mean())
        results.append(result)
    return results
