"""Which tumor is which: the tumors of a case's label map, before planning and in ``metrics.json``.

``rfasim tumors CASE`` (or ``rfasim plan CASE --list-tumors``) prints :func:`tumor_table` for the
case's label map: each tumor's id (1 = the largest, the numbering ``[target] tumor_id`` uses),
volume, maximum 3D diameter, centroid (world RAS mm, as 3D Slicer shows it) and its eligibility
for RFA, and marks the tumor the case targets.  A plan's ``metrics.json`` lists the tumors it
did not target under ``other_tumors`` with the same ids (:func:`other_tumor_findings`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rfasim.grid import Grid
from rfasim.imaging import LabelMapping, Tumor, find_tumors, load_labels, select_target
from rfasim.plan.eligibility import eligibility_verdict
from rfasim.tissue import TissueClass


def case_tumors(case: Any) -> tuple[list[Tumor], Tumor | None, str]:
    """The tumors of a case's label map, the one the case targets (None if it cannot say) and why.

    Parameters
    ----------
    case : rfasim.case.Case

    Returns
    -------
    tumors : list of Tumor
        Ids 1..n by decreasing volume.
    target : Tumor or None
        The case's target (by ``tumor_id``, ``point_mm`` or nearest to the first probe's tip).
    how : str
        How the target was chosen, or why it could not be (e.g. the id does not exist).
    """
    from rfasim.errors import TargetError

    labels = load_labels(case.labels_path)
    mapping = LabelMapping.from_case(case.labels_table, where=f"{case.path} [labels]")
    classes, _ = mapping.to_tissue_classes(labels.data, source=str(case.labels_path))
    tumors = find_tumors(classes == TissueClass.TUMOR, labels.affine, source=str(case.labels_path))
    nearest = None if (case.target_tumor_id or case.target_point_mm) else np.asarray(case.probes[0].tip_mm)
    if case.target_tumor_id is not None:
        how = f"tumor_id = {case.target_tumor_id}"
    elif case.target_point_mm is not None:
        how = "point_mm inside it"
    else:
        how = "nearest to probe 1's tip"
    try:
        target = select_target(tumors, tumor_id=case.target_tumor_id, point_mm=case.target_point_mm,
                               nearest_to_mm=nearest)
    except TargetError as error:
        return tumors, None, str(error)
    return tumors, target, how


def tumor_rows(tumors: Sequence[Tumor], target: Tumor | None = None,
               probe_tip_mm: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """One dict per tumor: id, volume_ml, max_diameter_mm, centroid_mm, eligible, target, distance to the tip."""
    rows = []
    for tumor in tumors:
        verdict = eligibility_verdict(tumor.max_diameter_mm)
        eligible = verdict.eligible
        row: dict[str, Any] = {
            "id": int(tumor.id),
            "volume_ml": round(float(tumor.volume_ml), 3),
            "max_diameter_mm": round(float(tumor.max_diameter_mm), 1),
            "centroid_mm": [round(float(v), 1) for v in tumor.centroid_mm],
            "eligible": bool(eligible),
            "target": target is not None and tumor.id == target.id,
        }
        if probe_tip_mm is not None:
            row["distance_to_probe_tip_mm"] = round(tumor.distance_mm(probe_tip_mm), 1)
        rows.append(row)
    return rows


def tumor_table(case: Any) -> str:
    """The text ``rfasim tumors`` prints: one line per tumor, the target marked."""
    tumors, target, how = case_tumors(case)
    rows = tumor_rows(tumors, target, case.probes[0].tip_mm if case.probes else None)
    lines = [f"{case.labels_path}: {len(rows)} tumor{'s' if len(rows) != 1 else ''}"
             " (ids by decreasing volume; world RAS mm)",
             f"{'id':>3}  {'volume mL':>9}  {'max diam mm':>11}  {'centroid (R, A, S) mm':<24}  {'RFA (<= 40 mm)':<14}"
             f"  {'tip dist mm':>11}  note"]
    for row in rows:
        centroid = "[" + ", ".join(f"{v:.1f}" for v in row["centroid_mm"]) + "]"
        note = f"target ({how})" if row["target"] else ""
        lines.append(
            f"{row['id']:>3}  {row['volume_ml']:>9.2f}  {row['max_diameter_mm']:>11.1f}  {centroid:<24}  "
            f"{'eligible' if row['eligible'] else 'NOT eligible':<14}  {row.get('distance_to_probe_tip_mm', 0.0):>11.1f}"
            f"  {note}".rstrip()
        )
    if target is None:
        lines.append(f"no target: {how}")
    return "\n".join(lines)


def other_tumor_findings(tumors: Sequence[Tumor], target: Tumor, zone_mask: np.ndarray | None, grid: Grid,
                         grid_masks: Sequence[np.ndarray] | None = None) -> list[Any]:
    """``metrics.json`` ``other_tumors``: every tumor but the target, with its id and size.

    Parameters
    ----------
    tumors : sequence of Tumor
        All tumors of the label map (:func:`rfasim.imaging.find_tumors`).
    target : Tumor
        The planned one (left out).
    zone_mask : ndarray of bool or None
        The necrosis zone on ``grid`` (None: not simulated, distances are None).
    grid : Grid
        The simulation grid.
    grid_masks : sequence of ndarray, optional
        The other tumors resampled onto ``grid``, in the order of ``tumors`` without the target.

    Returns
    -------
    list of rfasim.plan.result.OtherTumorFinding

    Notes
    -----
    ``distance_to_zone_mm`` (0 when they overlap) is the sub-voxel surface distance of
    :func:`rfasim.metrics.distance_to_zone_mm` for a tumor inside the simulated region, and the
    smallest distance between the centres of the zone's voxels and the tumor's voxels for a tumor
    outside it (``inside_simulated_region`` says which).
    """
    from scipy.spatial import cKDTree

    from rfasim.metrics import distance_to_zone_mm
    from rfasim.plan.result import OtherTumorFinding

    others = [tumor for tumor in tumors if tumor.id != target.id]
    masks = list(grid_masks) if grid_masks is not None else [None] * len(others)
    zone = np.zeros(grid.shape, bool) if zone_mask is None else np.asarray(zone_mask, bool)
    simulated = bool(zone.any())
    zone_points = np.asarray(grid.origin_mm) + grid.spacing_mm * np.argwhere(zone)
    rows = {row["id"]: row for row in tumor_rows(tumors, target)}
    findings = []
    for tumor, mask in zip(others, masks, strict=True):
        row = rows[tumor.id]
        inside = mask is not None and bool(np.any(mask))
        distance = None
        if simulated and inside and mask is not None:
            distance = distance_to_zone_mm(mask, zone, grid)
        elif simulated:
            nearest, _ = cKDTree(tumor.points_mm).query(zone_points, k=1)
            distance = float(np.min(nearest))
        findings.append(OtherTumorFinding(
            distance_to_zone_mm=None if distance is None else float(distance), tumor_id=int(tumor.id),
            volume_ml=float(tumor.volume_ml), max_diameter_mm=float(tumor.max_diameter_mm),
            centroid_mm=tuple(float(v) for v in tumor.centroid_mm), eligible=bool(row["eligible"]),  # type: ignore[arg-type]
            inside_simulated_region=inside,
        ))
    return findings
