"""Measurements of a simulated plan: zone, coverage, margin, heat sinks -> ``metrics.json``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rfasim.metrics import (
    heat_sink_warnings,
    margin_metrics,
    zone_metrics_from_field,
)
from rfasim.plan.result import PlanResult
from rfasim.tissue import TissueClass

DEBULKING_THRESHOLD_PCT = 90.0


def _rounded(values: Any, digits: int = 2) -> Any:
    if values is None:
        return None
    if isinstance(values, (list, tuple, np.ndarray)):
        return [_rounded(v, digits) for v in values]
    value = float(values)
    return round(value, digits) if math.isfinite(value) else None


def _probe_axis(plan: PlanResult) -> np.ndarray | None:
    if not plan.placements:
        return None
    direction = np.asarray(plan.placements[0].geometry().direction, dtype=float)
    return direction / np.linalg.norm(direction)


def measure_plan(plan: PlanResult, case: Any, zone_field: np.ndarray, criterion_text: str, generator: Any,
                 generator_table: dict[str, Any], wall_seconds: float) -> None:
    """Fill ``plan.metrics`` and ``plan.margin_surface`` from the simulated fields."""
    grid = plan.grid
    metrics = plan.metrics
    simulation = plan.simulation
    axis = _probe_axis(plan)
    threshold = case.zone_threshold_c if case.zone_criterion == "isotherm" else (
        1.0 if case.zone_criterion == "arrhenius" else 240.0
    )
    # Sub-voxel measures from the continuous fields (the zone boundary interpolated between
    # voxel centres), consistent with the sub-voxel coverage and margins below; the zone masks
    # written to zone.nii.gz are the voxel-level view of the same zone.
    zone = zone_metrics_from_field(zone_field, threshold, grid, probe_axis=axis)
    arrhenius = zone_metrics_from_field(plan.damage, 1.0, grid, probe_axis=axis)
    margin = margin_metrics(
        plan.target_mask, grid, zone_mask=plan.zone_mask, zone_field=zone_field, zone_threshold=threshold,
        target_mm=case.margin_target_mm,
    )
    plan.margin_surface = margin.surface
    metrics["tumor"]["coverage_pct"] = _rounded(margin.coverage_pct)
    metrics["zone"] = {
        "criterion": criterion_text,
        "threshold_c": case.zone_threshold_c if case.zone_criterion == "isotherm" else None,
        "volume_ml": _rounded(zone.volume_ml, 3),
        "axes_mm": _rounded(zone.axes_mm),
    }
    metrics["zone_arrhenius"] = {"volume_ml": _rounded(arrhenius.volume_ml, 3), "axes_mm": _rounded(arrhenius.axes_mm)}
    metrics["margin"] = {
        "min_mm": _rounded(margin.min_mm),
        "target_mm": float(case.margin_target_mm),
        "surface_pct_at_target": _rounded(margin.surface_pct_at_target),
        "surface_pct_at_10mm": _rounded(margin.surface_pct_at_10mm),
        "ok": bool(margin.ok),
        "thinnest_at_mm": _rounded(margin.thinnest_at_mm),
        "percentiles_mm": {str(k): _rounded(v) for k, v in dict(margin.percentiles_mm).items()}
        if margin.percentiles_mm is not None else None,
    }
    coverage = margin.coverage_pct or 0.0
    metrics["debulking"] = {
        "complete_coverage": bool(coverage >= 99.95),
        "destroyed_pct": _rounded(coverage),
        "more_than_90_pct_destroyed": bool(coverage > DEBULKING_THRESHOLD_PCT),
        "rule": "palliative (debulking) treatment only when more than 90 % of the tumor tissue can be destroyed",
    }
    warnings = plan.warnings
    if coverage < 99.95:
        verdict = "meets" if coverage > DEBULKING_THRESHOLD_PCT else "does not meet"
        warnings.append(
            f"the zone covers {coverage:.1f} % of the tumor: incomplete ablation; {verdict} the "
            f"> {DEBULKING_THRESHOLD_PCT:g} % palliative debulking threshold"
        )
    if not margin.ok:
        shown = "n/a" if margin.min_mm is None else f"{margin.min_mm:.1f} mm"
        warnings.append(f"safety margin {shown} is below the {case.margin_target_mm:g} mm target")
    vessels = heat_sink_warnings(
        plan.tissue_classes == TissueClass.VESSEL, plan.zone_mask, grid, distance_mm=10.0, probe_axis=axis,
    )
    metrics["heat_sink"] = [
        {
            "calibre_mm": _rounded(v.calibre_mm),
            "distance_mm": _rounded(v.distance_mm),
            "closest_point_mm": _rounded(v.closest_point_mm),
            "indentation_mm": _rounded(v.indentation_mm),
        }
        for v in vessels
    ]
    warnings += [v.warning for v in vessels]
    series = simulation.timeseries.as_arrays()
    duration = float(series["t_s"][-1]) if series["t_s"].size else 0.0
    energy = float(simulation.energy.electrical_j)
    impedance = series["impedance_ohm"][np.isfinite(series["impedance_ohm"])]
    metrics["generator"] = {
        "mode": str(generator.mode if hasattr(generator, "mode") else generator_table.get("mode")),
        "energy_j": _rounded(energy, 1),
        "mean_power_w": _rounded(energy / duration if duration > 0 else 0.0),
        "rolloffs": int(simulation.rolloffs),
        "final_impedance_ohm": _rounded(impedance[-1] if impedance.size else float("nan")),
        "duration_s": _rounded(duration, 1),
        "protocol": {k: v for k, v in generator_table.items()},
    }
    metrics["peak_temperature_c"] = _rounded(float(plan.peak_temperature_c.max()))
    balance = simulation.energy
    metrics["energy_balance"] = {
        "electrical_j": _rounded(balance.electrical_j, 1),
        "stored_j": _rounded(balance.stored_j, 1),
        "perfusion_j": _rounded(balance.perfusion_j, 1),
        "boundary_and_sinks_j": _rounded(balance.fixed_sink_j + balance.deposited_in_fixed_j, 1),
        "residual_j": _rounded(balance.residual_j, 6),
    }
    metrics["warnings"] = list(warnings)
    metrics["run"] = {
        "wall_s": round(wall_seconds, 3),
        "grid_shape": list(grid.shape),
        "spacing_mm": grid.spacing_mm,
        "origin_mm": _rounded(list(grid.origin_mm), 3),
        "heat_steps": int(simulation.heat_steps),
        "time_step_s": _rounded(simulation.time_step_s, 4),
        "electric_solves": int(simulation.electric_solves),
        "electric_s": _rounded(simulation.electric_seconds, 3),
        "simulated": True,
    }
