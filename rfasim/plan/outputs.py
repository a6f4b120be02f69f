"""The plan folder (spec): metrics.json, timeseries.csv, NIfTI results, summary.png, scene.png.

Every file is first written into a staging folder beside the destination and then moved in
with an atomic rename, ``metrics.json`` last: a folder holding ``metrics.json`` is complete, and
an interrupted run leaves no plan that looks complete.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rfasim.atomic import owner_tag, remove_stale, write_text
from rfasim.imaging import resample_to_volume, save_nifti
from rfasim.plan.result import PlanResult, ZoneSummary
from rfasim.plan.uncertainty import uncertainty_json, uncertainty_line
from rfasim.plan.zone_file import record_zone_file_volume, zone_on_input

_Value = TypeVar("_Value")

PLAN_FILES = (
    "timeseries.csv", "temperature_max.nii.gz", "damage.nii.gz", "zone.nii.gz", "summary.png", "scene.png",
    "generator.png", "heating.gif", "metrics.json",
)


def _to_input(plan: PlanResult, field: np.ndarray, order: int, fill: float) -> np.ndarray:
    return resample_to_volume(field, plan.grid, plan.input_shape, plan.input_affine, order=order, fill=fill)


def write_plan_folder(plan: PlanResult, out_dir: str | os.PathLike[str], body_temperature_c: float = 37.0,
                      scene_variants: Mapping[str | os.PathLike[str], Callable[[Any], None]] | None = None,
                      ) -> list[Path]:
    """Write the plan folder; returns the files written.

    Parameters
    ----------
    plan : PlanResult
    out_dir : path
        Destination folder (created if needed; plan files already there are replaced).
    body_temperature_c : float
        Value of ``temperature_max`` outside the simulated region (degC).
    scene_variants : mapping of path to callable, optional
        Further pictures of ``scene.png``'s 3D scene, rendered from the same scene right after it
        (``variants`` of :func:`rfasim.viz.render_scene_png`); written where their paths say, not
        listed in the files returned, and missing when they could not be rendered.
    """
    out = Path(out_dir)
    created = _missing_folders(out)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale(out)  # what a killed run left behind
    staging = Path(tempfile.mkdtemp(prefix=f".rfasim-staging.{owner_tag()}.", dir=out))
    complete = False
    try:
        written = _write_into(plan, staging, body_temperature_c, scene_variants)
        # A stale metrics.json from an earlier run must not vouch for a half-replaced folder.
        (out / "metrics.json").unlink(missing_ok=True)
        for name in PLAN_FILES:
            if name == "metrics.json":
                continue
            if (staging / name).exists():
                os.replace(staging / name, out / name)
            else:
                (out / name).unlink(missing_ok=True)
        os.replace(staging / "metrics.json", out / "metrics.json")
        complete = True
        return [out / path.name for path in written]
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not complete:  # interrupted (SIGINT) or failed: leave no empty folder we made
            for folder in created:
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _missing_folders(folder: Path) -> list[Path]:
    """The folders ``folder.mkdir(parents=True)`` would create, deepest first."""
    missing = []
    current = folder.absolute()
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    return missing


def _write_into(plan: PlanResult, folder: Path, body_temperature_c: float,
                scene_variants: Mapping[str | os.PathLike[str], Callable[[Any], None]] | None = None) -> list[Path]:
    written: list[Path] = []
    if plan.simulated:
        affine = plan.input_affine
        peak = _to_input(plan, plan.peak_temperature_c, 1, body_temperature_c).astype(np.float32)
        damage = _to_input(plan, plan.damage, 1, 0.0).astype(np.float32)
        zone = zone_on_input(plan, peak, damage, _to_input)  # = thresholding the written field
        record_zone_file_volume(plan, zone)
        for name, data in (("temperature_max.nii.gz", peak), ("damage.nii.gz", damage), ("zone.nii.gz", zone)):
            save_nifti(folder / name, data, affine)
            written.append(folder / name)
        write_text(folder / "timeseries.csv", plan.simulation.timeseries.to_csv())
        written.append(folder / "timeseries.csv")
    pictures = [("summary.png", _summary), ("scene.png", functools.partial(_scene, variants=scene_variants)),
                ("generator.png", _generator)]
    if plan.snapshots is not None and plan.snapshots.times_s:
        pictures.append(("heating.gif", _animation))
    for name, render in pictures:
        if name != "summary.png" and not plan.simulated:
            continue
        try:
            render(plan, folder / name)
            written.append(folder / name)
        except Exception as error:  # a picture must never sink a computed plan
            plan.warnings.append(f"{name} not rendered: {type(error).__name__}: {error}")
    text = json.dumps(metrics_document(plan), indent=2, allow_nan=False) + "\n"
    write_text(folder / "metrics.json", text)
    written.append(folder / "metrics.json")
    return written


def _summary(plan: PlanResult, path: Path) -> None:
    from rfasim.viz import plot_summary

    figure = plot_summary(plan, path)
    import matplotlib.pyplot as plt

    plt.close(figure)


def _scene(plan: PlanResult, path: Path,
           variants: Mapping[str | os.PathLike[str], Callable[[Any], None]] | None = None) -> None:
    from rfasim.viz import render_scene_png

    render_scene_png(plan, path, variants=variants)


def _generator(plan: PlanResult, path: Path) -> None:
    from rfasim.viz import plot_generator
    from rfasim.viz.thermocouple import device_thermocouple

    figure = plot_generator(plan.simulation.timeseries, path, thermocouple=device_thermocouple(plan.placements))
    import matplotlib.pyplot as plt

    plt.close(figure)


def _animation(plan: PlanResult, path: Path) -> None:
    from rfasim.viz import animate_heating

    animate_heating(plan.snapshots, plan.grid, plan=plan, path=path)


def _rounded(values: Any, digits: int = 2) -> Any:
    """Numbers (or nested sequences of them) rounded for JSON; None for None and non-finite."""
    if values is None:
        return None
    if isinstance(values, (list, tuple, np.ndarray)):
        return [_rounded(v, digits) for v in values]
    value = float(values)
    return round(value, digits) if math.isfinite(value) else None


def metrics_document(plan: PlanResult) -> dict[str, Any]:
    """The content of ``metrics.json`` (the keys of ``../shared/spec.md`` and more), from the plan's summaries.

    Numbers are rounded here and only here; a refused plan holds ``rfasim_version``,
    ``eligibility``, ``tumor``, ``tumors_in_image``, ``warnings`` and ``run``.
    """
    document: dict[str, Any] = {
        "rfasim_version": plan.run.rfasim_version if plan.run is not None else None,
        "eligibility": _eligibility_json(plan),
        "tumor": _tumor_json(plan),
        "tumors_in_image": plan.tumors_in_image,
    }
    if plan.zone is not None:
        document.update(_simulated_json(plan, plan.zone))
    else:
        document["other_tumors"] = [_other_tumor_json(t) for t in plan.other_tumors]
    document.update(_checks_json(plan))
    document["warnings"] = list(plan.warnings)
    document["run"] = _run_json(plan)
    return document


def _eligibility_json(plan: PlanResult) -> dict[str, Any] | None:
    verdict = plan.eligibility
    if verdict is None:
        return None
    return {"eligible": bool(verdict.eligible), "tumor_max_diameter_mm": verdict.tumor_max_diameter_mm,
            "limit_mm": verdict.limit_mm, "reason": verdict.reason}


def _tumor_json(plan: PlanResult) -> dict[str, Any] | None:
    tumor = plan.tumor
    if tumor is None:
        return None
    return {
        "id": int(tumor.tumor_id),
        "volume_ml": round(float(tumor.volume_ml), 4),
        "centroid_mm": [round(float(v), 2) for v in tumor.centroid_mm],
        "max_diameter_mm": round(float(tumor.max_diameter_mm), 2),
        "coverage_pct": _rounded(plan.zone.coverage_pct) if plan.zone is not None else None,
    }


def _zone_size_json(zone: ZoneSummary) -> dict[str, Any]:
    return {"volume_ml": _rounded(zone.volume_ml, 3), "axes_mm": _rounded(zone.axes_mm)}


def _margin_json(zone: ZoneSummary) -> dict[str, Any] | None:
    margin = zone.margin
    if margin is None:
        return None
    return {
        "min_mm": _rounded(margin.min_mm),
        "target_mm": float(margin.target_mm),
        "surface_pct_at_target": _rounded(margin.surface_pct_at_target),
        "surface_pct_at_10mm": _rounded(margin.surface_pct_at_10mm),
        "ok": bool(margin.ok),
        "thinnest_at_mm": _rounded(margin.thinnest_at_mm),
        "percentiles_mm": {str(k): _rounded(v) for k, v in margin.percentiles_mm.items()}
        if margin.percentiles_mm is not None else None,
    }


def _simulated_json(plan: PlanResult, zone: ZoneSummary) -> dict[str, Any]:
    """The keys a simulated plan adds, in their ``metrics.json`` order."""
    debulking, generator, balance = plan.debulking, plan.generator, plan.energy_balance
    uncertainty = uncertainty_json(plan.model_uncertainty)
    return {
        "zone": {"criterion": zone.description, "threshold_c": zone.threshold_c, **_zone_size_json(zone),
                 **({} if plan.zone_file_volume_ml is None else {"zone_file_volume_ml": _rounded(plan.zone_file_volume_ml, 3)}),
                 "out_of_sample_error": uncertainty},
        "zone_arrhenius": None if plan.arrhenius_zone is None else {
            **_zone_size_json(plan.arrhenius_zone), "out_of_sample_error": uncertainty},
        "margin": _margin_json(zone),
        "debulking": None if debulking is None else {
            "complete_coverage": bool(debulking.complete_coverage),
            "destroyed_pct": _rounded(debulking.destroyed_pct),
            "more_than_90_pct_destroyed": bool(debulking.more_than_90_pct_destroyed),
            "rule": debulking.rule,
        },
        "heat_sink": [
            {"calibre_mm": _rounded(v.calibre_mm), "distance_mm": _rounded(v.distance_mm),
             "closest_point_mm": _rounded(v.closest_point_mm), "indentation_mm": _rounded(v.indentation_mm)}
            for v in plan.heat_sinks
        ],
        "other_tumors": [_other_tumor_json(t) for t in plan.other_tumors],
        "generator": None if generator is None else {
            "mode": generator.mode,
            "energy_j": _rounded(generator.energy_j, 1),
            "mean_power_w": _rounded(generator.mean_power_w),
            "rolloffs": int(generator.rolloffs),
            "final_impedance_ohm": _rounded(generator.final_impedance_ohm),
            "duration_s": _rounded(generator.duration_s, 1),
            "protocol": dict(generator.protocol),
        },
        "peak_temperature_c": _rounded(plan.peak_temperature_max_c),
        "energy_balance": None if balance is None else {
            "electrical_j": _rounded(balance.electrical_j, 1),
            "stored_j": _rounded(balance.stored_j, 1),
            "perfusion_j": _rounded(balance.perfusion_j, 1),
            "boundary_and_sinks_j": _rounded(balance.boundary_and_sinks_j, 1),
            "residual_j": _rounded(balance.residual_j, 6),
        },
    }


def _other_tumor_json(finding: Any) -> dict[str, Any]:
    """One ``other_tumors`` entry: the tumor's id and size (when known) and its distance to the zone."""
    entry: dict[str, Any] = {}
    if finding.tumor_id is not None:
        entry = {
            "id": int(finding.tumor_id), "volume_ml": _rounded(finding.volume_ml, 3),
            "max_diameter_mm": _rounded(finding.max_diameter_mm, 1), "centroid_mm": _rounded(finding.centroid_mm, 1),
            "eligible": finding.eligible, "inside_simulated_region": finding.inside_simulated_region,
        }
    entry["distance_to_zone_mm"] = _rounded(finding.distance_to_zone_mm)
    return entry


