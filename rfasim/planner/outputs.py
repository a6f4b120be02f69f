"""What ``rfasim plan --auto`` writes: the plan folder of the verified plan, and beside it

- ``plan.toml``: the proposed case file (written with ``tomli_w``), runnable as it is with
  ``rfasim plan``: the input case's images, labels, target, criterion, margin target and tissue,
  with the proposed probes (tips and skin entries) and protocol; its grid spacing is the input
  case's (the planning resolution), not the search's;
- ``planner.json``: the search (every device and probe count tried), the fast estimate and the
  verified result per criterion and how far they differ, the zone model's calibration figures,
  the verdict lines and the timings;
- ``trajectories.png``: each probe's trajectory on the CT, a slice along the probe from the skin
  entry to the tip, with the tumor, the vessels, the verified zone and the entry marked;
- ``scene_entries.png``: the 3D scene (``rfasim.viz``) with the full trajectories and the skin
  entries, when 3D rendering is available.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from rfasim.atomic import atomic_path, write_text
from rfasim.planner.automatic import AutomaticPlan
from rfasim.planner.search import Candidate
from rfasim.planner.verdict import outcome, verdict_lines
from rfasim.planner.verify import candidate_case


def _relative(path: Path, folder: Path) -> str:
    return os.path.relpath(Path(path).resolve(), Path(folder).resolve())


def plan_toml_table(plan: AutomaticPlan, folder: Path) -> dict[str, Any]:
    """The ``plan.toml`` content as a table (paths relative to ``folder``)."""
    case = plan.case
    candidate = plan.chosen.candidate if plan.chosen is not None else None
    images: dict[str, Any] = {"labels": _relative(case.labels_path, folder)}
    if case.ct_path is not None:
        images["ct"] = _relative(case.ct_path, folder)
    table: dict[str, Any] = {"images": images}
    if case.labels_table:
        table["labels"] = dict(case.labels_table)
    table["target"] = {"tumor_id": int(plan.context.target.id)}
    if candidate is not None:
        proposed = candidate_case(case, candidate)
        table["probes"] = [
            {"model": spec.model, "tip_mm": list(spec.tip_mm), "entry_mm": list(spec.entry_mm)}
            for spec in proposed.probes
        ]
        table["generator"] = dict(proposed.generator_table)
    zone: dict[str, Any] = {"criterion": case.zone_criterion}
    if case.zone_criterion == "isotherm":
        zone["threshold_c"] = float(case.zone_threshold_c)
    table["zone"] = zone
    table["grid"] = {"spacing_mm": float(case.spacing_mm), "margin_mm": float(case.roi_margin_mm)}
    table["margin"] = {"target_mm": float(case.margin_target_mm)}
    if case.tissue_table:
        table["tissue"] = dict(case.tissue_table)
    if case.options_table:
        table["options"] = dict(case.options_table)
    return table


def write_plan_toml(plan: AutomaticPlan, path: Path) -> None:
    """Write ``plan.toml`` atomically (a comment header, then the table)."""
    import tomli_w

    header = [
        "# Proposed by rfasim's automatic planner (rfasim plan --auto); run it with: rfasim plan plan.toml",
        "# The verdict of the verifying simulation is in planner.json and in the plan folder beside this file.",
    ]
    header += [f"# {line}" for line in verdict_lines(plan)[:4]]
    text = "\n".join(header) + "\n\n" + tomli_w.dumps(plan_toml_table(plan, path.parent))
    write_text(path, text)


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if isinstance(value, np.ndarray):
        return _rounded(value.tolist())
    if isinstance(value, (float, np.floating)):
        return round(float(value), 3) if math.isfinite(float(value)) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def planner_report(plan: AutomaticPlan) -> dict[str, Any]:
    """The content of ``planner.json``."""
    def candidate(c: Any) -> dict[str, Any]:
        return {
            "device": c.device, "probes": c.probe_count, "protocol": c.protocol, "geometry": c.geometry,
            "fast_coverage_of_tumor_and_margin_pct": 100 * c.coverage_target,
            "fast_coverage_of_tumor_pct": 100 * c.coverage_tumor, "healthy_liver_ml": c.healthy_liver_ml,
            "treatment_time_s": c.treatment_time_s, "trajectory_violation_mm": c.violation_mm,
            "meets_in_fast_model": c.meets, "tips_mm": c.tips_mm, "entries_mm": c.entries_mm,
            "trajectory_problems": c.reasons, "search_wall_s": c.wall_s,
        }

    report: dict[str, Any] = {
        "criterion": plan.criterion, "refused": plan.refused, "meets_target": plan.meets_target,
        "eligibility": dataclasses.asdict(plan.context.eligibility), "devices": list(plan.devices), "verdict": verdict_lines(plan),
        "notes": plan.notes, "timings_s": plan.timings_s,
        "feasibility": {name: {**verdict.as_dict(), "proven_before_search": plan.feasibility_before.get(name, False),
                               "outcome": outcome(plan, name)}
                        for name, verdict in plan.feasibility.items()},
        "search_skipped_as_unreachable": plan.skipped_search,
        "search": [
            {"tried": [candidate(c) for c in r.tried], "wall_s": r.wall_s, "no_safe_trajectory": r.no_safe_trajectory,
             "reference_axes": {k: {"direction": v["direction"], "violation_mm": v["violation_mm"]}
                                for k, v in r.reference_axes.items()}}
            for r in plan.search
        ],
        "verifications": [
            {"candidate": candidate(v.candidate),
             "verified": {k: r.as_dict() for k, r in v.verified.items()},
             "fast_estimate": {k: r.as_dict() for k, r in v.estimated.items()},
             "zone_overlap_iou": v.zone_overlap,
             "difference_fast_minus_verified": {
                 k: {"coverage_pct": v.estimated[k].coverage_pct - v.verified[k].coverage_pct,
                     "min_margin_mm": None if v.estimated[k].min_margin_mm is None or v.verified[k].min_margin_mm is None
                     else v.estimated[k].min_margin_mm - v.verified[k].min_margin_mm,
                     "zone_volume_ml": v.estimated[k].zone_volume_ml - v.verified[k].zone_volume_ml}
                 for k in v.verified}}
            for v in plan.verifications
        ],
    }
    if plan.zone_model is not None and hasattr(plan.zone_model, "describe"):
        report["zone_model"] = plan.zone_model.describe()
        # Per device, per criterion; a criterion missing was not corrected (factor 1).
        report["zone_model_rise_scale"] = {device: dict(factors) for device, factors
                                           in getattr(plan.zone_model, "rise_scale", {}).items()}
    return _rounded(report)


def plot_trajectories(plan: AutomaticPlan, path: Path) -> None:
    """``trajectories.png``: per probe, the CT (or labels) on the plane along the probe, skin to tip."""
    from matplotlib.figure import Figure
    from scipy import ndimage

    from rfasim.imaging import load_ct
    from rfasim.tissue import TissueClass

    chosen = plan.chosen
    if chosen is None:
        return
    candidate = chosen.candidate
    anatomy = plan.context.anatomy
    ct = None
    if plan.case.ct_path is not None:
        volume = load_ct(plan.case.ct_path)
        from rfasim.imaging import resample_ct

        ct = resample_ct(volume, anatomy.grid)
    count = candidate.probe_count
    columns = min(count, 3)
    rows = int(math.ceil(count / columns))
    figure = Figure(figsize=(4.6 * columns, 4.2 * rows + 0.6), facecolor="black")
    zone_peak = chosen.plan.peak_temperature_c
    threshold = 100.0 if plan.case.zone_criterion != "isotherm" else float(plan.case.zone_threshold_c)
    for number in range(count):
        axes = figure.add_subplot(rows, columns, number + 1)
        tip = candidate.tips_mm[number]
        direction = candidate.directions[number] / np.linalg.norm(candidate.directions[number])
        entry = candidate.entries_mm[number]
        length = float(np.linalg.norm(tip - entry)) if np.all(np.isfinite(entry)) else 80.0
        up = np.array([0.0, 0.0, 1.0]) - direction[2] * direction
        if np.linalg.norm(up) < 0.3:
            up = np.array([0.0, 1.0, 0.0]) - direction[1] * direction
        up /= np.linalg.norm(up)
        along = np.linspace(-15.0, length + 10.0, 220)
        across = np.linspace(-30.0, 30.0, 121)
        a, b = np.meshgrid(along, across)
        points = tip[None, None, :] - a[..., None] * direction + b[..., None] * up
        index = anatomy.grid.world_to_index(points.reshape(-1, 3)).T
        if ct is not None:
            image = ndimage.map_coordinates(ct, index, order=1, cval=-1000.0).reshape(a.shape)
            axes.imshow(image, cmap="gray", vmin=-150, vmax=250, origin="lower",
                        extent=(along[0], along[-1], across[0], across[-1]), aspect="equal")
        classes = ndimage.map_coordinates(anatomy.classes, index, order=0, cval=0).reshape(a.shape)
        extent = (along[0], along[-1], across[0], across[-1])
        for code, color in ((TissueClass.TUMOR, "#ff5050"), (TissueClass.VESSEL, "#4aa3ff"),
                            (TissueClass.FORBIDDEN, "#ffd000")):
            mask = (classes == code).astype(float)
            if mask.any():
                axes.contour(along, across, mask, levels=[0.5], colors=[color], linewidths=1.2)
        if anatomy.other_tumors.any():
            others = ndimage.map_coordinates(anatomy.other_tumors.astype(np.uint8), index, order=0).reshape(a.shape)
            if others.any():
                axes.contour(along, across, others.astype(float), levels=[0.5], colors=["#ff9cf0"], linewidths=1.0)
        plan_index = chosen.plan.grid.world_to_index(points.reshape(-1, 3)).T
        peak = ndimage.map_coordinates(zone_peak, plan_index, order=1, cval=37.0).reshape(a.shape)
        if (peak >= threshold).any():
            axes.contour(along, across, peak, levels=[threshold], colors=["#ff9d00"], linewidths=1.5)
        axes.plot([0.0, length], [0.0, 0.0], color="white", linewidth=1.6)
        active = get_active_length(candidate.device)
        axes.plot([0.0, active], [0.0, 0.0], color="#c8c8c8", linewidth=3.5)
        axes.plot([length], [0.0], marker="o", color="#00e676", markersize=7)
        axes.set_xlim(extent[1], extent[0])  # skin on the left
        axes.set_title(f"probe {number + 1}: skin entry (green) to tip, {length:.0f} mm", color="white", fontsize=9)
        axes.set_xlabel("mm from the tip along the probe", color="#b0b0b0", fontsize=8)
        axes.tick_params(colors="#b0b0b0", labelsize=7)
        axes.set_facecolor("black")
    figure.suptitle(f"{count} x {candidate.device} ({candidate.protocol}): tumor red, vessels blue, forbidden yellow, "
                    f"zone >= {threshold:g} degC orange", color="white", fontsize=9)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, facecolor="black", format="png")


def get_active_length(device: str) -> float:
    """Drawn active length (mm) of a device in the trajectory figure."""
    from rfasim.probes import get_probe_model

    model = get_probe_model(device)
    if model.kind == "multitine":
        return 0.5 * model.max_deployment_diameter_mm
    return model.active_length_mm


def add_entries(plotter: Any, candidate: Candidate) -> None:
    """Add a candidate's full trajectories (white) and skin entries (green spheres) to a 3D scene.

    Nothing is rendered: the scene is rendered once, by its screenshot.
    """
    import pyvista

    for tip, entry in zip(candidate.tips_mm, candidate.entries_mm, strict=True):
        if not np.all(np.isfinite(entry)):
            continue
        plotter.add_mesh(pyvista.Line(tuple(entry), tuple(tip)), color="white", line_width=3, render=False)
        plotter.add_mesh(pyvista.Sphere(radius=2.0, center=tuple(entry)), color="#00e676", render=False)


def render_scene_with_entries(plan: AutomaticPlan, path: Path) -> None:
    """``scene_entries.png``: the plan's 3D scene plus full trajectories and skin entries.

    :func:`write_automatic_plan` renders it from ``scene.png``'s scene (one scene built, not two)
    and calls this only when that did not write it.
    """
    from rfasim.viz import build_scene
    from rfasim.viz.rendering import rendering_backend

    rendering_backend()
    chosen = plan.chosen
    plotter = build_scene(chosen.plan, off_screen=True)
    add_entries(plotter, chosen.candidate)
    plotter.reset_camera()
    with atomic_path(path) as temporary:
        plotter.screenshot(str(temporary))
    plotter.close()


def write_automatic_plan(plan: AutomaticPlan, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the plan folder of the verified plan, ``plan.toml``, ``planner.json`` and the figures."""
    from rfasim.plan.outputs import write_plan_folder

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    warnings: list[str] = []
    if plan.chosen is not None:
        entries = out / "scene_entries.png"
        entries.unlink(missing_ok=True)  # written again below, from scene.png's scene when it renders
        candidate = plan.chosen.candidate
        written += write_plan_folder(plan.chosen.plan, out,
                                     scene_variants={entries: lambda plotter: add_entries(plotter, candidate)})
        for name, render in (("trajectories.png", plot_trajectories), ("scene_entries.png", render_scene_with_entries)):
            if name == "scene_entries.png" and entries.exists():
                written.append(entries)
                continue
            try:
                render(plan, out / name)
                written.append(out / name)
            except Exception as error:  # a picture never sinks a plan
                warnings.append(f"{name} not rendered: {type(error).__name__}: {error}")
    if plan.chosen is not None:
        write_plan_toml(plan, out / "plan.toml")
        written.append(out / "plan.toml")
    report = planner_report(plan)
    report["warnings"] = warnings
    write_text(out / "planner.json", json.dumps(report, indent=2, allow_nan=False) + "\n")
    written.append(out / "planner.json")
    return written


__all__ = ["planner_report", "plan_toml_table", "plot_trajectories", "write_automatic_plan", "write_plan_toml"]
