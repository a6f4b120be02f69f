"""Calibrating the fast zone model against the full solver, once per device (and cached).

Two kinds of full-solver runs, each on a block of homogeneous liver at the library spacing:

- **heat sink**: the probe with a 6 mm vessel parallel to its shaft, 10 mm from its axis (the
  wall 7 mm away); ``lambda`` of ``1 - exp(-d / lambda)`` is the value whose corrected library
  zones overlap the solver's best (both criteria);
- **protocols**: two probes 15 mm apart, parallel, run simultaneous, switched and sequential (and
  four probes on a 15 mm square, switched, for the dependence on the number of probes); the
  weights ``a_p, b_p`` of :func:`rfasim.planner.zone_model.combine_rises` are those whose model
  zones overlap the solver's best, and the Arrhenius level is matched by volume.

The fits use :func:`scipy.optimize.brute` (a grid, then a Nelder-Mead polish): the overlap is a
step function of the parameters, which gradient methods cannot follow.  The overlaps reached are
kept with the calibration and reported by the planner: they say how well the model's form fits.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import numpy as np
from scipy import ndimage, optimize

from rfasim.atomic import write_text
from rfasim.case import build_tissue_model
from rfasim.grid import Grid
from rfasim.planner.library import (
    LIBRARY_MARGIN_MM,
    ZoneLibraryEntry,
    cache_folder,
    cached_file,
    equivalent_level_c,
    library_entry,
    library_grid,
    model_inputs_key,
    probe_description,
    run_probes,
)
from rfasim.planner.trajectories import spacing_rule
from rfasim.planner.zone_model import (
    PROTOCOLS,
    DeviceZones,
    ProtocolWeights,
    combine_rises,
    heat_sink_factor,
    sample_single,
)
from rfasim.probes import ProbeModel, ProbePlacement, get_probe_model
from rfasim.tissue import TissueClass

#: Vessel of the heat-sink calibration: radius (mm) and axis distance from the probe's axis (mm).
CALIBRATION_VESSEL_RADIUS_MM = 3.0
CALIBRATION_VESSEL_OFFSET_MM = 10.0
#: Distance (mm) between the two probes of the protocol calibration.
CALIBRATION_PROBE_SPACING_MM = 15.0
#: Probe counts of the switched-protocol calibration: the search uses the weights of its own count
#: (the generator's time is shared among the probes, so the weights depend on it).
CALIBRATION_COUNTS = (2, 3, 4, 5, 6)
#: Isotherm used to judge the fits (the design criterion).
DESIGN_THRESHOLD_C = 100.0


def overlap(first: np.ndarray, second: np.ndarray) -> float:
    """Intersection over union of two masks (1 when both are empty)."""
    union = int(np.count_nonzero(first | second))
    if union == 0:
        return 1.0
    return float(np.count_nonzero(first & second)) / union


def _world_points(grid: Grid) -> np.ndarray:
    x, y, z = np.meshgrid(*grid.axis_coordinates_mm(), indexing="ij")
    return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)


def _widened(entry_grid: Grid, extra_x_mm: float) -> Grid:
    low = np.asarray(entry_grid.origin_mm) - entry_grid.spacing_mm / 2
    high = low + np.asarray(entry_grid.shape) * entry_grid.spacing_mm
    low[0] -= extra_x_mm
    high[0] += extra_x_mm
    return Grid.centered(tuple(high - low), entry_grid.spacing_mm, tuple((high + low) / 2.0))


def fit_heat_sink(entry: ZoneLibraryEntry, generator_table: dict[str, Any], tissue_table: dict[str, Any],
                  progress: bool = False) -> tuple[float, dict[str, float]]:
    """Heat-sink length ``lambda`` (mm) and the overlaps it reaches (see the module docstring)."""
    model = get_probe_model(entry.device)
    grid = library_grid(model, entry.spacing_mm)
    x, y, _ = grid.voxel_centers_mm()
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    vessel = (x - CALIBRATION_VESSEL_OFFSET_MM) ** 2 + y**2 <= CALIBRATION_VESSEL_RADIUS_MM**2
    material[np.broadcast_to(vessel, grid.shape)] = TissueClass.VESSEL
    placement = ProbePlacement(model, tip_mm=[0.0, 0.0, 0.0], direction=[0.0, 0.0, 1.0])
    run = run_probes(grid, material, [placement], generator_table, tissue_table,
                     f"zone library: {model.name} beside a vessel" if progress else None)
    body = build_tissue_model(tissue_table).body_temperature_c
    points = _world_points(grid)
    peak, _ = sample_single(entry, [np.zeros(3)], [np.array([0.0, 0.0, 1.0])], points)
    distance = ndimage.distance_transform_edt(material != TissueClass.VESSEL, sampling=grid.spacing_mm).ravel()
    truth_iso = run.peak_c.ravel() >= DESIGN_THRESHOLD_C
    truth_arr = run.damage.ravel() >= 1.0

    def agreement(length: float) -> dict[str, float]:
        rise = peak[0] * heat_sink_factor(distance, length)
        return {
            "isotherm": overlap(body + rise >= DESIGN_THRESHOLD_C, truth_iso),
            "arrhenius": overlap(body + rise >= entry.arrhenius_level_c, truth_arr),
        }

    def mismatch(parameters: np.ndarray) -> float:
        values = agreement(float(np.atleast_1d(parameters)[0]))
        return 2.0 - values["isotherm"] - values["arrhenius"]

    best = optimize.brute(mismatch, ((0.2, 12.0),), Ns=40, finish=None)
    length = float(np.atleast_1d(best)[0])
    return length, agreement(length)


def calibration_tips(model, count: int) -> list[np.ndarray]:
    """Tips of the protocol calibration: ``count`` probes on a ring, neighbours one spacing apart."""
    spacing = max(CALIBRATION_PROBE_SPACING_MM, spacing_rule(model).min_spacing_mm)
    if count == 2:
        return [np.array([-spacing / 2.0, 0.0, 0.0]), np.array([spacing / 2.0, 0.0, 0.0])]
    ring = count if count <= 4 else count - 1  # 5 and 6: a ring around a centre probe, as the search
    radius = spacing / (2.0 * np.sin(np.pi / ring)) if count <= 4 else spacing
    tips = [radius * np.array([np.cos(2 * np.pi * k / ring), np.sin(2 * np.pi * k / ring), 0.0]) for k in range(ring)]
    return tips + ([np.zeros(3)] if count > 4 else [])


def fit_protocol(entry: ZoneLibraryEntry, protocol: str, generator_table: dict[str, Any],
                 tissue_table: dict[str, Any], progress: bool = False, count: int = 2) -> ProtocolWeights:
    """Combination weights of a protocol from a full-solver run of ``count`` parallel probes."""
    model = get_probe_model(entry.device)
    tips = calibration_tips(model, count)
    reach = float(np.max(np.abs(np.asarray(tips)[:, :2])))
    base = library_grid(model, entry.spacing_mm)
    low = np.asarray(base.origin_mm) - base.spacing_mm / 2
    high = low + np.asarray(base.shape) * base.spacing_mm
    low[:2] -= reach
    high[:2] += reach
    grid = Grid.centered(tuple(high - low), entry.spacing_mm, tuple((high + low) / 2.0))
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    directions = [np.array([0.0, 0.0, 1.0])] * count
    placements = [ProbePlacement(model, tip_mm=t, direction=d) for t, d in zip(tips, directions, strict=True)]
    table = dict(generator_table)
    table["probe_schedule"] = protocol
    run = run_probes(grid, material, placements, table, tissue_table,
                     f"zone library: {model.name}, {count} probes {protocol}" if progress else None)
    body = build_tissue_model(tissue_table).body_temperature_c
    points = _world_points(grid)
    peak, end = sample_single(entry, tips, directions, points)
    truth_peak = run.peak_c.ravel()
    truth_iso = truth_peak >= DESIGN_THRESHOLD_C
    truth_arr = run.damage.ravel() >= 1.0

    def evaluate(parameters: np.ndarray) -> tuple[float, dict[str, float], float]:
        weights = ProtocolWeights(float(parameters[0]), float(parameters[1]))
        modelled = body + combine_rises(peak, end, weights)
        level, _ = equivalent_level_c(modelled, truth_arr.astype(float))  # the same volume
        values = {
            "isotherm": overlap(modelled >= DESIGN_THRESHOLD_C, truth_iso),
            "arrhenius": overlap(modelled >= level, truth_arr),
        }
        return 2.0 - values["isotherm"] - values["arrhenius"], values, level

    best = optimize.brute(lambda p: evaluate(p)[0], ((0.3, 1.3), (0.0, 1.5)), Ns=12, finish=None)
    result = optimize.minimize(lambda p: evaluate(np.clip(p, [0.3, 0.0], [1.3, 1.5]))[0], best,
                               method="Nelder-Mead", options={"xatol": 0.01, "fatol": 1e-4, "maxiter": 60})
    parameters = np.clip(result.x if result.fun <= evaluate(best)[0] else best, [0.3, 0.0], [1.3, 1.5])
    _, values, level = evaluate(parameters)
    return ProtocolWeights(float(parameters[0]), float(parameters[1]), float(level), values, count)


def calibration_name(key: str) -> str:
    """File name of a device's calibration."""
    return f"calibration-{key[:32]}.json"


