"""From a case to a plan: images -> target -> eligibility -> probes -> simulation -> measurements.

:func:`run_case` computes a :class:`~rfasim.plan.result.PlanResult` in memory;
:func:`rfasim.plan.outputs.write_plan_folder` writes the plan folder.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import rfasim
from rfasim.case import Case, build_generator, build_tissue_model, simulation_options
from rfasim.errors import CaseFileError, InputError
from rfasim.imaging import (
    LabelMapping,
    Tumor,
    Volume,
    check_memory,
    check_same_space,
    find_tumors,
    load_ct,
    load_labels,
    resample_ct,
    resample_labels,
    select_target,
    simulation_grid,
)
from rfasim.imaging.body import classify_unlabelled
from rfasim.metrics.criteria import ZoneFields, get_zone_criterion
from rfasim.plan.eligibility import eligibility_verdict
from rfasim.plan.measure import COAGULATION_CRITERION, measure_plan
from rfasim.plan.result import Eligibility, PlanResult, RunSummary, TumorSummary
from rfasim.plan.tumor_list import other_tumor_findings
from rfasim.probes import ProbePlacement, check_trajectories, get_probe_model, rasterize_probes
from rfasim.probes.path_check import needle_path_report
from rfasim.process_cache import ReadOnlyCache
from rfasim.simulation import BYTES_PER_VOXEL_ESTIMATE, TissueState, simulate
from rfasim.tissue import TissueClass
from rfasim.trackers import ProgressTracker, SnapshotTracker, Tracker


@dataclass
class _Inputs:
    """The case's images, read and checked: labels, CT, tissue classes, tumors."""

    labels: Volume
    ct: Volume | None
    classes: np.ndarray
    tumors: list[Tumor]
    warnings: list[str]


@dataclass
class _Ablation:
    """What the simulation step hands to the measurements."""

    simulation: Any
    generator: Any
    generator_table: dict[str, Any]
    snapshots: SnapshotTracker | None


def _placements(case: Case) -> list[ProbePlacement]:
    placements = []
    for number, spec in enumerate(case.probes, start=1):
        placements.append(
            ProbePlacement(
                model=spec.model,
                tip_mm=np.asarray(spec.tip_mm),
                entry_mm=None if spec.entry_mm is None else np.asarray(spec.entry_mm),
                direction=None if spec.direction is None else np.asarray(spec.direction),
                deployment_diameter_mm=spec.deployment_diameter_mm,
                rotation_deg=spec.rotation_deg,
                label=f"probe {number}",
            )
        )
    return placements


def _generator_table(case: Case, placements: list[ProbePlacement]) -> dict[str, Any]:
    """The case's generator table, or the first probe model's usual protocol."""
    if case.generator_table:
        return dict(case.generator_table)
    return dict(get_probe_model(placements[0].model).generator)


def _points_of_interest(target_points_mm: np.ndarray, placements: list[ProbePlacement]) -> np.ndarray:
    points = [target_points_mm.min(axis=0), target_points_mm.max(axis=0)]
    for placement in placements:
        geometry = placement.geometry()
        for segment in geometry.active_segments:
            points += [np.asarray(segment.start_mm), np.asarray(segment.end_mm)]
        for path in geometry.tine_paths_mm:
            points += list(np.asarray(path))
    return np.asarray(points)


def zone_fields(simulation: Any) -> ZoneFields:
    """The dose fields of a simulation, with cooled metal voxels carrying their neighbours' dose.

    Parameters
    ----------
    simulation : SimulationResult

    Returns
    -------
    ZoneFields
        Peak temperature (degC) and the dose of every damage model the run accumulated
        (``"arrhenius"``: Omega, ``"cem43"``: min...).
    """
    state = simulation.state
    metal = simulation.material == TissueClass.COOLED_METAL
    return ZoneFields(
        peak_temperature_c=_through_metal(state.peak_temperature_c, metal),
        damage={name: _through_metal(dose, metal) for name, dose in state.doses.items()},
    )


