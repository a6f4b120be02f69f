"""Single-probe zone library: what one device does in homogeneous liver, by the full solver.

A :class:`ZoneLibraryEntry` is computed once per device, generator protocol, tissue model and grid
spacing by :func:`rfasim.simulate` (the same coupled RF / Pennes solver the plans use) on a block
of homogeneous perfused liver, the probe along +z with its tip at the origin, and cached on disk:

- ``peak_rise_c``: peak temperature minus body temperature (degC), cooled metal filled with its
  neighbours' value (as the plan pipeline does);
- ``end_rise_c``: the temperature rise at the end of heating (what a neighbouring probe feels);
- ``arrhenius_level_c``: the peak temperature whose iso-surface encloses the same volume as the
  Arrhenius zone (Omega >= 1) of the run, so that the coagulation zone of a combination of probes
  can be predicted from a combined peak temperature (see :mod:`rfasim.planner.zone_model`);
- the generator's duration and delivered energy.

Calibrations computed on top of it (:mod:`rfasim.planner.calibration`) are cached the same way.

Cache: ``$RFASIM_CACHE_DIR`` or the user cache folder (``~/.cache/rfasim/zones`` on Linux), one
``.npz`` file per entry named by the SHA-256 of everything that determines it (device geometry,
protocol, tissue model, spacing, library format and rfasim version).  Files are written to a
temporary name and renamed, so a half-written entry is never read.  Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rfasim.atomic import atomic_path
from rfasim.grid import Grid
from rfasim.probes import ProbeModel, ProbePlacement, get_probe_model, rasterize_probes
from rfasim.simulation.options import SimulationOptions
from rfasim.tissue import TissueClass

#: Bump when the content or meaning of a stored entry changes (invalidates every cache file).
LIBRARY_FORMAT = 4

#: Liver around the active part of the probe in the library block (mm on each side).
LIBRARY_MARGIN_MM = 25.0

#: How the planner's full-solver runs (library, calibration, verification) re-solve the electric
#: field: the solver's default (the local update, within the 2 % accuracy guard of
#: benchmarks/README.md); part of every cache key, so a change of default is a new library.
ELECTRIC_UPDATE = SimulationOptions().electric_update


def cache_folder() -> Path:
    """The folder holding cached zone-library entries (created on first write).

    ``$RFASIM_CACHE_DIR`` when set, else the platform's user cache folder
    (``$XDG_CACHE_HOME/rfasim/zones`` or ``~/.cache/rfasim/zones`` on Linux).
    """
    explicit = os.environ.get("RFASIM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "rfasim" / "zones"


def shipped_folder() -> Path:
    """The zone library shipped with rfasim (package data, ``scripts/build_zone_library.py``)."""
    return Path(__file__).resolve().parent.parent / "data" / "zones"


def cached_file(name: str) -> Path | None:
    """A cached file by name: the user cache first, then the shipped library; None if in neither."""
    for folder in (cache_folder(), shipped_folder()):
        path = folder / name
        if path.is_file():
            return path
    return None


def model_inputs_key(kind: str, **inputs: Any) -> str:
    """SHA-256 (hex) of a JSON description of everything that determines a cached result.

    Besides the inputs: the storage format, the solver options of the planner's runs and the
    physics fingerprint (:mod:`rfasim.planner.fingerprint`), so that an entry computed by other
    physics is never found.
    """
    from rfasim.planner.fingerprint import fingerprint_hash

    description = {"kind": kind, "format": LIBRARY_FORMAT, "electric_update": ELECTRIC_UPDATE,
                   "physics": fingerprint_hash(), **inputs}
    text = json.dumps(description, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def probe_description(model: ProbeModel) -> dict[str, Any]:
    """The device's geometry and protocol as plain data (part of the cache key)."""
    description = asdict(model)
    description.pop("description", None)
    description.pop("source", None)
    return description


