"""Predicted versus achieved ablation zone: Dice, surface distances, volume difference.

The metrics the modelling literature reports when it compares simulated with observed zones:

- **Dice** similarity coefficient ``2 |P n A| / (|P| + |A|)``;
- **symmetric surface distance**: for every boundary voxel of each zone, the distance (mm) to the
  nearest boundary voxel of the other (Euclidean distance transform on an isotropic grid); the
  mean and the 95th percentile of the pooled distances (the "average symmetric surface distance"
  and "HD95");
- **volume difference**: achieved minus predicted (mL), and relative to the predicted (%).

Both zones are sampled onto one isotropic, world-aligned grid covering them (the predicted zone
from the plan folder's ``zone.nii.gz`` through its affine, the achieved one through the
registration), so the comparison is in the pre-ablation world space.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from rfasim.errors import InputError
from rfasim.grid import Grid
from rfasim.imaging import Volume, load_labels, resample_to_grid, simulation_grid

#: Added around the two zones on every side of the comparison grid (mm).
COMPARISON_MARGIN_MM = 5.0


def boundary(mask: np.ndarray) -> np.ndarray:
    """Voxels of a mask with a face neighbour outside it.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        A 3D mask.

    Returns
    -------
    numpy.ndarray of bool
        Its boundary voxels (voxels on the array's edge count as boundary).
    """
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def surface_distances_mm(first: np.ndarray, second: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Pooled symmetric boundary-to-boundary distances (mm) between two masks.

    Empty when either mask is empty.

    Parameters
    ----------
    first, second : numpy.ndarray of bool
        Two masks on one grid.
    spacing_mm : float
        The grid's voxel size (mm).

    Returns
    -------
    numpy.ndarray
        Distance (mm) from each boundary voxel of either mask to the other's boundary.

    Examples
    --------
    >>> a = np.zeros((9, 9, 9), bool); a[2:7, 2:7, 2:7] = True
    >>> float(surface_distances_mm(a, a, 1.0).max())
    0.0
    """
    first_edge, second_edge = boundary(first), boundary(second)
    if not first_edge.any() or not second_edge.any():
        return np.zeros(0)
    to_second = ndimage.distance_transform_edt(~second_edge, sampling=spacing_mm)
    to_first = ndimage.distance_transform_edt(~first_edge, sampling=spacing_mm)
    return np.concatenate([to_second[first_edge], to_first[second_edge]])


@dataclass
class PlanComparison:
    """Predicted (plan) versus achieved (post-ablation) zone.

    Attributes
    ----------
    dice : float
    mean_surface_distance_mm, hd95_mm, max_surface_distance_mm : float
    predicted_volume_ml, achieved_volume_ml : float
        On the comparison grid.
    volume_difference_ml : float
        Achieved minus predicted.
    volume_difference_pct : float
        Relative to the predicted volume.
    predicted_min_margin_mm : float or None
        The plan's minimal margin (its ``metrics.json``), for comparison with the achieved one.
    spacing_mm : float
        Voxel size of the comparison grid.
    plan_folder : str
    """

    dice: float
    mean_surface_distance_mm: float
    hd95_mm: float
    max_surface_distance_mm: float
    predicted_volume_ml: float
    achieved_volume_ml: float
    volume_difference_ml: float
    volume_difference_pct: float
    predicted_min_margin_mm: float | None
    spacing_mm: float
    plan_folder: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``assessment.json["comparison"]``.

        Returns
        -------
        dict
            The fields by name (volumes in mL, distances in mm).
        """
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


@dataclass
class PlanFolder:
    """The parts of a plan folder the comparison reads.

    Parameters
    ----------
    path : pathlib.Path
        The plan folder.
    zone : Volume
        Its predicted zone (``zone.nii.gz``, non-zero inside) in world RAS+ mm.
    metrics : dict
        Its parsed ``metrics.json``.
    """

    path: Path
    zone: Volume
    metrics: dict[str, Any]


def load_plan_folder(path: str | os.PathLike[str]) -> PlanFolder:
    """Read ``zone.nii.gz`` and ``metrics.json`` of a plan folder.

    Parameters
    ----------
    path : str or os.PathLike
        A folder written by ``rfasim plan``.

    Returns
    -------
    PlanFolder

    Raises
    ------
    InputError
        The folder, a file or the zone is missing, or ``metrics.json`` is not JSON.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(f"{folder}: plan folder not found")
    metrics_path = folder / "metrics.json"
    if not metrics_path.is_file():
        raise InputError(f"{metrics_path}: not found (not a complete plan folder)")
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(f"{metrics_path}: not readable JSON ({error})") from None
    zone_path = folder / "zone.nii.gz"
    if not zone_path.is_file():
        raise InputError(f"{zone_path}: not found (the plan was not simulated?)")
    zone = load_labels(zone_path)
    if not np.any(zone.data):
        raise InputError(f"{zone_path}: the predicted zone is empty")
    return PlanFolder(folder, zone, metrics)


def _corners(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    indices = np.argwhere(mask)
    low, high = indices.min(axis=0) - 0.5, indices.max(axis=0) + 0.5
    corners = np.array(
        [[a, b, c] for a in (low[0], high[0]) for b in (low[1], high[1]) for c in (low[2], high[2])]
    )
    return corners @ affine[:3, :3].T + affine[:3, 3]


def compare_with_plan(
    plan: PlanFolder,
    achieved_corners_mm: np.ndarray,
    achieved_on: Callable[[Grid], np.ndarray],
    reference: Volume,
    spacing_mm: float,
) -> PlanComparison:
    """Compare the plan's predicted zone with the achieved one.

    Parameters
    ----------
    plan : PlanFolder
    achieved_corners_mm : ndarray, shape (n, 3)
        World points (pre-ablation space) bounding the achieved zone.
    achieved_on : callable
        ``achieved_on(grid)`` returns the achieved zone (bool) on a grid.
    reference : Volume
        The pre-ablation scan: the comparison grid stays inside its box.
    spacing_mm : float
        Voxel size of the comparison grid (mm).

    Returns
    -------
    PlanComparison
        Overlap and surface distances (mm) of the predicted and achieved zones.
    """
    predicted_mask = np.asarray(plan.zone.data) != 0
    points = np.concatenate([_corners(predicted_mask, plan.zone.affine), achieved_corners_mm])
    grid = simulation_grid(reference.affine, reference.shape, points, COMPARISON_MARGIN_MM, spacing_mm)
    predicted = (
        resample_to_grid(predicted_mask.astype(np.float32), plan.zone.affine, grid, 1, 0.0) >= 0.5
    )
    achieved = achieved_on(grid)
    overlap = float(np.count_nonzero(predicted & achieved))
    total = float(predicted.sum() + achieved.sum())
    distances = surface_distances_mm(predicted, achieved, grid.spacing_mm)
    predicted_ml = float(predicted.sum()) * grid.voxel_volume_ml
    achieved_ml = float(achieved.sum()) * grid.voxel_volume_ml
    margin = (plan.metrics.get("margin") or {}).get("min_mm")
    return PlanComparison(
        dice=2.0 * overlap / total if total > 0 else 0.0,
        mean_surface_distance_mm=float(distances.mean()) if distances.size else float("nan"),
        hd95_mm=float(np.percentile(distances, 95)) if distances.size else float("nan"),
        max_surface_distance_mm=float(distances.max()) if distances.size else float("nan"),
        predicted_volume_ml=predicted_ml,
        achieved_volume_ml=achieved_ml,
        volume_difference_ml=achieved_ml - predicted_ml,
        volume_difference_pct=100.0 * (achieved_ml - predicted_ml) / predicted_ml
        if predicted_ml > 0
        else float("nan"),
        predicted_min_margin_mm=None if margin is None else float(margin),
        spacing_mm=grid.spacing_mm,
        plan_folder=str(plan.path),
    )
