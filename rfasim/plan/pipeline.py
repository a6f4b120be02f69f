"""From a case to a plan: images -> target -> eligibility -> probes -> simulation -> measurements.

:func:`run_case` computes a :class:`~rfasim.plan.result.PlanResult` in memory;
:func:`rfasim.plan.outputs.write_plan_folder` writes the plan folder.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import rfasim
from rfasim.case import Case, build_generator, build_tissue_model, simulation_options
from rfasim.errors import InputError
from rfasim.imaging import (
    LabelMapping,
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
from rfasim.plan.eligibility import eligibility_verdict
from rfasim.plan.result import PlanResult
from rfasim.probes import ProbePlacement, check_trajectories, get_probe_model, rasterize_probes
from rfasim.simulation import BYTES_PER_VOXEL_ESTIMATE, TissueState, simulate
from rfasim.tissue import TissueClass
from rfasim.trackers import ProgressTracker, SnapshotTracker, Tracker

ARRHENIUS_THRESHOLD = 1.0
CEM43_THRESHOLD_MIN = 240.0


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


def zone_masks(criterion: str, threshold_c: float | None, peak_temperature_c: np.ndarray, damage: np.ndarray,
               cem43_minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """The necrosis zone of a criterion, the field it thresholds and its description."""
    if criterion == "isotherm":
        return peak_temperature_c >= threshold_c, peak_temperature_c, f"peak temperature >= {threshold_c:g} degC"
    if criterion == "arrhenius":
        return damage >= ARRHENIUS_THRESHOLD, damage, "Arrhenius damage Omega >= 1"
    return cem43_minutes >= CEM43_THRESHOLD_MIN, cem43_minutes, f"CEM43 >= {CEM43_THRESHOLD_MIN:g} min"


def run_case(case: Case, *, force: bool = False, progress: bool = True, snapshot_interval_s: float | None = None,
             trackers: list[Tracker] | None = None) -> PlanResult:
    """Compute the plan of a case.

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
    warnings: list[str] = []
    labels = load_labels(case.labels_path)
    ct = None
    if case.ct_path is not None:
        ct = load_ct(case.ct_path)
        check_same_space(labels, ct)
    mapping = LabelMapping.from_case(case.labels_table, where=f"{case.path} [labels]")
    classes, label_warnings = mapping.to_tissue_classes(labels.data, source=str(case.labels_path))
    warnings += label_warnings
    tumors = find_tumors(classes == TissueClass.TUMOR, labels.affine, source=str(case.labels_path))
    placements = _placements(case)
    for placement in placements:
        placement.geometry()  # validates (ProbeError) before any heavy work
    target = select_target(
        tumors,
        tumor_id=case.target_tumor_id,
        point_mm=case.target_point_mm,
        nearest_to_mm=None if (case.target_tumor_id or case.target_point_mm) else placements[0].tip_mm,
    )
    eligibility = eligibility_verdict(target.max_diameter_mm)
    metrics: dict[str, Any] = {
        "rfasim_version": rfasim.__version__,
        "eligibility": eligibility,
        "tumor": {
            "id": int(target.id),
            "volume_ml": round(float(target.volume_ml), 4),
            "centroid_mm": [round(float(v), 2) for v in target.centroid_mm],
            "max_diameter_mm": round(float(target.max_diameter_mm), 2),
            "coverage_pct": None,
        },
        "tumors_in_image": len(tumors),
    }

    points = _points_of_interest(target.points_mm, placements)
    grid = simulation_grid(labels.affine, labels.data.shape, points, case.roi_margin_mm, case.spacing_mm)
    check_memory(grid, bytes_per_voxel=BYTES_PER_VOXEL_ESTIMATE, margin_mm=case.roi_margin_mm)
    tissue_classes = resample_labels(Volume(classes, labels.affine, case.labels_path), grid)
    target_mask = resample_labels(Volume(target.mask(labels.data.shape).astype(np.uint8), labels.affine, None), grid) > 0
    other_masks = [
        resample_labels(Volume(t.mask(labels.data.shape).astype(np.uint8), labels.affine, None), grid) > 0
        for t in tumors if t.id != target.id
    ]
    ct_hu = resample_ct(ct, grid) if ct is not None else None
    plan = PlanResult(
        grid=grid, tissue_classes=tissue_classes, target_mask=target_mask, other_tumor_masks=other_masks,
        ct_hu=ct_hu, placements=placements, metrics=metrics, input_shape=tuple(labels.data.shape),
        input_affine=labels.affine, warnings=warnings,
    )

    if not eligibility["eligible"] and not force:
        metrics["warnings"] = warnings + [eligibility["reason"]]
        metrics["run"] = {"wall_s": round(time.perf_counter() - start, 3), "grid_shape": list(grid.shape),
                          "spacing_mm": grid.spacing_mm, "simulated": False}
        return plan
    if not eligibility["eligible"]:
        warnings.append(f"forced: {eligibility['reason']} Simulated for research only.")

    if not np.any(tissue_classes == TissueClass.LIVER):
        raise InputError(f"{case.labels_path}: no liver voxel in the region around the target tumor")
    electrodes = rasterize_probes(placements, grid, tissue_classes)
    trajectory = check_trajectories(placements, tissue_classes, grid, target_mask)
    warnings += list(trajectory.warnings)
    for placement in placements:
        tip_index = np.round(grid.world_to_index(placement.tip_mm)).astype(int)
        material = tissue_classes[tuple(np.clip(tip_index, 0, np.asarray(grid.shape) - 1))]
        if material not in (TissueClass.LIVER, TissueClass.TUMOR):
            warnings.append(f"{placement.label}: tip lies in {TissueClass(material).name.lower()}, not in liver or tumor")

    tissue = build_tissue_model(case.tissue_table, f"{case.path} [tissue]")
    generator_table = _generator_table(case, placements)
    probe_groups = _probe_groups(electrodes, placements)
    generator, schedule, reposition_s = build_generator(generator_table, probe_groups, f"{case.path} [generator]")
    options = simulation_options(case.options_table, f"{case.path} [options]")
    interval = snapshot_interval_s or case.options_table.get("snapshot_interval_s")
    snapshots = SnapshotTracker(interval_s=float(interval)) if interval else None
    run_trackers: list[Tracker] = list(trackers or [])
    if snapshots is not None:
        run_trackers.append(snapshots)

    if schedule == "sequential" and len(placements) > 1:
        simulation = _run_sequential(grid, tissue_classes, generator, electrodes, probe_groups, tissue, options,
                                     reposition_s, progress, run_trackers)
    else:
        if progress:
            run_trackers.append(ProgressTracker(description=f"ablation ({generator.mode})"))
        simulation = simulate(grid, tissue_classes, generator, electrodes, tissue=tissue, options=options,
                              trackers=run_trackers)

    state = simulation.state
    metal = simulation.material == TissueClass.COOLED_METAL
    peak, damage, cem43 = (
        _through_metal(field, metal) for field in (state.peak_temperature_c, state.damage, state.cem43_minutes)
    )
    zone, zone_field, criterion_text = zone_masks(case.zone_criterion, case.zone_threshold_c, peak, damage, cem43)
    plan.zone_mask = zone
    plan.arrhenius_zone_mask = damage >= ARRHENIUS_THRESHOLD
    plan.peak_temperature_c = peak  # cooled metal voxels carry their neighbours' dose
    plan.damage = damage
    plan.simulation = simulation
    plan.snapshots = snapshots
    from rfasim.plan.measure import measure_plan

    measure_plan(plan, case, zone_field, criterion_text, generator, generator_table, time.perf_counter() - start)
    return plan


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


def _probe_groups(electrodes: list[Any], placements: list[ProbePlacement]) -> list[list[int]]:
    """Electrode indices per probe (rasterize_probes keeps probe order; names carry the label)."""
    groups: list[list[int]] = []
    for placement in placements:
        members = [
            i for i, e in enumerate(electrodes)
            if getattr(e, "probe_label", "") == placement.label
            or e.name in (placement.label, f"{placement.label} +", f"{placement.label} -")
        ]
        groups.append(members)
    if any(not group for group in groups) or sum(len(g) for g in groups) != len(electrodes):
        # Fall back to one group per electrode when names do not carry the probe labels.
        return [[i] for i in range(len(electrodes))]
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


__all__ = ["run_case", "zone_masks"]