def run_case(case: Case, *, force: bool = False, progress: bool = True, snapshot_interval_s: float | None = None,
             trackers: list[Tracker] | None = None) -> PlanResult:
    """Compute the plan of a case, on a simulation box large enough not to change the zones.

    Runs :func:`run_case_once`, again on a larger box while a zone comes close to the box
    (:func:`rfasim.plan.domain.run_with_domain_growth`; ``[grid] grow_domain = false`` runs it
    once).  Parameters, return value and errors as :func:`run_case_once`; trackers observe every
    run.
    """
    from rfasim.plan.domain import run_with_domain_growth

    return run_with_domain_growth(case, lambda box: run_case_once(
        box, force=force, progress=progress, snapshot_interval_s=snapshot_interval_s, trackers=trackers,
    ))


def run_case_once(case: Case, *, force: bool = False, progress: bool = True, snapshot_interval_s: float | None = None,
                  trackers: list[Tracker] | None = None) -> PlanResult:
    """Compute the plan of a case on the box of its margin (``case.roi_margin_mm``).

    Parameters
    ----------
    case : Case
        A validated case (:func:`rfasim.case.load_case`).
    force : bool
        Simulate even when the target tumor is not eligible (research use).
    progress : bool
        Show a progress bar on stderr.
    snapshot_interval_s : float, optional
        Keep temperature snapshots every so many simulated seconds (for animations).
    trackers : list of Tracker, optional
        Extra trackers handed to the solver.

    Returns
    -------
    PlanResult
        ``plan.simulated`` is False when the tumor was refused as not eligible.

    Raises
    ------
    rfasim.errors.InputError
        Any bad input, before anything is written.
    """
    start = time.perf_counter()
    _check_damage_models(case)
    inputs = _read_inputs(case)
    placements = _placements(case)
    for placement in placements:
        placement.geometry()  # validates (ProbeError) before any heavy work
    target = select_target(
        inputs.tumors,
        tumor_id=case.target_tumor_id,
        point_mm=case.target_point_mm,
        nearest_to_mm=None if (case.target_tumor_id or case.target_point_mm) else placements[0].tip_mm,
    )
    eligibility = eligibility_verdict(target.max_diameter_mm)
    plan = _region_plan(case, inputs, target, placements, eligibility)
    plan.other_tumors = other_tumor_findings(inputs.tumors, target, None, plan.grid, plan.other_tumor_masks)
    path_warnings, plan.needle_paths = needle_path_report(placements, inputs.classes, inputs.labels, inputs.tumors,
                                                          target, plan.grid, inputs.ct)
    plan.warnings.extend(path_warnings)
    if not eligibility.eligible and not force:
        return _refused(plan, eligibility, start)
    if not eligibility.eligible:
        plan.warnings.append(f"forced: {eligibility.reason} Simulated for research only.")
    if not np.any(plan.tissue_classes == TissueClass.LIVER):
        raise InputError(f"{case.labels_path}: no liver voxel in the region around the target tumor")
    ablation = _simulate(case, plan, progress=progress, snapshot_interval_s=snapshot_interval_s,
                         trackers=trackers)
    fields = _record_fields(case, plan, ablation)
    measure_plan(plan, case, fields, ablation.generator, ablation.generator_table, time.perf_counter() - start)
    plan.other_tumors = other_tumor_findings(inputs.tumors, target, plan.zone_mask, plan.grid, plan.other_tumor_masks)
    return plan


def _record_fields(case: Case, plan: PlanResult, ablation: _Ablation) -> ZoneFields:
    """The simulated fields and zones onto the plan (cooled metal voxels carry their neighbours' dose)."""
    fields = zone_fields(ablation.simulation)
    plan.zone_mask = get_zone_criterion(case.zone_criterion).zone(fields, case.zone_threshold_c)
    plan.arrhenius_zone_mask = get_zone_criterion(COAGULATION_CRITERION).zone(fields)
    plan.peak_temperature_c = fields.peak_temperature_c
    plan.damage = fields.dose("arrhenius")
    plan.simulation = ablation.simulation
    plan.snapshots = ablation.snapshots
    return fields