@dataclass
class ZoneLibraryEntry:
    """One device's single-probe zone in homogeneous liver (see the module docstring).

    Attributes
    ----------
    device : str
        Catalog name of the probe model.
    spacing_mm : float
        Grid spacing of the run (mm).
    origin_mm : ndarray, shape (3,)
        Probe-frame coordinates (mm) of voxel (0, 0, 0): tip at 0, shaft along +z.
    peak_rise_c, end_rise_c : ndarray of float32
        Peak and end-of-heating temperature rise above body temperature (degC).
    arrhenius_level_c : float
        Peak temperature (degC) whose zone has the Arrhenius zone's volume in this run.
    arrhenius_agreement : float
        Overlap (intersection over union) of that peak-temperature zone with the Arrhenius zone.
    duration_s : float
        Simulated treatment time (s).
    energy_j : float
        Electrical energy delivered (J).
    generator : dict
        The protocol used (the case file's ``[generator]`` keys).
    wall_s : float
        Wall time of the full-solver run (s).
    """

    device: str
    spacing_mm: float
    origin_mm: np.ndarray
    peak_rise_c: np.ndarray
    end_rise_c: np.ndarray
    arrhenius_level_c: float
    arrhenius_agreement: float
    duration_s: float
    energy_j: float
    generator: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0

    def zone_volume_ml(self, level_c: float, body_temperature_c: float = 37.0) -> float:
        """Volume (mL) where the peak temperature reached ``level_c`` (degC)."""
        count = int(np.count_nonzero(self.peak_rise_c >= level_c - body_temperature_c))
        return count * self.spacing_mm**3 * 1e-3

    def sample(self, field_name: str, points_probe_mm: np.ndarray) -> np.ndarray:
        """Trilinear interpolation of a stored field at probe-frame points (n, 3); 0 outside."""
        from scipy import ndimage

        values = getattr(self, field_name)
        index = (np.asarray(points_probe_mm, dtype=float) - self.origin_mm) / self.spacing_mm
        return ndimage.map_coordinates(values, index.T, order=1, mode="constant", cval=0.0)


def active_points_probe_frame(model: ProbeModel) -> np.ndarray:
    """Tip, shaft end of the active part, electrode points and tine paths (probe frame, mm)."""
    placement = ProbePlacement(model, tip_mm=[0.0, 0.0, 0.0], direction=[0.0, 0.0, 1.0])
    geometry = placement.geometry()
    points = [geometry.tip_mm, geometry.tip_mm - model.active_length_mm * geometry.direction]
    points += list(geometry.active_points_mm)
    for path in geometry.tine_paths_mm:
        points += list(np.asarray(path))
    return np.asarray(points)


def library_grid(model: ProbeModel, spacing_mm: float, margin_mm: float = LIBRARY_MARGIN_MM) -> Grid:
    """The block of liver (probe frame: tip at 0, shaft along +z) of a device's library run."""
    points = active_points_probe_frame(model)
    low = points.min(axis=0) - margin_mm
    high = points.max(axis=0) + margin_mm
    # Symmetric about the axis so that the field is centred on the probe.
    lateral = max(abs(low[0]), abs(high[0]), abs(low[1]), abs(high[1]))
    low[:2], high[:2] = -lateral, lateral
    return Grid.centered(tuple(high - low), spacing_mm, tuple((high + low) / 2.0))


def fill_cooled_metal(field: np.ndarray, metal: np.ndarray) -> np.ndarray:
    """A dose field in which metal voxels take the largest value of their neighbours.

    The same convention as the plan pipeline: cooled metal lies inside the zone it creates.
    """
    if not metal.any():
        return field
    from scipy import ndimage

    footprint = ndimage.generate_binary_structure(3, 1)
    filled = field.copy()
    remaining = metal.copy()
    for _ in range(4):
        grown = ndimage.grey_dilation(np.where(remaining, -np.inf, filled), footprint=footprint)
        filled = np.where(remaining, grown, filled)
        remaining = remaining & ~np.isfinite(grown)
        if not remaining.any():
            break
    return np.where(np.isfinite(filled), filled, field)


@dataclass
class SolverRun:
    """Fields of one full-solver run used by the library and its calibrations."""

    grid: Grid
    peak_c: np.ndarray
    end_c: np.ndarray
    damage: np.ndarray
    duration_s: float
    energy_j: float
    wall_s: float


