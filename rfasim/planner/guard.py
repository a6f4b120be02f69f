"""The last check of a returned plan: every trajectory against the case's own label map.

The search judges trajectories on its resampled anatomy grid (:mod:`rfasim.planner.trajectories`:
distance maps, vessel clearance, capsule crossings).  Before a plan is returned,
:func:`label_map_violations` checks each probe once more, independently of that grid, on the label
map's own voxels (nearest voxel every 0.25 mm): the straight path from the skin entry to the tip,
and for multi-tine arrays every tine, must not touch a large vessel, a forbidden structure or a
tumor other than the target.  :func:`rfasim.planner.plan_automatically` drops a verified plan that
fails (and says why); ``tests/planner/test_planner.py`` runs the check on the plans returned for
every named phantom.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rfasim.case import Case
from rfasim.imaging import LabelMapping, find_tumors, load_labels, select_target
from rfasim.probes import ProbePlacement, get_probe_model
from rfasim.tissue import TissueClass

#: Step (mm) of the samples along each path.
SAMPLE_STEP_MM = 0.25
#: Class code given to the voxels of the other tumors.
OTHER_TUMOR = 250


def _segment(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    count = int(np.linalg.norm(end - start) / SAMPLE_STEP_MM) + 2
    steps = np.linspace(0.0, 1.0, count)
    return start[None] + steps[:, None] * (end - start)[None]


def marked_classes(case: Case, target_centroid_mm: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Tissue classes of the label map with the other tumors marked :data:`OTHER_TUMOR`; affine."""
    labels = load_labels(case.labels_path)
    mapping = LabelMapping.from_case(case.labels_table, where=f"{case.path} [labels]")
    classes, _ = mapping.to_tissue_classes(labels.data, source=str(case.labels_path))
    classes = classes.astype(np.uint8)
    tumors = find_tumors(classes == TissueClass.TUMOR, labels.affine, source=str(case.labels_path))
    if tumors:
        target = select_target(tumors, nearest_to_mm=np.asarray(target_centroid_mm, dtype=float))
        for tumor in tumors:
            if tumor.id != target.id:
                classes[tumor.mask(classes.shape)] = OTHER_TUMOR
    return classes, np.asarray(labels.affine, dtype=float)


def path_classes(classes: np.ndarray, affine: np.ndarray, points_mm: np.ndarray) -> np.ndarray:
    """Classes at world points (nearest voxel; background outside the image)."""
    homogeneous = np.c_[points_mm, np.ones(len(points_mm))]
    index = np.rint((np.linalg.inv(affine) @ homogeneous.T)[:3].T).astype(int)
    inside = np.all((index >= 0) & (index < np.asarray(classes.shape)), axis=1)
    clipped = np.clip(index, 0, np.asarray(classes.shape) - 1)
    return np.where(inside, classes[tuple(clipped.T)], TissueClass.BACKGROUND)


def label_map_violations(case: Case, device: str, tips_mm: np.ndarray, entries_mm: np.ndarray,
                         target_centroid_mm: Sequence[float]) -> list[str]:
    """What each probe of a plan touches that it must not, in words (empty: none).

    Parameters
    ----------
    case : Case
        The case (its label map and label mapping).
    device : str
        The plan's device.
    tips_mm, entries_mm : ndarray, shape (probes, 3)
        World tips and skin entries (mm).
    target_centroid_mm : sequence of float
        Centroid of the target tumor (mm): every other tumor is an obstacle.
    """
    classes, affine = marked_classes(case, target_centroid_mm)
    model = get_probe_model(device)
    names = {TissueClass.VESSEL: "a large vessel", TissueClass.FORBIDDEN: "a forbidden structure",
             OTHER_TUMOR: "another tumor"}
    problems: list[str] = []
    for number, (tip, entry) in enumerate(zip(np.asarray(tips_mm, float), np.asarray(entries_mm, float),
                                              strict=True), start=1):
        if not np.all(np.isfinite(entry)):
            problems.append(f"probe {number}: no skin entry")
            continue
        paths = [_segment(entry, tip)]
        direction = (tip - entry) / np.linalg.norm(tip - entry)
        geometry = ProbePlacement(model, tip_mm=tip, direction=direction).geometry()
        paths += [np.asarray(path, dtype=float) for path in geometry.tine_paths_mm]
        touched = set()
        for path in paths:
            dense = np.concatenate([_segment(a, b) for a, b in zip(path[:-1], path[1:], strict=True)]) \
                if len(path) > 2 else path
            touched |= set(np.unique(path_classes(classes, affine, dense)).tolist())
        for code, name in names.items():
            if int(code) in touched:
                problems.append(f"probe {number}: its path touches {name} on the label map")
    return problems


__all__ = ["OTHER_TUMOR", "label_map_violations", "marked_classes", "path_classes"]
