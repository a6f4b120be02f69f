"""The assessment, start to end: read, check, register, check the fusion, map, measure, compare.

Every refusal happens before anything is written: :func:`assess_ablation` returns an
:class:`AssessmentResult` in memory, and :func:`rfasim.assess.outputs.write_assessment_folder`
writes it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rfasim.assess.comparison import PlanComparison, compare_with_plan, load_plan_folder
from rfasim.assess.context import margin_context
from rfasim.assess.inputs import AssessmentInputs, load_inputs
from rfasim.assess.mapping import (
    mask_corners_mm,
    measurement_grid,
    tumor_on_grid,
    zone_field_on,
)
from rfasim.assess.measurement import MarginAssessment, measure_margin
from rfasim.assess.quality import (
    InconsistentImagesError,
    QualityReport,
    QualityThresholds,
    check_overlap,
    check_registration,
)
from rfasim.assess.registration import RegistrationResult, RegistrationSettings, register
from rfasim.errors import InputError
from rfasim.grid import Grid

#: Coverage (percent of the tumor volume) reported as complete.
COMPLETE_COVERAGE_PCT = 99.95


@dataclass
class AssessmentResult:
    """A post-ablation assessment, in memory.

    Attributes
    ----------
    inputs : AssessmentInputs
    registration : RegistrationResult
    quality : QualityReport
    grid : Grid
        The measurement grid (pre-ablation space).
    tumor : ndarray of bool
        The tumor on ``grid``.
    zone_field : ndarray of float
        The mapped zone (0 to 1) on ``grid``; the zone is ``>= 0.5``.
    margin : MarginAssessment
    comparison : PlanComparison or None
    warnings : list of str
    report : dict
        The content of ``assessment.json``.
    """

    inputs: AssessmentInputs
    registration: RegistrationResult
    quality: QualityReport
    grid: Grid
    tumor: np.ndarray
    zone_field: np.ndarray
    margin: MarginAssessment
    comparison: PlanComparison | None = None
    warnings: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def zone(self) -> np.ndarray:
        """The achieved zone on the measurement grid (bool)."""
        return self.zone_field >= 0.5


def _refuse_if_zone_misses(inputs: AssessmentInputs, margin: MarginAssessment) -> None:
    metrics = margin.metrics
    if metrics.coverage_pct > 0.0:
        return
    if metrics.min_mm is None:
        raise InconsistentImagesError(
            f"{inputs.paths['zone']}: after registration the ablation zone lies outside the "
            "measured region around the tumor (it misses the tumor entirely); no margin reported"
        )
    raise InconsistentImagesError(
        f"{inputs.paths['zone']}: after registration the ablation zone misses the tumor entirely "
        f"(nearest {-metrics.min_mm:.1f} mm apart): wrong segmentation, wrong tumor or failed "
        "registration; no margin reported"
    )


def _rounded(value: Any, digits: int = 3) -> Any:
    """Round floats (recursively) and turn non-finite ones into None, for JSON."""
    if isinstance(value, dict):
        return {key: _rounded(item, digits) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(item, digits) for item in value]
    if isinstance(value, (float, np.floating)):
        return round(float(value), digits) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _warnings(result: AssessmentResult, target_mm: float) -> list[str]:
    warnings = list(result.quality.warnings)
    metrics = result.margin.metrics
    if metrics.coverage_pct < COMPLETE_COVERAGE_PCT:
        warnings.append(
            f"the ablation zone covers {metrics.coverage_pct:.1f} % of the tumor: incomplete "
            "ablation (residual tumor at the uncovered surface)"
        )
    elif not metrics.ok:
        warnings.append(
            f"minimal margin {metrics.min_mm:.1f} mm is below the {target_mm:g} mm target "
            f"({result.margin.thinnest_direction} side of the tumor)"
        )
    zone = result.inputs.zone_mask
    edge = np.zeros_like(zone)
    edge[[0, -1], :, :] = edge[:, [0, -1], :] = edge[:, :, [0, -1]] = True
    if np.any(zone & edge):
        warnings.append(
            "the ablation-zone segmentation touches the edge of the post-ablation scan: the zone "
            "may continue beyond it"
        )
    return warnings


def build_report(result: AssessmentResult, target_mm: float, wall_s: float) -> dict[str, Any]:
    """The content of ``assessment.json`` (see ``docs/assess.md`` for every key).

    Parameters
    ----------
    result : AssessmentResult
        The assessment (its measurements, registration and checks).
    target_mm : float
        The margin target (mm).
    wall_s : float
        Wall time of the assessment (s).

    Returns
    -------
    dict
        JSON-ready content: floats rounded, non-finite ones None (distances in mm, volumes in mL).
    """
    from rfasim import __version__

    inputs = result.inputs
    tumor = inputs.tumor
    centroid = result.margin.tumor_centroid_mm
    margin = result.margin.to_dict()
    report: dict[str, Any] = {
        "rfasim_version": __version__,
        "space": "pre-ablation scan, world RAS+ mm (NIfTI / 3D Slicer convention)",
        "inputs": dict(inputs.paths),
        "tumor": {
            "id": tumor.id,
            "volume_ml": result.margin.tumor_volume_ml,
            "centroid_mm": centroid.tolist(),
            "max_diameter_mm": tumor.max_diameter_mm,
        },
        "zone": {
            "volume_in_post_ml": float(inputs.zone_mask.sum()) * inputs.post.voxel_volume_ml,
            "volume_in_pre_ml": result.margin.zone_volume_ml,
        },
        "margin": margin,
        "complete_coverage": bool(result.margin.metrics.coverage_pct >= COMPLETE_COVERAGE_PCT),
        "context": margin_context(result.margin.metrics.min_mm),
        "registration": result.registration.summary(centroid),
        "quality": result.quality.to_dict(),
        "comparison": None if result.comparison is None else result.comparison.to_dict(),
        "warnings": list(result.warnings),
        "run": {
            "measurement_grid_shape": list(result.grid.shape),
            "measurement_spacing_mm": result.grid.spacing_mm,
            "measurement_origin_mm": list(result.grid.origin_mm),
            "target_mm": float(target_mm),
            "wall_s": wall_s,
        },
    }
    matrix = report["registration"].pop("rigid_matrix_ras")
    report = _rounded(report)
    report["registration"]["rigid_matrix_ras"] = _rounded(matrix, 7)  # 1e-7 of 100 mm: 10 nm
    return report


def assess_ablation(
    pre: str | os.PathLike[str],
    post: str | os.PathLike[str],
    tumor: str | os.PathLike[str],
    zone: str | os.PathLike[str],
    *,
    plan: str | os.PathLike[str] | None = None,
    deformable: bool = False,
    tumor_id: int | None = None,
    tumor_code: int | None = None,
    zone_code: int | None = None,
    post_liver: str | os.PathLike[str] | None = None,
    target_mm: float = 5.0,
    spacing_mm: float | None = None,
    metric: str = "mutual_information",
    settings: RegistrationSettings | None = None,
    thresholds: QualityThresholds | None = None,
) -> AssessmentResult:
    """Assess an ablation: fuse the post-ablation scan onto the pre-ablation one and measure.

    Parameters
    ----------
    pre, post : path
        Pre- and post-ablation CT (NIfTI file or DICOM series folder).
    tumor : path
        Tumor segmentation of the pre-ablation CT (NIfTI, DICOM series or DICOM-SEG).
    zone : path
        Ablation-zone segmentation of the post-ablation CT.
    plan : path, optional
        A plan folder (``zone.nii.gz``, ``metrics.json``): predicted versus achieved zone.
    deformable : bool
        Add a B-spline step after the rigid registration.
    tumor_id, tumor_code, zone_code : int, optional
        Which tumor, and the label codes (see :func:`rfasim.assess.inputs.load_inputs`).
    post_liver : path, optional
        Liver segmentation of the post-ablation CT, for the quality check.
    target_mm : float
        Required margin (mm).
    spacing_mm : float, optional
        Voxel size of the measurement grid (default: the finer scan's, 0.5 to 2 mm).
    metric : {"mutual_information", "mean_squares"}
        Registration metric (ignored when ``settings`` is given).
    settings : RegistrationSettings, optional
    thresholds : QualityThresholds, optional

    Returns
    -------
    AssessmentResult

    Raises
    ------
    InputError
        Bad input (file, label, plan folder), or an :class:`InconsistentImagesError` when the
        fused images disagree or the zone misses the tumor.

    Examples
    --------
    >>> result = assess_ablation("pre.nii.gz", "post.nii.gz", "labels.nii.gz", "zone.nii.gz")  # doctest: +SKIP
    >>> result.margin.metrics.min_mm  # doctest: +SKIP
    4.6
    """
    start = time.perf_counter()
    if not np.isfinite(target_mm):
        raise InputError(f"target margin must be finite, got {target_mm!r}")
    settings = settings or RegistrationSettings(deformable=deformable, metric=metric)
    inputs = load_inputs(
        pre, post, tumor, zone,
        tumor_id=tumor_id, tumor_code=tumor_code, zone_code=zone_code, post_liver_path=post_liver,
    )
    plan_folder = load_plan_folder(plan) if plan is not None else None
    check_overlap(inputs)
    registration = register(
        inputs.pre,
        inputs.post,
        inputs.tumor_mask,
        inputs.zone_mask,
        inputs.liver_mask,
        np.asarray(inputs.tumor.centroid_mm, dtype=float),
        settings,
    )
    quality = check_registration(inputs, registration, thresholds)
    grid = measurement_grid(inputs, registration, spacing_mm)
    tumor_grid = tumor_on_grid(inputs, grid)
    zone_field = zone_field_on(inputs, registration, grid.shape, grid.affine)
    margin = measure_margin(tumor_grid, zone_field, grid, inputs.pre.affine, target_mm)
    _refuse_if_zone_misses(inputs, margin)
    result = AssessmentResult(
        inputs=inputs,
        registration=registration,
        quality=quality,
        grid=grid,
        tumor=tumor_grid,
        zone_field=zone_field,
        margin=margin,
    )
    if plan_folder is not None:
        zone_corners = mask_corners_mm(result.zone, grid.affine)

        def achieved_on(target: Grid) -> np.ndarray:
            return zone_field_on(inputs, registration, target.shape, target.affine) >= 0.5

        # Compare at the finer of the measurement grid and the plan's zone file.
        plan_spacing = float(plan_folder.zone.spacing_mm.min())
        spacing = max(0.5, min(grid.spacing_mm, plan_spacing))
        result.comparison = compare_with_plan(
            plan_folder, zone_corners, achieved_on, inputs.pre, spacing
        )
    result.warnings = _warnings(result, target_mm)
    result.report = build_report(result, target_mm, time.perf_counter() - start)
    return result


def summary_text(result: AssessmentResult) -> str:
    """A short human summary: coverage, margin, where the thinnest spot is, checks, warnings.

    Parameters
    ----------
    result : AssessmentResult
        A finished assessment (its ``report`` is read).

    Returns
    -------
    str
        Several lines, without a trailing newline; volumes in mL, distances in mm.
    """
    report = result.report
    margin = report["margin"]
    lines = [
        f"tumor {report['tumor']['id']}: {report['tumor']['volume_ml']:.2f} mL; achieved zone "
        f"{report['zone']['volume_in_pre_ml']:.2f} mL ({report['registration']['method']} fusion)",
        f"coverage {margin['coverage_pct']:.1f} %; minimal margin "
        + ("n/a" if margin["min_mm"] is None else f"{margin['min_mm']:+.1f} mm")
        + f" (target {margin['target_mm']:g} mm: {'met' if margin['ok'] else 'NOT MET'}), "
        f"thinnest on the {margin['thinnest_direction']} side at "
        + ", ".join(f"{v:.1f}" for v in margin["thinnest_at_mm"] or [])
        + " mm",
        "margin over the tumor surface: "
        + ", ".join(f"{band['band']}: {band['surface_pct']:.0f} %" for band in margin["distribution"]),
        result.quality.summary_line(),
    ]
    comparison = report.get("comparison")
    if comparison:
        lines.append(
            f"predicted vs achieved zone: Dice {comparison['dice']:.3f}, mean surface distance "
            f"{comparison['mean_surface_distance_mm']:.2f} mm, HD95 {comparison['hd95_mm']:.2f} mm, "
            f"volume {comparison['volume_difference_ml']:+.2f} mL "
            f"({comparison['volume_difference_pct']:+.1f} %)"
        )
    lines.append(f"context ({report['context']['note']}):")
    lines += [f"  {statement}" for statement in report["context"]["statements"]]
    lines += [f"warning: {warning}" for warning in report["warnings"]]
    return "\n".join(lines)
