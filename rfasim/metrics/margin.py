"""Safety margin of the ablation around the target tumor, and tumor coverage.

Method (all in world mm, below the voxel size):

1. Tumor surface: marching cubes at level 0.5 of the tumor mask after a light Gaussian smoothing
   (``smoothing_voxels``, default 0.7 voxel), mapped to world mm.
2. Zone boundary: marching cubes of ``zone_field`` at ``zone_threshold`` (the boundary linearly
   interpolated between voxel centres), or of the zone mask smoothed like the tumor at 0.5.
3. Each tumor vertex's margin is its exact distance to the zone's triangle mesh (closest point on
   the nearest candidate triangles), positive when the vertex is inside the zone (trilinear
   interpolation of the zone field >= threshold, or of the smoothed mask >= 0.5) and negative
   when it is outside (not covered).
4. Surface fractions and percentiles are area-weighted with the margin linear on each triangle.

Empty zone: every margin is undefined: ``min_mm``, ``thinnest_at_mm`` and ``percentiles_mm`` are
None, the surface's ``margin_mm`` is NaN, the surface fractions and ``coverage_pct`` are 0 and
``ok`` is False.  A zone that does not touch the tumor gives negative margins everywhere (minus
the distance from each tumor point to the zone).  Where the zone reaches the edge of the grid, its
surface is closed just outside the grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from rfasim.grid import Grid
from rfasim.metrics._geometry import (
    DEFAULT_SMOOTHING_VOXELS,
    Indicator,
    TriangleMesh,
    area_weighted_fraction_at_least,
    area_weighted_percentiles,
    check_field,
    check_mask,
    indicator_from_field,
    indicator_from_mask,
    smooth_on_surface,
    triangle_areas,
)

#: Percentiles (of tumor surface area) reported in :attr:`MarginMetrics.percentiles_mm`.
MARGIN_PERCENTILES: tuple[float, ...] = (5.0, 25.0, 50.0, 75.0, 95.0)

#: Coverage above which palliative (debulking) treatment is acceptable (percent of tumor volume).
PALLIATIVE_COVERAGE_PCT = 90.0

#: Radius (voxels) of the area-weighted averaging of the margin over the tumor surface, which
#: removes the sub-voxel noise of surfaces extracted from binary masks (see the module notes).
SURFACE_SMOOTHING_VOXELS = 1.0

#: Samples per voxel edge used for the sub-voxel coverage of tumor voxels cut by the zone boundary.
COVERAGE_SAMPLES_PER_AXIS = 4


@dataclass
class MarginSurface:
    """The target tumor's surface coloured by its local safety margin.

    Attributes
    ----------
    vertices_mm : ndarray, shape (n, 3)
        Surface vertices in world RAS mm.
    faces : ndarray, shape (m, 3)
        Triangles (vertex indices).
    margin_mm : ndarray, shape (n,)
        Signed distance from the tumor surface to the zone boundary (mm); negative where the
        tumor surface lies outside the zone (not covered).
    """

    vertices_mm: np.ndarray
    faces: np.ndarray
    margin_mm: np.ndarray


@dataclass
class MarginMetrics:
    """Safety margin of the zone around the tumor, and tumor coverage.

    Attributes
    ----------
    min_mm : float or None
        Smallest signed margin over the tumor surface (mm): positive when the zone extends
        beyond every point of the tumor surface by at least that much, negative when part of the
        tumor surface lies outside the zone.  None for an empty zone.
    max_mm : float or None
        Largest signed margin over the tumor surface (mm); None for an empty zone.
    target_mm : float
        Required margin (mm).
    surface_pct_at_target : float
        Percentage of the tumor surface area whose margin is at least ``target_mm``.
    surface_pct_at_10mm : float
        Percentage of the tumor surface area whose margin is at least 10 mm.
    ok : bool
        Whether ``min_mm >= target_mm`` (False for an empty zone).
    thinnest_at_mm : tuple of float or None
        World point (mm) on the tumor surface where the margin is smallest.
    percentiles_mm : dict of str to float, or None
        Area-weighted percentiles of the margin, keyed ``"p5"``, ``"p25"``, ``"p50"``, ``"p75"``,
        ``"p95"`` (mm).
    coverage_pct : float
        Percentage of the tumor volume inside the zone (sub-voxel when a zone field is given).
    destroyed_more_than_90_pct : bool
        Whether ``coverage_pct > 90``: the palliative (debulking) threshold.
    surface : MarginSurface
        The tumor surface with its per-vertex margin (NaN for an empty zone).
    """

    min_mm: float | None
    max_mm: float | None
    target_mm: float
    surface_pct_at_target: float
    surface_pct_at_10mm: float
    ok: bool
    thinnest_at_mm: tuple[float, float, float] | None
    percentiles_mm: dict[str, float] | None
    coverage_pct: float
    destroyed_more_than_90_pct: bool
    surface: MarginSurface

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``metrics.json["margin"]`` content (plain floats, lists, None).

        Returns
        -------
        dict
            Distances in mm, coverage in %.
        """
        return {
            "min_mm": None if self.min_mm is None else float(self.min_mm),
            "max_mm": None if self.max_mm is None else float(self.max_mm),
            "target_mm": float(self.target_mm),
            "surface_pct_at_target": float(self.surface_pct_at_target),
            "surface_pct_at_10mm": float(self.surface_pct_at_10mm),
            "ok": bool(self.ok),
            "thinnest_at_mm": None
            if self.thinnest_at_mm is None
            else [float(v) for v in self.thinnest_at_mm],
            "percentiles_mm": None
            if self.percentiles_mm is None
            else {k: float(v) for k, v in self.percentiles_mm.items()},
            "coverage_pct": float(self.coverage_pct),
            "destroyed_more_than_90_pct": bool(self.destroyed_more_than_90_pct),
        }


