"""Measurements of a simulated plan: zone, coverage, margin, heat sinks -> the plan's summaries.

Everything is measured at full precision; :mod:`rfasim.plan.outputs` rounds for ``metrics.json``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import rfasim
from rfasim.metrics import (
    PALLIATIVE_COVERAGE_PCT,
    MarginMetrics,
    distance_to_zone_mm,
    heat_sink_warnings,
    margin_metrics,
    zone_metrics_from_field,
)
from rfasim.metrics.criteria import ZoneCriterion, ZoneFields, get_zone_criterion
from rfasim.plan.result import (
    Debulking,
    EnergyBalanceSummary,
    GeneratorSummary,
    MarginSummary,
    OtherTumorFinding,
    PlanResult,
    RunSummary,
    ZoneSummary,
)
from rfasim.plan.uncertainty import uncertainty_for_kinds
from rfasim.tissue import TissueClass

#: The coagulation zone always reported beside the plan's own criterion.
COAGULATION_CRITERION = "arrhenius"

#: Coverage (percent) counted as the whole tumor (sub-voxel coverage is never exactly 100).
COMPLETE_COVERAGE_PCT = 99.95

#: The clinical rule behind :data:`rfasim.metrics.PALLIATIVE_COVERAGE_PCT` (``../shared/context``).
DEBULKING_RULE = "palliative (debulking) treatment only when more than 90 % of the tumor tissue can be destroyed"

#: Vessels whose wall lies within this distance of the zone are reported as heat sinks (mm).
HEAT_SINK_DISTANCE_MM = 10.0


def _probe_axis(plan: PlanResult) -> np.ndarray | None:
    if not plan.placements:
        return None
    direction = np.asarray(plan.placements[0].geometry().direction, dtype=float)
    return direction / np.linalg.norm(direction)


def measure_plan(plan: PlanResult, case: Any, fields: ZoneFields, generator: Any, generator_table: dict[str, Any],
                 wall_seconds: float) -> None:
    """Fill the plan's summaries and ``plan.margin_surface`` from the simulated fields.

    Parameters
    ----------
    plan : PlanResult
        A plan whose ``zone_mask``, ``peak_temperature_c`` and ``simulation`` are set.
    case : Case
        The case (criterion, threshold, margin target).
    fields : ZoneFields
        The dose fields the zone criteria read.
    generator : Generator
        The generator that ran.
    generator_table : dict
        The generator protocol used.
    wall_seconds : float
        Wall-clock time of the run so far (s).
    """
    if plan.zone_mask is None or plan.peak_temperature_c is None:
        raise ValueError("measure_plan needs a simulated plan (zone mask and peak temperature)")
    zone_mask, grid = plan.zone_mask, plan.grid
    axis = _probe_axis(plan)
    criterion = get_zone_criterion(case.zone_criterion)
    plan.zone, margin = _measure_zone(plan, criterion, case.zone_threshold_c, fields, case.margin_target_mm, axis)
    plan.margin_surface = margin.surface
    plan.arrhenius_zone = _measure_zone_size(plan, get_zone_criterion(COAGULATION_CRITERION), fields, axis)
    plan.debulking = _judge_coverage(plan, margin, case.margin_target_mm)
    vessels = heat_sink_warnings(
        plan.tissue_classes == TissueClass.VESSEL, zone_mask, grid, distance_mm=HEAT_SINK_DISTANCE_MM,
        probe_axis=axis,
    )
    plan.heat_sinks = list(vessels)
    plan.warnings.extend(v.warning for v in vessels)
    plan.other_tumors = [
        OtherTumorFinding(distance_to_zone_mm(mask, zone_mask, grid))
        for mask in plan.other_tumor_masks if mask.any()
    ]
    plan.generator = _generator_summary(plan.simulation, generator, generator_table)
    plan.peak_temperature_max_c = float(plan.peak_temperature_c.max())
    plan.energy_balance = _energy_summary(plan.simulation.energy)
    plan.run = _run_summary(plan, wall_seconds)
    plan.model_uncertainty = uncertainty_for_kinds([p.model.kind for p in plan.placements])


def _measure_zone(plan: PlanResult, criterion: ZoneCriterion, threshold: float | None, fields: ZoneFields,
                  margin_target_mm: float, axis: np.ndarray | None) -> tuple[ZoneSummary, MarginMetrics]:
    """The plan's zone below the voxel: size, tumor coverage and safety margin.

    Sub-voxel measures from the continuous field (the zone boundary interpolated between voxel
    centres); the zone mask written to ``zone.nii.gz`` is the voxel-level view of the same zone.
    """
    threshold = criterion.resolve_threshold(threshold)
    zone_field = criterion.dose_field(fields)
    zone = zone_metrics_from_field(zone_field, threshold, plan.grid, probe_axis=axis)
    margin = margin_metrics(
        plan.target_mask, plan.grid, zone_mask=plan.zone_mask, zone_field=zone_field, zone_threshold=threshold,
        target_mm=margin_target_mm,
    )
    summary = MarginSummary(
        min_mm=margin.min_mm, target_mm=float(margin_target_mm), surface_pct_at_target=margin.surface_pct_at_target,
        surface_pct_at_10mm=margin.surface_pct_at_10mm, ok=bool(margin.ok), thinnest_at_mm=margin.thinnest_at_mm,
        percentiles_mm=None if margin.percentiles_mm is None else dict(margin.percentiles_mm),
    )
    return ZoneSummary(criterion=criterion, threshold=threshold, volume_ml=zone.volume_ml, axes_mm=zone.axes_mm,
                       coverage_pct=margin.coverage_pct, margin=summary), margin


def _measure_zone_size(plan: PlanResult, criterion: ZoneCriterion, fields: ZoneFields,
                       axis: np.ndarray | None) -> ZoneSummary:
    """Volume and axes of another criterion's zone, at its default threshold."""
    zone = zone_metrics_from_field(criterion.dose_field(fields), criterion.threshold, plan.grid, probe_axis=axis)
    return ZoneSummary(criterion=criterion, threshold=criterion.threshold, volume_ml=zone.volume_ml,
                       axes_mm=zone.axes_mm)