def run_probes(
    grid: Grid,
    material: np.ndarray,
    placements: Sequence[ProbePlacement],
    generator_table: dict[str, Any],
    tissue_table: dict[str, Any],
    progress: str | None = None,
) -> SolverRun:
    """Run the full coupled solver for probes on a material map, with a case-style protocol.

    ``generator_table`` holds the case file's ``[generator]`` keys, including
    ``probe_schedule`` (``simultaneous``, ``switched`` or ``sequential``) for several probes;
    ``progress`` is the description of a progress bar (None: no bar).
    """
    import time

    from rfasim.case import build_generator, build_tissue_model
    from rfasim.generators import ConstantPower
    from rfasim.solver import SimulationOptions, simulate
    from rfasim.trackers import ProgressTracker

    start = time.perf_counter()
    options = SimulationOptions(electric_update=ELECTRIC_UPDATE)
    tissue = build_tissue_model(tissue_table, "[tissue]")
    placements = list(placements)
    for number, placement in enumerate(placements, start=1):
        placement.label = f"probe {number}"
    electrodes = rasterize_probes(placements, grid, material)
    groups: list[list[int]] = []
    for placement in placements:
        groups.append([i for i, e in enumerate(electrodes) if getattr(e, "probe_label", "") == placement.label])
    if any(not group for group in groups):
        groups = [[i] for i in range(len(electrodes))]
    generator, schedule, reposition_s = build_generator(generator_table, groups, "[generator]")
    trackers = [] if progress is None else [ProgressTracker(description=progress)]
    if schedule == "sequential" and len(groups) > 1:
        state = None
        duration = 0.0
        energy = 0.0
        result = None
        for number, group in enumerate(groups, start=1):
            active = [electrodes[i] for i in group]
            result = simulate(grid, material, generator, active, tissue=tissue, initial_state=state, trackers=trackers,
                              options=options)
            state = result.state
            duration += result.heat_steps * result.time_step_s
            energy += result.energy.electrical_j
            if number < len(groups) and reposition_s > 0:
                pause = simulate(grid, material, ConstantPower(power_w=0.0, duration_s=reposition_s), active,
                                 tissue=tissue, initial_state=state, options=options)
                state = pause.state
                duration += reposition_s
        assert result is not None and state is not None
        final_material = result.material
    else:
        result = simulate(grid, material, generator, electrodes, tissue=tissue, trackers=trackers, options=options)
        state = result.state
        duration = result.heat_steps * result.time_step_s
        energy = result.energy.electrical_j
        final_material = result.material
    metal = final_material == TissueClass.COOLED_METAL
    return SolverRun(
        grid=grid,
        peak_c=fill_cooled_metal(state.peak_temperature_c, metal),
        end_c=fill_cooled_metal(state.temperature_c, metal),
        damage=fill_cooled_metal(state.damage, metal),
        duration_s=float(duration),
        energy_j=float(energy),
        wall_s=time.perf_counter() - start,
    )


def equivalent_level_c(peak_c: np.ndarray, damage: np.ndarray) -> tuple[float, float]:
    """Peak temperature whose zone has the Arrhenius zone's volume, and their overlap (IoU)."""
    arrhenius = damage >= 1.0
    count = int(arrhenius.sum())
    if count == 0:
        return float("inf"), 0.0
    ordered = np.sort(peak_c.ravel())[::-1]
    level = float(ordered[min(count, ordered.size) - 1])
    zone = peak_c >= level
    union = int(np.count_nonzero(zone | arrhenius))
    return level, float(np.count_nonzero(zone & arrhenius)) / max(union, 1)


def default_generator(model: ProbeModel) -> dict[str, Any]:
    """The device's usual protocol (its catalog ``[generator]`` table)."""
    return dict(model.generator)


def entry_name(key: str) -> str:
    """File name of a library entry."""
    return f"zone-{key[:32]}.npz"


def save_entry(entry: ZoneLibraryEntry, path: Path) -> None:
    """Write an entry atomically (``.npz``)."""
    scalars = {
        "device": entry.device, "spacing_mm": entry.spacing_mm, "arrhenius_level_c": entry.arrhenius_level_c,
        "arrhenius_agreement": entry.arrhenius_agreement, "duration_s": entry.duration_s,
        "energy_j": entry.energy_j, "generator": entry.generator, "wall_s": entry.wall_s,
    }
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            np.savez_compressed(
                handle, origin_mm=entry.origin_mm, peak_rise_c=entry.peak_rise_c, end_rise_c=entry.end_rise_c,
                scalars=np.array(json.dumps(scalars)),
            )