def _check_damage_models(case: Case) -> None:
    """The zone criteria's damage models are among those the run accumulates (before any work)."""
    # Arrhenius always runs (perfusion stops where its Omega reaches 1: SimulationOptions).
    selected = ("arrhenius", *simulation_options(case.options_table, f"{case.path} [options]").damage_models)
    selected = tuple(dict.fromkeys(selected))
    for name in (case.zone_criterion, COAGULATION_CRITERION):
        missing = [m for m in get_zone_criterion(name).damage_models if m not in selected]
        if missing:
            raise CaseFileError(
                f"{case.path} [zone] criterion: {name!r} needs the {missing[0]!r} damage model; add it to "
                f"[options] damage_models (now: {', '.join(selected)})"
            )


def _input_arrays(inputs: _Inputs) -> list[np.ndarray]:
    """Every array of a case's inputs (made read-only when cached)."""
    arrays = [inputs.labels.data, inputs.labels.affine, inputs.classes]
    arrays += [] if inputs.ct is None else [inputs.ct.data, inputs.ct.affine]
    return arrays + [array for tumor in inputs.tumors for array in (tumor.centroid_mm, tumor.box_mask, tumor.affine)]


#: Inputs read in this process, by :func:`_inputs_key` (a sweep runs one case many times).
_INPUTS_CACHE: ReadOnlyCache[_Inputs] = ReadOnlyCache(2, _input_arrays)


def _file_key(path: Any) -> tuple[Any, ...]:
    """A file's identity for the cache: resolved path, size and modification time (ns)."""
    if path is None:
        return (None,)
    resolved = Path(path).resolve()
    status = resolved.stat()
    return (str(resolved), status.st_size, status.st_mtime_ns)


def _inputs_key(case: Case) -> tuple[Any, ...] | None:
    """The cache key of a case's inputs, or None when they cannot be keyed (then read afresh)."""
    try:
        table = json.dumps(case.labels_table, sort_keys=True, default=str)
        return (*_file_key(case.labels_path), *_file_key(case.ct_path), table)
    except (OSError, TypeError, ValueError):
        return None


def _read_inputs(case: Case) -> _Inputs:
    """:func:`_read_case_inputs`, cached per process while the files are unchanged.

    A parameter sweep runs one case many times in a worker: the images are read, checked and
    mapped once (~0.07 s per run of the 1 mm sweep benchmark, by cProfile).  The cached arrays
    are read-only, so that no caller can change what the next run reads; each call gets its own
    lists of tumors and warnings.
    """
    cached = _INPUTS_CACHE.get(_inputs_key(case), lambda: _read_case_inputs(case))
    return _Inputs(labels=cached.labels, ct=cached.ct, classes=cached.classes, tumors=list(cached.tumors),
                   warnings=list(cached.warnings))


def _read_case_inputs(case: Case) -> _Inputs:
    """Labels (and CT) read and mapped to tissue classes; the tumors found in them."""
    labels = load_labels(case.labels_path)
    ct = None
    if case.ct_path is not None:
        ct = load_ct(case.ct_path)
        check_same_space(labels, ct)
    mapping = LabelMapping.from_case(case.labels_table, where=f"{case.path} [labels]")
    classes, label_warnings = mapping.to_tissue_classes(labels.data, source=str(case.labels_path))
    tumors = find_tumors(classes == TissueClass.TUMOR, labels.affine, source=str(case.labels_path))
    return _Inputs(labels=labels, ct=ct, classes=classes, tumors=tumors, warnings=list(label_warnings))


def _region_plan(case: Case, inputs: _Inputs, target: Tumor, placements: list[ProbePlacement],
                 eligibility: Eligibility) -> PlanResult:
    """The plan before simulation: the target judged, the region of interest resampled."""
    labels = inputs.labels
    points = _points_of_interest(target.points_mm, placements)
    grid = simulation_grid(labels.affine, labels.data.shape, points, case.roi_margin_mm, case.spacing_mm)
    check_memory(grid, bytes_per_voxel=BYTES_PER_VOXEL_ESTIMATE, margin_mm=case.roi_margin_mm)
    tissue_classes = resample_labels(Volume(inputs.classes, labels.affine, case.labels_path), grid)
    ct_hu = resample_ct(inputs.ct, grid) if inputs.ct is not None else None
    unlabelled = classify_unlabelled(tissue_classes, grid, inputs.ct, ct_hu, source=str(case.labels_path))
    tissue_classes = unlabelled.classes

    def on_grid(tumor: Tumor) -> np.ndarray:
        return resample_labels(Volume(tumor.mask(labels.data.shape).astype(np.uint8), labels.affine, None), grid) > 0

    return PlanResult(
        grid=grid, tissue_classes=tissue_classes, target_mask=on_grid(target),
        other_tumor_masks=[on_grid(t) for t in inputs.tumors if t.id != target.id],
        ct_hu=ct_hu, placements=placements,
        eligibility=eligibility,
        tumor=TumorSummary(
            tumor_id=int(target.id), volume_ml=float(target.volume_ml),
            centroid_mm=tuple(float(v) for v in target.centroid_mm),  # type: ignore[arg-type]
            max_diameter_mm=float(target.max_diameter_mm),
        ),
        tumors_in_image=len(inputs.tumors), input_shape=tuple(labels.data.shape),
        input_affine=labels.affine, warnings=inputs.warnings + unlabelled.warnings, unlabelled_tissue=unlabelled,
    )