def zone_indicator(
    grid: Grid,
    zone_mask: np.ndarray | None,
    zone_field: np.ndarray | None,
    zone_threshold: float | None,
    smoothing_voxels: float = DEFAULT_SMOOTHING_VOXELS,
) -> Indicator:
    """The zone as an :class:`~rfasim.metrics._geometry.Indicator`, from a field or a mask.

    Parameters
    ----------
    grid : Grid
        The grid of the field or mask.
    zone_mask : numpy.ndarray of bool, optional
        The zone as a mask (used when ``zone_field`` is None).
    zone_field : numpy.ndarray, optional
        A dose field whose ``zone_threshold`` level bounds the zone.
    zone_threshold : float, optional
        The threshold, in the field's unit (required with ``zone_field``).
    smoothing_voxels : float
        Gaussian smoothing (voxels, standard deviation) of a mask's outline.

    Returns
    -------
    Indicator

    Raises
    ------
    ValueError
        Neither a mask nor a field, or a field without a threshold.
    """
    if zone_field is not None:
        if zone_threshold is None:
            raise ValueError("zone_threshold is required with zone_field")
        return indicator_from_field(
            check_field(zone_field, grid, "zone_field"), zone_threshold, grid
        )
    if zone_mask is None:
        raise ValueError("give zone_mask or zone_field (with zone_threshold)")
    return indicator_from_mask(check_mask(zone_mask, grid, "zone_mask"), grid, smoothing_voxels)


def _coverage_fraction(
    tumor: np.ndarray,
    grid: Grid,
    zone_mask: np.ndarray | None,
    zone_field: np.ndarray | None,
    zone: Indicator,
) -> float:
    """Fraction (0..1) of the tumor's voxel volume inside the zone."""
    tumor_voxels = int(tumor.sum())
    if zone.empty:
        return 0.0
    if zone_field is None:
        assert zone_mask is not None  # zone_indicator() has checked: one of the two is given
        return (
            float(np.count_nonzero(tumor & check_mask(zone_mask, grid, "zone_mask"))) / tumor_voxels
        )
    indices = np.argwhere(tumor)
    centres_mm = grid.index_to_world(indices)
    inside = zone.inside(centres_mm).astype(float)
    # Tumor voxels with a neighbour on the other side of the zone boundary are sampled below
    # the voxel: n^3 points per voxel, the zone field interpolated trilinearly.
    cut = _boundary_band(zone, indices, tumor.shape)
    if cut.any():
        n = COVERAGE_SAMPLES_PER_AXIS
        offsets_1d = (np.arange(n) + 0.5) / n - 0.5
        offsets = np.stack(np.meshgrid(offsets_1d, offsets_1d, offsets_1d, indexing="ij"), -1)
        offsets = offsets.reshape(-1, 3) * grid.spacing_mm
        samples = centres_mm[cut][:, None, :] + offsets[None, :, :]
        fractions = zone.inside(samples.reshape(-1, 3)).reshape(-1, offsets.shape[0]).mean(axis=1)
        inside[cut] = fractions
    return float(inside.sum()) / tumor_voxels