def load_entry(path: Path) -> ZoneLibraryEntry | None:
    """Read an entry, or None when the file is missing or unreadable (then it is recomputed)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            scalars = json.loads(str(data["scalars"]))
            return ZoneLibraryEntry(
                device=scalars["device"], spacing_mm=float(scalars["spacing_mm"]),
                origin_mm=np.asarray(data["origin_mm"], dtype=float),
                peak_rise_c=np.asarray(data["peak_rise_c"]), end_rise_c=np.asarray(data["end_rise_c"]),
                arrhenius_level_c=float(scalars["arrhenius_level_c"]),
                arrhenius_agreement=float(scalars["arrhenius_agreement"]),
                duration_s=float(scalars["duration_s"]), energy_j=float(scalars["energy_j"]),
                generator=dict(scalars["generator"]), wall_s=float(scalars["wall_s"]),
            )
    except (OSError, KeyError, ValueError):
        return None


def library_key(model: ProbeModel, generator_table: dict[str, Any], tissue_table: dict[str, Any],
                spacing_mm: float) -> str:
    """Cache key of a library entry (hash of every input of the run)."""
    return model_inputs_key(
        "single-probe", probe=probe_description(model), generator=generator_table, tissue=tissue_table,
        spacing_mm=round(float(spacing_mm), 6), margin_mm=LIBRARY_MARGIN_MM,
    )


def compute_entry(model: ProbeModel, generator_table: dict[str, Any], tissue_table: dict[str, Any],
                  spacing_mm: float, progress: str | None = None) -> ZoneLibraryEntry:
    """Run the full solver for one probe in homogeneous liver (no cache)."""
    from rfasim.case import build_tissue_model

    grid = library_grid(model, spacing_mm)
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    placement = ProbePlacement(model, tip_mm=[0.0, 0.0, 0.0], direction=[0.0, 0.0, 1.0])
    table = dict(generator_table)
    table.pop("probe_schedule", None)
    run = run_probes(grid, material, [placement], table, tissue_table, progress)
    body = build_tissue_model(tissue_table).body_temperature_c
    level, agreement = equivalent_level_c(run.peak_c, run.damage)
    return ZoneLibraryEntry(
        device=model.name, spacing_mm=float(spacing_mm), origin_mm=np.asarray(grid.origin_mm, dtype=float),
        peak_rise_c=(run.peak_c - body).astype(np.float32), end_rise_c=(run.end_c - body).astype(np.float32),
        arrhenius_level_c=level, arrhenius_agreement=agreement, duration_s=run.duration_s,
        energy_j=run.energy_j, generator=table, wall_s=run.wall_s,
    )


def library_entry(device: str | ProbeModel, spacing_mm: float, generator_table: dict[str, Any] | None = None,
                  tissue_table: dict[str, Any] | None = None, *, use_cache: bool = True,
                  progress: bool = False) -> ZoneLibraryEntry:
    """The library entry of a device: from the cache, or computed by the full solver and cached.

    Parameters
    ----------
    device : str or ProbeModel
        Catalog name, probe TOML path or model.
    spacing_mm : float
        Grid spacing of the library run (mm); coarse (2-3 mm) for the search.
    generator_table : dict, optional
        Protocol (``[generator]`` keys); default the device's own.
    tissue_table : dict, optional
        The case's ``[tissue]`` overrides; default none.
    use_cache : bool
        Read and write the on-disk cache.
    progress : bool
        Show a progress bar while the entry is computed.
    """
    model = get_probe_model(device)
    table = dict(generator_table) if generator_table else default_generator(model)
    table.pop("probe_schedule", None)
    tissue = dict(tissue_table or {})
    name = entry_name(library_key(model, table, tissue, spacing_mm))
    found = cached_file(name) if use_cache else None
    if found is not None:
        entry = load_entry(found)
        if entry is not None:
            return entry
    path = cache_folder() / name
    entry = compute_entry(model, table, tissue, spacing_mm, f"zone library: {model.name}" if progress else None)
    if use_cache:
        try:
            save_entry(entry, path)
        except OSError:
            pass  # a read-only cache folder costs time, never the plan
    return entry


__all__ = [
    "LIBRARY_FORMAT",
    "active_points_probe_frame",
    "SolverRun",
    "ZoneLibraryEntry",
    "cache_folder",
    "cached_file",
    "compute_entry",
    "entry_name",
    "equivalent_level_c",
    "fill_cooled_metal",
    "library_entry",
    "library_grid",
    "model_inputs_key",
    "run_probes",
    "shipped_folder",
]