def _checks_json(plan: PlanResult) -> dict[str, Any]:
    """The checks of issue 15: unlabelled body tissue, the whole needle paths, the simulation box."""
    document: dict[str, Any] = {}
    if plan.unlabelled_tissue is not None:
        document["unlabelled_tissue"] = plan.unlabelled_tissue.as_metrics()
    document["needle_paths"] = list(plan.needle_paths)
    if plan.domain is not None:
        document["domain"] = plan.domain
    return document


def _run_json(plan: PlanResult) -> dict[str, Any] | None:
    run = plan.run
    if run is None:
        return None
    document: dict[str, Any] = {"wall_s": round(run.wall_s, 3), "grid_shape": list(run.grid_shape),
                                "spacing_mm": run.spacing_mm}
    if run.simulated:
        document.update({
            "origin_mm": _rounded(run.origin_mm, 3),
            "heat_steps": run.heat_steps,
            "time_step_s": _rounded(run.time_step_s, 4),
            "electric_solves": run.electric_solves,
            "electric_s": _rounded(run.electric_s, 3),
        })
    document["simulated"] = bool(run.simulated)
    return document


def _required(value: _Value | None, what: str) -> _Value:
    """``value``, which a computed plan always has (``what`` names it otherwise)."""
    if value is None:
        raise ValueError(f"the plan has no {what}: it was not computed by rfasim.plan.pipeline.run_case")
    return value