def _refused(plan: PlanResult, eligibility: Eligibility, start: float) -> PlanResult:
    """A plan refused by the eligibility rule: the verdict and the run, nothing simulated."""
    plan.warnings.append(eligibility.reason)
    grid = plan.grid
    plan.run = RunSummary(rfasim_version=rfasim.__version__, wall_s=time.perf_counter() - start,
                          grid_shape=grid.shape, spacing_mm=grid.spacing_mm, simulated=False)
    return plan


def _electrodes(plan: PlanResult) -> tuple[list[Any], list[list[int]]]:
    """The probes rasterised, their electrodes grouped by probe; trajectory and tip warnings."""
    grid, tissue_classes, placements = plan.grid, plan.tissue_classes, plan.placements
    electrodes = rasterize_probes(placements, grid, tissue_classes)
    trajectory = check_trajectories(placements, tissue_classes, grid, plan.target_mask, check_crossings=False)
    plan.warnings.extend(trajectory.warnings)
    for placement in placements:
        tip_index = np.round(grid.world_to_index(placement.tip_mm)).astype(int)
        material = tissue_classes[tuple(np.clip(tip_index, 0, np.asarray(grid.shape) - 1))]
        if material not in (TissueClass.LIVER, TissueClass.TUMOR):
            plan.warnings.append(
                f"{placement.label}: tip lies in {TissueClass(material).name.lower()}, not in liver or tumor"
            )
    return electrodes, probe_groups(placements, len(electrodes))


def _simulate(case: Case, plan: PlanResult, *, progress: bool, snapshot_interval_s: float | None,
              trackers: list[Tracker] | None) -> _Ablation:
    """Electrodes, tissue model and generator from the case; the ablation simulated."""
    electrodes, groups = _electrodes(plan)
    tissue = build_tissue_model(case.tissue_table, f"{case.path} [tissue]")
    generator_table = _generator_table(case, plan.placements)
    generator, schedule, reposition_s = build_generator(generator_table, groups, f"{case.path} [generator]")
    options = simulation_options(case.options_table, f"{case.path} [options]")
    interval = snapshot_interval_s or case.options_table.get("snapshot_interval_s")
    snapshots = SnapshotTracker(interval_s=float(interval)) if interval else None
    run_trackers: list[Tracker] = list(trackers or [])
    if snapshots is not None:
        run_trackers.append(snapshots)
    grid, material = plan.grid, plan.tissue_classes
    if schedule == "sequential" and len(plan.placements) > 1:
        simulation = _run_sequential(grid, material, generator, electrodes, groups, tissue, options,
                                     reposition_s, progress, run_trackers)
    else:
        if progress:
            run_trackers.append(ProgressTracker(description=f"ablation ({generator.mode})"))
        simulation = simulate(grid, material, generator, electrodes, tissue=tissue, options=options,
                              trackers=run_trackers)
    return _Ablation(simulation=simulation, generator=generator, generator_table=generator_table,
                     snapshots=snapshots)