def calibration_key(model: ProbeModel, generator: dict[str, Any], tissue: dict[str, Any], spacing_mm: float,
                    protocols: tuple[str, ...] = PROTOCOLS) -> str:
    """Cache key of a device's calibration (hash of every input and of the physics fingerprint)."""
    return model_inputs_key(
        "calibration", probe=probe_description(model), generator=generator, tissue=tissue,
        spacing_mm=round(float(spacing_mm), 6), margin_mm=LIBRARY_MARGIN_MM, protocols=sorted(protocols),
        vessel=[CALIBRATION_VESSEL_RADIUS_MM, CALIBRATION_VESSEL_OFFSET_MM], spacing=CALIBRATION_PROBE_SPACING_MM,
        counts=list(CALIBRATION_COUNTS),
    )


def device_zones(device: str, spacing_mm: float, tissue_table: dict[str, Any] | None = None,
                 protocols: tuple[str, ...] = PROTOCOLS, *, use_cache: bool = True,
                 progress: bool = False, calibrate: bool = True) -> DeviceZones:
    """A device's library entry with its heat-sink and protocol calibrations (cached).

    Parameters
    ----------
    device : str
        Catalog name or probe TOML path.
    spacing_mm : float
        Library spacing (mm).
    tissue_table : dict, optional
        The case's ``[tissue]`` overrides.
    protocols : tuple of str
        Multi-probe protocols to calibrate.
    use_cache : bool
        Read and write the on-disk cache.
    progress : bool
        Show progress bars for the full-solver runs.
    calibrate : bool
        False: no full-solver calibration runs (heat-sink length 3 mm, protocols as the union of
        single zones): for tests and quick looks only.
    """
    model = get_probe_model(device)
    tissue = dict(tissue_table or {})
    generator = dict(model.generator)
    generator.pop("probe_schedule", None)
    entry = library_entry(model, spacing_mm, generator, tissue, use_cache=use_cache, progress=progress)
    if not calibrate:
        union = {p: ProtocolWeights(1.0, 0.0, entry.arrhenius_level_c) for p in protocols}
        return DeviceZones(entry, 3.0, {}, union)
    name = calibration_name(calibration_key(model, generator, tissue, spacing_mm, protocols))
    path = cache_folder() / name
    found = cached_file(name) if use_cache else None
    if found is not None:
        try:
            stored = json.loads(found.read_text(encoding="utf-8"))
            weights = {p: ProtocolWeights(**w) for p, w in stored["protocols"].items()}
            larger = {p: ProtocolWeights(**w) for p, w in stored.get("protocols_four_probes", {}).items()}
            counts = {p: {int(n): ProtocolWeights(**w) for n, w in by.items()}
                      for p, by in stored.get("protocols_by_count", {}).items()}
            return DeviceZones(entry, float(stored["heat_sink_length_mm"]), dict(stored["heat_sink_agreement"]),
                               weights, larger, counts)
        except (OSError, KeyError, ValueError, TypeError):
            pass
    length, sink_agreement = fit_heat_sink(entry, generator, tissue, progress)
    weights = {p: fit_protocol(entry, p, generator, tissue, progress) for p in protocols}
    # The switched generator shares its time among the probes: the weights are calibrated for
    # every number of probes the search uses (CALIBRATION_COUNTS), not interpolated.
    counts = {p: {n: fit_protocol(entry, p, generator, tissue, progress, count=n) for n in CALIBRATION_COUNTS if n > 2}
              for p in protocols if p == "switched"}
    larger = {p: by[4] for p, by in counts.items() if 4 in by}
    zones = DeviceZones(entry, length, sink_agreement, weights, larger, counts)
    if use_cache:
        stored = {
            "device": model.name, "heat_sink_length_mm": length, "heat_sink_agreement": sink_agreement,
            "protocols": {p: asdict(w) for p, w in weights.items()},
            "protocols_four_probes": {p: asdict(w) for p, w in larger.items()},
            "protocols_by_count": {p: {str(n): asdict(w) for n, w in by.items()} for p, by in counts.items()},
        }
        try:
            write_text(path, json.dumps(stored, indent=2) + "\n")
        except OSError:
            pass
    return zones


__all__ = ["calibration_key", "calibration_name", "device_zones", "fit_heat_sink", "fit_protocol", "overlap"]