def _judge_coverage(plan: PlanResult, margin: MarginMetrics, margin_target_mm: float) -> Debulking:
    """The debulking rule on the coverage; warnings for incomplete coverage and a thin margin."""
    coverage = margin.coverage_pct or 0.0
    if coverage < COMPLETE_COVERAGE_PCT:
        verdict = "meets" if coverage > PALLIATIVE_COVERAGE_PCT else "does not meet"
        plan.warnings.append(
            f"the zone covers {coverage:.1f} % of the tumor: incomplete ablation; {verdict} the "
            f"> {PALLIATIVE_COVERAGE_PCT:g} % palliative debulking threshold"
        )
    if not margin.ok:
        shown = "n/a" if margin.min_mm is None else f"{margin.min_mm:.1f} mm"
        plan.warnings.append(f"safety margin {shown} is below the {margin_target_mm:g} mm target")
    return Debulking(
        complete_coverage=bool(coverage >= COMPLETE_COVERAGE_PCT), destroyed_pct=coverage,
        more_than_90_pct_destroyed=bool(coverage > PALLIATIVE_COVERAGE_PCT), rule=DEBULKING_RULE,
    )


def _generator_summary(simulation: Any, generator: Any, generator_table: dict[str, Any]) -> GeneratorSummary:
    series = simulation.timeseries.as_arrays()
    duration = float(series["t_s"][-1]) if series["t_s"].size else 0.0
    energy = float(simulation.energy.electrical_j)
    impedance = series["impedance_ohm"][np.isfinite(series["impedance_ohm"])]
    return GeneratorSummary(
        mode=str(generator.mode if hasattr(generator, "mode") else generator_table.get("mode")),
        energy_j=energy,
        mean_power_w=energy / duration if duration > 0 else 0.0,
        rolloffs=int(simulation.rolloffs),
        final_impedance_ohm=float(impedance[-1]) if impedance.size else float("nan"),
        duration_s=duration,
        protocol=dict(generator_table),
    )


def _energy_summary(balance: Any) -> EnergyBalanceSummary:
    return EnergyBalanceSummary(
        electrical_j=float(balance.electrical_j), stored_j=float(balance.stored_j),
        perfusion_j=float(balance.perfusion_j),
        boundary_and_sinks_j=float(balance.fixed_sink_j + balance.deposited_in_fixed_j),
        residual_j=float(balance.residual_j),
    )


def _run_summary(plan: PlanResult, wall_seconds: float) -> RunSummary:
    grid, simulation = plan.grid, plan.simulation
    return RunSummary(
        rfasim_version=rfasim.__version__, wall_s=float(wall_seconds), grid_shape=tuple(grid.shape),
        spacing_mm=grid.spacing_mm, simulated=True,
        origin_mm=tuple(float(v) for v in grid.origin_mm),  # type: ignore[arg-type]
        heat_steps=int(simulation.heat_steps), time_step_s=float(simulation.time_step_s),
        electric_solves=int(simulation.electric_solves), electric_s=float(simulation.electric_seconds),
    )