def _through_metal(field: np.ndarray, metal: np.ndarray) -> np.ndarray:
    """A dose field in which cooled metal voxels take the highest value of their neighbours.

    The metal of a cooled needle sits at the coolant temperature, but it lies inside the zone
    it creates: without this, the zone would have a hole along the needle, and sub-voxel
    interpolation next to the cold metal would shave the zone's thin core (coverage, margins).
    """
    if not metal.any():
        return field
    from scipy import ndimage

    footprint = ndimage.generate_binary_structure(3, 1)
    dilated = field.copy()
    remaining = metal.copy()
    for _ in range(3):  # a few passes fill needles several voxels thick
        grown = ndimage.grey_dilation(np.where(remaining, -np.inf, dilated), footprint=footprint)
        dilated = np.where(remaining, grown, dilated)
        remaining = remaining & ~np.isfinite(grown)
        if not remaining.any():
            break
    return np.where(np.isfinite(dilated), dilated, field)


def probe_groups(placements: list[ProbePlacement], electrode_count: int) -> list[list[int]]:
    """Electrode indices per probe, from the probes' own electrode counts.

    :func:`rfasim.probes.rasterize_probes` returns every probe's electrodes together and in
    placement order, ``model.electrode_count`` of them per probe (two for a bipolar probe).

    Parameters
    ----------
    placements : list of ProbePlacement
        The probes, in the order they were rasterised.
    electrode_count : int
        How many electrodes the rasterisation returned (checked against the probes' counts).

    Returns
    -------
    list of list of int
        One list of electrode indices per probe.

    Raises
    ------
    ValueError
        If the counts disagree (the electrodes do not come from these probes).
    """
    groups: list[list[int]] = []
    first = 0
    for placement in placements:
        count = placement.geometry().model.electrode_count
        groups.append(list(range(first, first + count)))
        first += count
    if first != electrode_count:
        raise ValueError(f"{len(placements)} probes hold {first} electrodes, not {electrode_count}")
    return groups


def _run_sequential(grid, material, generator, electrodes, probe_groups, tissue, options, reposition_s, progress,
                    trackers):
    """Ablations one probe after the other; temperature and damage carry over.

    Between ablations the tissue cools for ``reposition_s`` with no power (the needle being moved).
    """
    from rfasim.generators import ConstantPower

    state: TissueState | None = None
    results = []
    for number, group in enumerate(probe_groups, start=1):
        active = [electrodes[i] for i in group]
        run_trackers = list(trackers)
        if progress:
            run_trackers.append(ProgressTracker(description=f"ablation {number}/{len(probe_groups)}"))
        result = simulate(grid, material, generator, active, tissue=tissue, options=options,
                          initial_state=state, trackers=run_trackers)
        results.append(result)
        state = result.state
        if number < len(probe_groups) and reposition_s > 0:
            pause = simulate(grid, material, ConstantPower(power_w=0.0, duration_s=reposition_s), active,
                             tissue=tissue, options=options, initial_state=state)
            state = pause.state
            results.append(pause)
    return _concatenate(results, state)


def _concatenate(results, state):
    """One SimulationResult for a sequence of runs (time series shifted, energies added)."""
    from rfasim.simulation import EnergyBalance, SimulationResult, TimeSeries

    series = TimeSeries()
    energy = EnergyBalance()
    offset = 0.0
    cumulative = 0.0
    for result in results:
        arrays = result.timeseries
        for n in range(len(arrays.time_s)):
            series.append(
                time_s=arrays.time_s[n] + offset, power_w=arrays.power_w[n], voltage_v=arrays.voltage_v[n],
                current_a=arrays.current_a[n], impedance_ohm=arrays.impedance_ohm[n],
                tip_temperature_c=arrays.tip_temperature_c[n], energy_j=arrays.energy_j[n] + cumulative,
                state=arrays.state[n],
            )
        offset += result.heat_steps * result.time_step_s
        cumulative += result.energy.electrical_j
        for name in vars(energy):
            setattr(energy, name, getattr(energy, name) + getattr(result.energy, name))
    last = results[-1]
    return SimulationResult(
        grid=last.grid, material=last.material, state=state, timeseries=series, energy=energy,
        electric_solves=sum(r.electric_solves for r in results),
        electric_seconds=sum(r.electric_seconds for r in results),
        heat_steps=sum(r.heat_steps for r in results), time_step_s=last.time_step_s,
        wall_seconds=sum(r.wall_seconds for r in results), rolloffs=sum(r.rolloffs for r in results),
        potential_v=last.potential_v,
    )


__all__ = ["probe_groups", "run_case", "run_case_once", "zone_fields"]