def _boundary_band(zone: Indicator, indices: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Whether each voxel ``indices`` (n, 3) has a 26-neighbour on the other side of the zone's
    voxel mask (``zone.values >= threshold`` on the grid): the 3x3x3 dilation minus the erosion
    (border value 0 at the grid's faces).

    Computed on the voxels' bounding box grown by one voxel (clipped to the grid): a voxel's
    dilation and erosion read only its 26 neighbours, all inside that box, and where the box
    meets the grid's faces the border value is the one of the whole grid; so the band at the
    voxels is that of the whole grid, at a fraction of the cost (the values on the box's own
    faces may differ, and are not read).
    """
    shape_array = np.array(shape)
    box_low = np.maximum(indices.min(axis=0) - 1, 0)
    box_high = np.minimum(indices.max(axis=0) + 2, shape_array)
    local = zone.values >= zone.threshold
    start = zone.start_index.astype(int)
    zone_inside = np.zeros(tuple(int(n) for n in box_high - box_low), dtype=bool)
    low = np.maximum(start, box_low)
    high = np.minimum(start + np.array(local.shape), box_high)
    if np.all(high > low):
        zone_inside[tuple(slice(a - b, c - b) for a, c, b in zip(low, high, box_low, strict=True))] = local[
            tuple(slice(a - s, c - s) for a, c, s in zip(low, high, start, strict=True))
        ]
    structure = np.ones((3, 3, 3), dtype=bool)
    band = ndimage.binary_dilation(zone_inside, structure) & ~ndimage.binary_erosion(
        zone_inside, structure, border_value=0)
    return band[tuple((indices - box_low).T)]


def _thinnest_vertex(
    margins: np.ndarray,
    vertices: np.ndarray,
    faces: np.ndarray,
    areas: np.ndarray,
    tolerance_mm: float,
) -> int:
    """Index of the vertex that best locates the thinnest margin.

    The margin is flat (quadratic) around its minimum, so the single smallest vertex value wanders
    with the sub-voxel noise of the surfaces.  The location reported is the vertex closest to the
    area-weighted centroid of the connected patch of the surface (containing the smallest value)
    whose margin is within ``tolerance_mm`` of the minimum.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    smallest = int(np.argmin(margins))
    selected = margins <= margins[smallest] + tolerance_mm
    patch_faces = faces[np.all(selected[faces], axis=1)]
    if patch_faces.shape[0] == 0:
        return smallest
    edges = np.concatenate([patch_faces[:, [0, 1]], patch_faces[:, [1, 2]], patch_faces[:, [2, 0]]])
    count = vertices.shape[0]
    graph = coo_matrix((np.ones(edges.shape[0]), (edges[:, 0], edges[:, 1])), shape=(count, count))
    _, labels = connected_components(graph, directed=False)
    in_patch = labels[patch_faces[:, 0]] == labels[smallest]
    if not in_patch.any():
        return smallest
    patch_faces = patch_faces[in_patch]
    weights = areas[np.all(selected[faces], axis=1)][in_patch]
    centres = vertices[patch_faces].mean(axis=1)
    centroid = (weights[:, None] * centres).sum(axis=0) / max(float(weights.sum()), 1e-300)
    members = np.unique(patch_faces)
    return int(members[np.argmin(np.linalg.norm(vertices[members] - centroid, axis=1))])


def margin_metrics(
    tumor_mask: np.ndarray,
    grid: Grid,
    zone_mask: np.ndarray | None = None,
    zone_field: np.ndarray | None = None,
    zone_threshold: float | None = None,
    target_mm: float = 5.0,
    smoothing_voxels: float = DEFAULT_SMOOTHING_VOXELS,
) -> MarginMetrics:
    """Signed safety margin of the zone over the tumor surface, and tumor coverage.

    Parameters
    ----------
    tumor_mask : ndarray of bool, shape ``grid.shape``
        The target tumor (must not be empty).
    grid : Grid
        The simulation grid.
    zone_mask : ndarray of bool, optional
        The necrosis zone.  Used when ``zone_field`` is not given.
    zone_field : ndarray of float, optional
        A continuous field whose region ``>= zone_threshold`` is the zone (e.g. the peak
        temperature in degC and 100.0); measures the zone boundary below the voxel.
    zone_threshold : float, optional
        Level of ``zone_field`` at the zone boundary (required with ``zone_field``).
    target_mm : float, optional
        Required margin (mm), default 5.
    smoothing_voxels : float, optional
        Gaussian smoothing (standard deviation, voxels) of the binary masks (tumor, and zone when
        given as a mask) before their surfaces are extracted at level 0.5; 0 disables it.

    Returns
    -------
    MarginMetrics
        See the module documentation for the method and the empty-zone convention.

    Raises
    ------
    ValueError
        If the tumor mask is empty, a shape does not match the grid, or no zone is given.
    """
    tumor = check_mask(tumor_mask, grid, "tumor_mask")
    if not tumor.any():
        raise ValueError("tumor_mask is empty")
    if not np.isfinite(target_mm):
        raise ValueError(f"target_mm must be finite, got {target_mm!r}")
    zone = zone_indicator(grid, zone_mask, zone_field, zone_threshold, smoothing_voxels)
    tumor_vertices, tumor_faces = indicator_from_mask(tumor, grid, smoothing_voxels).surface()
    areas = triangle_areas(tumor_vertices, tumor_faces)
    coverage_pct = 100.0 * _coverage_fraction(tumor, grid, zone_mask, zone_field, zone)

    if zone.empty:
        surface = MarginSurface(
            tumor_vertices, tumor_faces, np.full(tumor_vertices.shape[0], np.nan)
        )
        return MarginMetrics(
            min_mm=None,
            max_mm=None,
            target_mm=float(target_mm),
            surface_pct_at_target=0.0,
            surface_pct_at_10mm=0.0,
            ok=False,
            thinnest_at_mm=None,
            percentiles_mm=None,
            coverage_pct=coverage_pct,
            destroyed_more_than_90_pct=False,
            surface=surface,
        )

    zone_vertices, zone_faces = zone.surface()
    distances, _ = TriangleMesh(zone_vertices, zone_faces).closest_points(tumor_vertices)
    margins = np.where(zone.inside(tumor_vertices), distances, -distances)
    margins = smooth_on_surface(
        margins, tumor_vertices, tumor_faces, SURFACE_SMOOTHING_VOXELS * grid.spacing_mm
    )
    thinnest = _thinnest_vertex(margins, tumor_vertices, tumor_faces, areas, 0.25 * grid.spacing_mm)
    thinnest_x, thinnest_y, thinnest_z = (float(v) for v in tumor_vertices[thinnest])
    percentiles = area_weighted_percentiles(margins, tumor_faces, areas, MARGIN_PERCENTILES)
    min_mm = float(margins.min())
    return MarginMetrics(
        min_mm=min_mm,
        max_mm=float(margins.max()),
        target_mm=float(target_mm),
        surface_pct_at_target=100.0
        * area_weighted_fraction_at_least(margins, tumor_faces, areas, target_mm),
        surface_pct_at_10mm=100.0
        * area_weighted_fraction_at_least(margins, tumor_faces, areas, 10.0),
        ok=bool(min_mm >= target_mm),
        thinnest_at_mm=(thinnest_x, thinnest_y, thinnest_z),
        percentiles_mm={
            f"p{p:g}": float(v) for p, v in zip(MARGIN_PERCENTILES, percentiles, strict=True)
        },
        coverage_pct=coverage_pct,
        destroyed_more_than_90_pct=bool(coverage_pct > PALLIATIVE_COVERAGE_PCT),
        surface=MarginSurface(tumor_vertices, tumor_faces, margins),
    )