def summary_text(plan: PlanResult) -> str:
    """A short human summary: eligibility, zone, coverage, margin, generator, warnings."""
    eligibility, tumor = _required(plan.eligibility, "eligibility"), _required(plan.tumor, "tumor")
    lines = [
        f"tumor {tumor.tumor_id}: {round(tumor.volume_ml, 4):.2f} mL, max diameter "
        f"{eligibility.tumor_max_diameter_mm:.1f} mm "
        f"-> {'eligible' if eligibility.eligible else 'NOT ELIGIBLE'} for RFA (limit {eligibility.limit_mm:g} mm)",
    ]
    if plan.simulated:
        lines += _simulated_lines(plan)
    else:
        lines.append(f"not simulated: {eligibility.reason}")
    for warning in plan.warnings:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def _simulated_lines(plan: PlanResult) -> list[str]:
    """The zone, coverage and generator lines of :func:`summary_text` (figures as ``metrics.json`` rounds them)."""
    zone = _required(plan.zone, "zone")
    margin, generator = _required(zone.margin, "margin"), _required(plan.generator, "generator")
    arrhenius_zone = _required(plan.arrhenius_zone, "Arrhenius zone")
    axes_mm = _rounded(zone.axes_mm)
    axes = " x ".join(f"{a:.1f}" for a in axes_mm) if axes_mm else "n/a"
    min_mm = _rounded(margin.min_mm)
    minimum = "n/a" if min_mm is None else f"{min_mm:+.1f} mm"
    return [
        f"zone ({zone.description}): {_rounded(zone.volume_ml, 3):.2f} mL, axes {axes} mm; "
        f"Arrhenius zone {_rounded(arrhenius_zone.volume_ml, 3):.2f} mL",
        f"coverage {_rounded(zone.coverage_pct):.1f} % of the tumor; margin min {minimum} "
        f"(target {margin.target_mm:g} mm: {'OK' if margin.ok else 'NOT MET'}), "
        f"{_rounded(margin.surface_pct_at_target):.0f} % of the surface at target",
        f"generator {generator.mode}: {_rounded(generator.energy_j, 1) / 1000:.1f} kJ, "
        f"mean {_rounded(generator.mean_power_w):.0f} W, "
        f"{generator.rolloffs} roll-offs, final impedance {_rounded(generator.final_impedance_ohm)} Ohm; "
        f"peak {_rounded(plan.peak_temperature_max_c):.0f} degC",
        uncertainty_line(plan.model_uncertainty),
    ]
