"""The plan folder (spec): metrics.json, timeseries.csv, NIfTI results, summary.png, scene.png.

Every file is first written into a staging folder beside the destination and then moved in
with an atomic rename, ``metrics.json`` last: a folder holding ``metrics.json`` is complete, and
an interrupted run leaves no plan that looks complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from rfasim.atomic import owner_tag, remove_stale, write_text
from rfasim.imaging import resample_to_volume, save_nifti
from rfasim.plan.result import PlanResult
from rfasim.plan.zone_file import record_zone_file_volume, zone_on_input

PLAN_FILES = (
    "timeseries.csv", "temperature_max.nii.gz", "damage.nii.gz", "zone.nii.gz", "summary.png", "scene.png",
    "generator.png", "heating.gif", "metrics.json",
)


def _to_input(plan: PlanResult, field: np.ndarray, order: int, fill: float) -> np.ndarray:
    return resample_to_volume(field, plan.grid, plan.input_shape, plan.input_affine, order=order, fill=fill)


def write_plan_folder(plan: PlanResult, out_dir: str | os.PathLike[str], body_temperature_c: float = 37.0) -> list[Path]:
    """Write the plan folder; returns the files written.

    Parameters
    ----------
    plan : PlanResult
    out_dir : path
        Destination folder (created if needed; plan files already there are replaced).
    body_temperature_c : float
        Value of ``temperature_max`` outside the simulated region (degC).
    """
    out = Path(out_dir)
    created = _missing_folders(out)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale(out)  # what a killed run left behind
    staging = Path(tempfile.mkdtemp(prefix=f".rfasim-staging.{owner_tag()}.", dir=out))
    complete = False
    try:
        written = _write_into(plan, staging, body_temperature_c)
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


def _write_into(plan: PlanResult, folder: Path, body_temperature_c: float) -> list[Path]:
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
    warnings = plan.metrics.setdefault("warnings", [])
    pictures = [("summary.png", _summary), ("scene.png", _scene), ("generator.png", _generator)]
    if plan.snapshots is not None and plan.snapshots.times_s:
        pictures.append(("heating.gif", _animation))
    for name, render in pictures:
        if name != "summary.png" and not plan.simulated:
            continue
        try:
            render(plan, folder / name)
            written.append(folder / name)
        except Exception as error:  # a picture must never sink a computed plan
            warnings.append(f"{name} not rendered: {type(error).__name__}: {error}")
    text = json.dumps(plan.metrics, indent=2, allow_nan=False) + "\n"
    write_text(folder / "metrics.json", text)
    written.append(folder / "metrics.json")
    return written


def _summary(plan: PlanResult, path: Path) -> None:
    from rfasim.viz import plot_summary

    figure = plot_summary(plan, path)
    import matplotlib.pyplot as plt

    plt.close(figure)


def _scene(plan: PlanResult, path: Path) -> None:
    from rfasim.viz import render_scene_png

    render_scene_png(plan, path)


def _generator(plan: PlanResult, path: Path) -> None:
    from rfasim.viz import plot_generator
    from rfasim.viz.thermocouple import device_thermocouple

    figure = plot_generator(plan.simulation.timeseries, path, thermocouple=device_thermocouple(plan.placements))
    import matplotlib.pyplot as plt

    plt.close(figure)


def _animation(plan: PlanResult, path: Path) -> None:
    from rfasim.viz import animate_heating

    animate_heating(plan.snapshots, plan.grid, plan=plan, path=path)


def summary_text(plan: PlanResult) -> str:
    """A short human summary: eligibility, zone, coverage, margin, generator, warnings."""
    metrics = plan.metrics
    eligibility = metrics["eligibility"]
    tumor = metrics["tumor"]
    lines = [
        f"tumor {tumor['id']}: {tumor['volume_ml']:.2f} mL, max diameter {eligibility['tumor_max_diameter_mm']:.1f} mm "
        f"-> {'eligible' if eligibility['eligible'] else 'NOT ELIGIBLE'} for RFA (limit {eligibility['limit_mm']:g} mm)",
    ]
    if plan.simulated:
        zone, margin, generator = metrics["zone"], metrics["margin"], metrics["generator"]
        axes = " x ".join(f"{a:.1f}" for a in zone["axes_mm"]) if zone["axes_mm"] else "n/a"
        minimum = "n/a" if margin["min_mm"] is None else f"{margin['min_mm']:+.1f} mm"
        lines += [
            f"zone ({zone['criterion']}): {zone['volume_ml']:.2f} mL, axes {axes} mm; "
            f"Arrhenius zone {metrics['zone_arrhenius']['volume_ml']:.2f} mL",
            f"coverage {tumor['coverage_pct']:.1f} % of the tumor; margin min {minimum} "
            f"(target {margin['target_mm']:g} mm: {'OK' if margin['ok'] else 'NOT MET'}), "
            f"{margin['surface_pct_at_target']:.0f} % of the surface at target",
            f"generator {generator['mode']}: {generator['energy_j'] / 1000:.1f} kJ, mean {generator['mean_power_w']:.0f} W, "
            f"{generator['rolloffs']} roll-offs, final impedance {generator['final_impedance_ohm']} Ohm; "
            f"peak {metrics['peak_temperature_c']:.0f} degC",
        ]
    else:
        lines.append(f"not simulated: {eligibility['reason']}")
    for warning in metrics.get("warnings", []):
        lines.append(f"warning: {warning}")
    return "\n".join(lines)
