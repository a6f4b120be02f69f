"""Size, shape and position of a necrosis zone: volume, principal diameters, centroid.

Axis lengths are *full lengths* (diameters) of the zone measured on its marching-cubes surface:
the difference between the largest and smallest projection of the surface vertices onto each
axis direction.  For a binary mask the surface is extracted at level 0.5 after a light Gaussian
smoothing (``smoothing_voxels``; with 0 this is exactly the extent of the voxel centres plus one
voxel along the grid axes); for a continuous field it is the iso-surface at the threshold, with
the boundary interpolated linearly between voxel centres (sub-voxel).  Directions come from the
probe axis (long) and a principal component analysis of the zone's voxel centres in the plane
perpendicular to it, or, without a probe axis, from a principal component analysis in 3D.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rfasim.grid import Grid
from rfasim.metrics._geometry import (
    DEFAULT_SMOOTHING_VOXELS,
    Indicator,
    check_field,
    check_mask,
    enclosed_volume,
    indicator_from_field,
    indicator_from_mask,
    perpendicular_basis,
    unit_vector,
)


@dataclass(frozen=True)
class ZoneMetrics:
    """Measurements of a necrosis zone.

    Attributes
    ----------
    volume_ml : float
        Zone volume in millilitres (voxel count for a mask; volume enclosed by the iso-surface
        for a field).
    axes_mm : tuple of float
        Full lengths (mm) ``(long, mid, short)``; ``long`` is along the probe when a probe axis
        was given (even if another extent is larger), otherwise the largest principal extent.
    axis_directions : ndarray, shape (3, 3), or None
        Unit vectors (world) of the long, mid and short axes, one per row; None for an empty zone.
    centroid_mm : tuple of float or None
        Centre of mass of the zone (world mm); None for an empty zone.
    """

    volume_ml: float
    axes_mm: tuple[float, float, float]
    axis_directions: np.ndarray | None
    centroid_mm: tuple[float, float, float] | None

    @property
    def empty(self) -> bool:
        """Whether the zone has no volume."""
        return self.centroid_mm is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"volume_ml", "axes_mm", "centroid_mm"}`` (plain floats and lists).

        Returns
        -------
        dict
            Volume in mL; axes and centroid in mm (the centroid is None for an empty zone).
        """
        return {
            "volume_ml": float(self.volume_ml),
            "axes_mm": [float(a) for a in self.axes_mm],
            "centroid_mm": None
            if self.centroid_mm is None
            else [float(c) for c in self.centroid_mm],
        }


_EMPTY = ZoneMetrics(0.0, (0.0, 0.0, 0.0), None, None)


def _principal_directions(points: np.ndarray, probe_axis: np.ndarray | None) -> np.ndarray:
    """Rows: candidate axis directions (probe axis first when given)."""
    centred = points - points.mean(axis=0)
    if probe_axis is None:
        if points.shape[0] < 2:
            return np.eye(3)
        _, vectors = np.linalg.eigh(centred.T @ centred)
        return vectors[:, ::-1].T.copy()
    first, second = perpendicular_basis(probe_axis)
    plane = np.stack([first, second])
    projected = centred @ plane.T
    if points.shape[0] < 2:
        return np.stack([probe_axis, first, second])
    _, vectors = np.linalg.eigh(projected.T @ projected)
    in_plane = vectors[:, ::-1].T @ plane
    return np.stack([probe_axis, in_plane[0], in_plane[1]])


def _measure(
    indicator: Indicator,
    voxel_points_mm: np.ndarray,
    volume_ml: float,
    centroid_mm: np.ndarray,
    probe_axis: np.ndarray | None,
) -> ZoneMetrics:
    directions = _principal_directions(voxel_points_mm, probe_axis)
    vertices, _ = indicator.surface()
    if vertices.shape[0] == 0:
        vertices = voxel_points_mm
    projections = vertices @ directions.T
    lengths = projections.max(axis=0) - projections.min(axis=0)
    # Sort the free axes by length: all three without a probe, the two perpendicular ones with.
    first_free = 0 if probe_axis is None else 1
    order = list(range(first_free)) + list(first_free + np.argsort(-lengths[first_free:]))
    lengths = lengths[order]
    directions = directions[order]
    return ZoneMetrics(
        volume_ml=float(volume_ml),
        axes_mm=(float(lengths[0]), float(lengths[1]), float(lengths[2])),
        axis_directions=directions,
        centroid_mm=(float(centroid_mm[0]), float(centroid_mm[1]), float(centroid_mm[2])),
    )


