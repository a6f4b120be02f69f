"""Distance from another structure (e.g. another tumor) to the necrosis zone."""

from __future__ import annotations

import numpy as np

from rfasim.grid import Grid
from rfasim.metrics._geometry import (
    DEFAULT_SMOOTHING_VOXELS,
    TriangleMesh,
    check_mask,
    indicator_from_mask,
)


def distance_to_zone_mm(
    mask: np.ndarray,
    zone_mask: np.ndarray,
    grid: Grid,
    smoothing_voxels: float = DEFAULT_SMOOTHING_VOXELS,
) -> float | None:
    """Smallest distance (mm) from a structure to the zone; 0 where they overlap.

    Both boundaries are marching-cubes surfaces (level 0.5, after the same light smoothing as
    :func:`rfasim.metrics.margin_metrics`); the distance is the smallest exact distance from a
    vertex of the structure's surface to the zone's triangle mesh, so it is measured below the
    voxel size (about 0.2 voxel for smooth shapes).

    Parameters
    ----------
    mask : ndarray of bool, shape ``grid.shape``
        The structure, e.g. another tumor.
    zone_mask : ndarray of bool, shape ``grid.shape``
        The necrosis zone.
    grid : Grid
        The simulation grid.
    smoothing_voxels : float, optional
        Gaussian smoothing (voxels) of the masks before their surfaces are extracted.

    Returns
    -------
    float or None
        0.0 when a voxel belongs to both masks, None when the zone is empty.

    Raises
    ------
    ValueError
        If ``mask`` is empty or a shape does not match the grid.
    """
    structure = check_mask(mask, grid, "mask")
    zone = check_mask(zone_mask, grid, "zone_mask")
    if not structure.any():
        raise ValueError("mask is empty")
    if not zone.any():
        return None
    if np.any(structure & zone):
        return 0.0
    vertices, _ = indicator_from_mask(structure, grid, smoothing_voxels).surface()
    zone_vertices, zone_faces = indicator_from_mask(zone, grid, smoothing_voxels).surface()
    distances, _ = TriangleMesh(zone_vertices, zone_faces).closest_points(vertices)
    return float(distances.min())