def _voxel_points_mm(inside: np.ndarray, grid: Grid) -> np.ndarray:
    return grid.index_to_world(np.argwhere(inside))


def zone_metrics(
    zone_mask: np.ndarray,
    grid: Grid,
    probe_axis: np.ndarray | tuple[float, float, float] | None = None,
    smoothing_voxels: float = DEFAULT_SMOOTHING_VOXELS,
) -> ZoneMetrics:
    """Volume, full-length axes and centroid of a zone given as a binary mask.

    Parameters
    ----------
    zone_mask : ndarray of bool, shape ``grid.shape``
        The zone on the simulation grid.
    grid : Grid
        The simulation grid.
    probe_axis : array-like of 3 floats, optional
        Probe direction (world, any length).  When given, the long axis is the zone's length
        along it and mid/short are the principal extents in the perpendicular plane; otherwise
        all three axes come from a principal component analysis of the voxel centres.
    smoothing_voxels : float, optional
        Gaussian smoothing (standard deviation, voxels) of the mask before its surface is
        extracted at level 0.5 for the lengths (0: no smoothing).

    Returns
    -------
    ZoneMetrics
        ``volume_ml`` is the voxel count times the voxel volume; lengths are max - min of the
        surface vertices' projections (within about one voxel of the true diameters).  An empty
        mask gives volume 0, axes ``(0, 0, 0)`` and no centroid.
    """
    mask = check_mask(zone_mask, grid, "zone_mask")
    axis = None if probe_axis is None else unit_vector(probe_axis, "probe_axis")
    if not mask.any():
        return _EMPTY
    points = _voxel_points_mm(mask, grid)
    indicator = indicator_from_mask(mask, grid, smoothing_voxels)
    volume_ml = float(mask.sum()) * grid.voxel_volume_ml
    return _measure(indicator, points, volume_ml, points.mean(axis=0), axis)


def zone_metrics_from_field(
    field: np.ndarray,
    threshold: float,
    grid: Grid,
    probe_axis: np.ndarray | tuple[float, float, float] | None = None,
) -> ZoneMetrics:
    """Volume, full-length axes and centroid of the zone ``field >= threshold``, below the voxel.

    Parameters
    ----------
    field : ndarray of float, shape ``grid.shape``
        A continuous field on the simulation grid, e.g. the peak temperature (degC).
    threshold : float
        The zone is where the field, interpolated linearly between voxel centres, is at least
        this (e.g. 100.0 degC for the design's necrosis criterion).
    grid : Grid
        The simulation grid.
    probe_axis : array-like of 3 floats, optional
        Probe direction (world); see :func:`zone_metrics`.

    Returns
    -------
    ZoneMetrics
        ``volume_ml`` is the volume enclosed by the marching-cubes iso-surface at the threshold;
        ``centroid_mm`` the centroid of that enclosed volume.  Where the zone reaches the edge of
        the grid the surface is closed just outside the grid.
    """
    values = check_field(field, grid, "field")
    axis = None if probe_axis is None else unit_vector(probe_axis, "probe_axis")
    indicator = indicator_from_field(values, threshold, grid)
    if indicator.empty:
        return _EMPTY
    vertices, faces = indicator.surface()
    volume_mm3 = enclosed_volume(vertices, faces)
    corners = vertices[faces]
    signed = np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2]))
    if abs(signed.sum()) > 0:
        centroid = (signed[:, None] * corners.sum(axis=1)).sum(axis=0) / (4.0 * signed.sum())
    else:
        centroid = vertices.mean(axis=0)
    points = _voxel_points_mm(np.isfinite(values) & (values >= threshold), grid)
    return _measure(indicator, points, volume_mm3 * 1e-3, centroid, axis)
