"""Private geometry helpers shared by the measurement modules.

Everything works on the simulation grid (isotropic spacing ``h``, world RAS mm).  A region is
described by an :class:`Indicator`: a float array cropped around the region (plus a padding of
"outside" values, so that surfaces are always closed) and a threshold; the region is where the
(trilinearly interpolated) values are ``>= threshold``.  A binary mask becomes an indicator by
(optionally) light Gaussian smoothing of its 0/1 values and the threshold 0.5, which places the
boundary between voxel centres with sub-voxel accuracy for smooth shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from rfasim.grid import Grid
from rfasim.metrics._closest_kernel import nearest_on_candidates

#: Default Gaussian smoothing (standard deviation, voxels) of binary masks before their surface
#: is extracted at level 0.5.  One voxel removes most of the staircase of the voxelised boundary;
#: the inward shift of the level set (sigma^2 / R for a sphere of radius R) is undone.
DEFAULT_SMOOTHING_VOXELS = 1.0

#: Iterations of Taubin (non-shrinking) smoothing of the surfaces of smoothed masks, which
#: removes the residual sub-voxel roughness of the voxelised boundary.
TAUBIN_ITERATIONS = 10

#: Voxels of "outside" padding kept around a region's bounding box.
_PADDING_VOXELS = 2


def check_mask(mask: np.ndarray, grid: Grid, name: str) -> np.ndarray:
    """``mask`` as a boolean array of the grid's shape, or a ValueError naming it."""
    array = np.asarray(mask)
    if array.shape != grid.shape:
        raise ValueError(f"{name} has shape {array.shape}, the grid has shape {grid.shape}")
    return array.astype(bool, copy=False)


def check_field(field: np.ndarray, grid: Grid, name: str) -> np.ndarray:
    """``field`` as a float array of the grid's shape, or a ValueError naming it."""
    array = np.asarray(field, dtype=float)
    if array.shape != grid.shape:
        raise ValueError(f"{name} has shape {array.shape}, the grid has shape {grid.shape}")
    return array


@dataclass
class Indicator:
    """A region of the grid: cropped values, their threshold and where the crop sits.

    Attributes
    ----------
    values : ndarray of float
        Cropped (and padded) values; inside where ``values >= threshold``.
    threshold : float
        Level of the region's boundary.
    outside_value : float
        Value used for padding and for samples outside the crop (below ``threshold``).
    start_index : ndarray of float, shape (3,)
        Grid index (possibly negative, for padding beyond the grid) of ``values[0, 0, 0]``.
    grid : Grid
        The simulation grid.
    smoothing_voxels : float
        Standard deviation (voxels) of the Gaussian smoothing applied to a binary mask (0 for a
        field, or a mask used unsmoothed); its curvature shrinkage is undone in :meth:`surface`.
    """

    values: np.ndarray
    threshold: float
    outside_value: float
    start_index: np.ndarray
    grid: Grid
    smoothing_voxels: float = 0.0

    @property
    def empty(self) -> bool:
        """Whether no value reaches the threshold."""
        return self.values.size == 0 or not bool(np.any(self.values >= self.threshold))

    def to_local_index(self, points_mm: np.ndarray) -> np.ndarray:
        """Continuous indices into :attr:`values` of world points (mm), shape ``(..., 3)``."""
        return self.grid.world_to_index(points_mm) - self.start_index

    def sample(self, points_mm: np.ndarray) -> np.ndarray:
        """Trilinearly interpolated values at world points (mm), shape ``(n, 3)`` -> ``(n,)``."""
        points = np.asarray(points_mm, dtype=float).reshape(-1, 3)
        if points.shape[0] == 0:
            return np.zeros(0)
        local = self.to_local_index(points)
        return ndimage.map_coordinates(
            self.values, local.T, order=1, mode="constant", cval=self.outside_value
        )

    def inside(self, points_mm: np.ndarray) -> np.ndarray:
        """Whether world points (mm) lie in the region (interpolated value ``>= threshold``)."""
        return self.sample(points_mm) >= self.threshold

    def surface(self) -> tuple[np.ndarray, np.ndarray]:
        """Closed marching-cubes surface at the threshold: vertices (world mm) and faces."""
        from skimage.measure import marching_cubes

        if self.empty:
            return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
        vertices, faces, _, _ = marching_cubes(self.values, level=self.threshold)
        if self.smoothing_voxels > 0:
            vertices = vertices + self._curvature_shift(vertices)
            vertices = taubin_smooth(vertices, faces, TAUBIN_ITERATIONS)
        vertices_mm = self.grid.index_to_world(vertices + self.start_index)
        return vertices_mm, faces.astype(np.int64)

    def _curvature_shift(self, vertices: np.ndarray) -> np.ndarray:
        """Outward displacement (voxels) undoing the shrinkage of a smoothed mask's level set.

        The 0.5 level of a Gaussian-smoothed (standard deviation sigma) indicator of a smooth
        region lies ``sigma^2 kappa / 2`` inside the region's boundary, ``kappa`` the sum of the
        principal curvatures (``2 / R`` for a sphere of radius R).  ``kappa`` is the divergence
        of the outward unit normal of the smoothed field, by central differences.
        """
        gradient = np.gradient(self.values)
        hessian = [np.gradient(component) for component in gradient]
        coordinates = vertices.T

        def at_vertices(array: np.ndarray) -> np.ndarray:
            return ndimage.map_coordinates(array, coordinates, order=1, mode="nearest")

        g = np.stack([at_vertices(component) for component in gradient], axis=1)
        h = np.empty((vertices.shape[0], 3, 3))
        for row in range(3):
            for column in range(row, 3):
                h[:, row, column] = h[:, column, row] = at_vertices(hessian[row][column])
        norm = np.linalg.norm(g, axis=1)
        safe = np.where(norm > 0, norm, 1.0)
        laplacian = np.trace(h, axis1=1, axis2=2)
        directional = np.einsum("ni,nij,nj->n", g, h, g)
        # Outward normal n = -grad f / |grad f|; kappa = div n.
        kappa = -(laplacian * norm**2 - directional) / safe**3
        shift = 0.5 * self.smoothing_voxels**2 * kappa
        # Leave vertices alone where the field is flat or the estimate is wild (thin features).
        shift = np.where((norm > 0) & (np.abs(shift) < 0.5), shift, 0.0)
        return (-g / safe[:, None]) * shift[:, None]


def taubin_smooth(
    vertices: np.ndarray,
    faces: np.ndarray,
    iterations: int,
    shrink_factor: float = 0.5,
    inflate_factor: float = -0.53,
) -> np.ndarray:
    """Taubin lambda/mu smoothing of a triangle mesh (Taubin, SIGGRAPH 1995).

    A low-pass filter of the vertex positions that, unlike plain Laplacian smoothing, does not
    shrink.
    """
    if iterations <= 0 or faces.shape[0] == 0:
        return vertices
    from scipy.sparse import coo_matrix, diags

    count = vertices.shape[0]
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.concatenate([edges, edges[:, ::-1]])
    adjacency = coo_matrix(
        (np.ones(edges.shape[0]), (edges[:, 0], edges[:, 1])), shape=(count, count)
    )
    adjacency = adjacency.tocsr()
    adjacency.data[:] = 1.0  # duplicate edges (shared by two faces) count once
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    averaging = diags(1.0 / np.where(degree > 0, degree, 1.0)) @ adjacency
    smoothed = vertices.copy()
    for _ in range(iterations):
        for factor in (shrink_factor, inflate_factor):
            smoothed = smoothed + factor * (averaging @ smoothed - smoothed)
    return smoothed


def _crop_and_pad(
    array: np.ndarray, inside: np.ndarray, padding: int, outside_value: float
) -> tuple[np.ndarray, np.ndarray]:
    """Crop ``array`` to the bounding box of ``inside`` grown by ``padding`` voxels.

    Where the grown box leaves the grid the crop is padded with ``outside_value``.  Returns the
    cropped array and the grid index of its first element.
    """
    coordinates = np.nonzero(inside)
    low = np.array([c.min() for c in coordinates]) - padding
    high = np.array([c.max() for c in coordinates]) + padding + 1
    shape = np.array(array.shape)
    clipped_low = np.maximum(low, 0)
    clipped_high = np.minimum(high, shape)
    crop = array[tuple(slice(a, b) for a, b in zip(clipped_low, clipped_high, strict=True))]
    pad_width = [
        (int(a), int(b)) for a, b in zip(clipped_low - low, high - clipped_high, strict=True)
    ]
    crop = np.pad(crop, pad_width, mode="constant", constant_values=outside_value)
    return crop, low.astype(float)


def _empty_indicator(grid: Grid, threshold: float, outside_value: float) -> Indicator:
    return Indicator(np.zeros((0, 0, 0)), threshold, outside_value, np.zeros(3), grid)


def indicator_from_mask(
    mask: np.ndarray, grid: Grid, smoothing_voxels: float = DEFAULT_SMOOTHING_VOXELS
) -> Indicator:
    """The region of a binary mask: its 0/1 values, Gaussian-smoothed, at level 0.5.

    If the smoothing would make the region vanish (a region a few voxels across), the unsmoothed
    values are used.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return _empty_indicator(grid, 0.5, 0.0)
    padding = _PADDING_VOXELS + int(np.ceil(3.0 * max(smoothing_voxels, 0.0)))
    crop, start = _crop_and_pad(mask.astype(np.float64), mask, padding, 0.0)
    if smoothing_voxels > 0:
        smoothed = ndimage.gaussian_filter(crop, smoothing_voxels, mode="constant", cval=0.0)
        if smoothed.max() >= 0.5:
            return Indicator(smoothed, 0.5, 0.0, start, grid, float(smoothing_voxels))
    return Indicator(crop, 0.5, 0.0, start, grid)


def indicator_from_field(field: np.ndarray, threshold: float, grid: Grid) -> Indicator:
    """The region where a continuous field is ``>= threshold`` (trilinear between voxel centres)."""
    field = np.asarray(field, dtype=float)
    if not np.isfinite(threshold):
        raise ValueError(f"zone threshold must be finite, got {threshold!r}")
    finite = np.isfinite(field)
    inside = finite & (field >= threshold)
    low_values = field[finite & ~inside]
    floor = float(low_values.min()) if low_values.size else threshold - 1.0
    outside_value = min(floor, threshold - 1e-6 * max(1.0, abs(threshold)))
    if not inside.any():
        return _empty_indicator(grid, float(threshold), outside_value)
    field = np.where(finite, field, outside_value)
    crop, start = _crop_and_pad(field, inside, _PADDING_VOXELS, outside_value)
    return Indicator(crop, float(threshold), outside_value, start, grid)


def closest_points_on_triangles(
    points: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> np.ndarray:
    """Closest point of each triangle ``(a, b, c)`` to each point (broadcast, last axis 3).

    Vectorised form of the Voronoi-region test of Ericson, *Real-Time Collision Detection*
    (2005), section 5.1.5.  Degenerate triangles fall into a vertex or edge region.
    """
    ab = b - a
    ac = c - a
    ap = points - a
    bp = points - b
    cp = points - c
    d1 = np.einsum("...i,...i->...", ab, ap)
    d2 = np.einsum("...i,...i->...", ac, ap)
    d3 = np.einsum("...i,...i->...", ab, bp)
    d4 = np.einsum("...i,...i->...", ac, bp)
    d5 = np.einsum("...i,...i->...", ab, cp)
    d6 = np.einsum("...i,...i->...", ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2

    def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
        safe = np.where(denominator == 0, 1.0, denominator)
        return np.where(denominator == 0, 0.0, numerator / safe)

    total = va + vb + vc
    v = ratio(vb, total)
    w = ratio(vc, total)
    result = a + ab * v[..., None] + ac * w[..., None]
    # Overwrite from the lowest to the highest priority of Ericson's early returns.
    on_bc = (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0)
    t_bc = ratio(d4 - d3, (d4 - d3) + (d5 - d6))
    result = np.where(on_bc[..., None], b + (c - b) * t_bc[..., None], result)
    on_ac = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    t_ac = ratio(d2, d2 - d6)
    result = np.where(on_ac[..., None], a + ac * t_ac[..., None], result)
    on_c = (d6 >= 0) & (d5 <= d6)
    result = np.where(on_c[..., None], c, result)
    on_ab = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    t_ab = ratio(d1, d1 - d3)
    result = np.where(on_ab[..., None], a + ab * t_ab[..., None], result)
    on_b = (d3 >= 0) & (d4 <= d3)
    result = np.where(on_b[..., None], b, result)
    on_a = (d1 <= 0) & (d2 <= 0)
    result = np.where(on_a[..., None], a, result)
    return result


class TriangleMesh:
    """Exact point-to-surface distances to a triangle mesh.

    Candidate triangles are the ``candidates`` nearest by centroid (k-d tree); the exact
    closest point is computed on each.  With marching-cubes triangles (edges below
    ``sqrt(2) h``) 16 candidates always contain the nearest triangle in practice.
    """

    def __init__(self, vertices_mm: np.ndarray, faces: np.ndarray, candidates: int = 16) -> None:
        self.vertices_mm = np.ascontiguousarray(vertices_mm, dtype=float)
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        if self.faces.shape[0] == 0:
            raise ValueError("a triangle mesh needs at least one face")
        self.candidates = int(min(candidates, self.faces.shape[0]))
        self._tree = cKDTree(self.vertices_mm[self.faces].mean(axis=1))

    def closest_points(
        self, points_mm: np.ndarray, chunk: int = 8192
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distances (mm) from points to the surface and the closest surface points (mm)."""
        points = np.asarray(points_mm, dtype=float).reshape(-1, 3)
        distances = np.empty(points.shape[0])
        closest = np.empty_like(points)
        for start in range(0, points.shape[0], chunk):
            block = points[start : start + chunk]
            _, neighbours = self._tree.query(block, k=self.candidates)
            neighbours = np.ascontiguousarray(np.asarray(neighbours, dtype=np.int64).reshape(block.shape[0], -1))
            nearest_on_candidates(np.ascontiguousarray(block), self.vertices_mm, self.faces, neighbours,
                                  distances[start : start + chunk], closest[start : start + chunk])
        return distances, closest

    def closest_points_reference(self, points_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`closest_points` by the vectorised NumPy form (the reference the tests compare to)."""
        block = np.asarray(points_mm, dtype=float).reshape(-1, 3)
        _, neighbours = self._tree.query(block, k=self.candidates)
        neighbours = np.asarray(neighbours).reshape(block.shape[0], -1)
        triangles = self.vertices_mm[self.faces[neighbours]]  # (n, k, 3 corners, 3)
        candidates = closest_points_on_triangles(
            block[:, None, :], triangles[:, :, 0], triangles[:, :, 1], triangles[:, :, 2]
        )
        squared = np.sum((candidates - block[:, None, :]) ** 2, axis=-1)
        best = np.argmin(squared, axis=1)
        rows = np.arange(block.shape[0])
        return np.sqrt(squared[rows, best]), candidates[rows, best]


def vertex_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area attributed to each vertex: a third of the area of each incident triangle."""
    areas = np.zeros(vertices.shape[0])
    np.add.at(areas, faces.ravel(), np.repeat(triangle_areas(vertices, faces) / 3.0, 3))
    return areas


def smooth_on_surface(
    values: np.ndarray, vertices: np.ndarray, faces: np.ndarray, radius: float
) -> np.ndarray:
    """Area-weighted mean of a per-vertex field over the vertices within ``radius`` (Euclidean)."""
    if radius <= 0 or vertices.shape[0] < 2:
        return values.copy()
    from scipy.sparse import coo_matrix, diags

    tree = cKDTree(vertices)
    pairs = tree.query_pairs(radius, output_type="ndarray")
    count = vertices.shape[0]
    rows = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(count)])
    columns = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(count)])
    neighbours = coo_matrix((np.ones(rows.size), (rows, columns)), shape=(count, count)).tocsr()
    weights = vertex_areas(vertices, faces)
    weighted = neighbours @ diags(weights)
    total = np.asarray(weighted.sum(axis=1)).ravel()
    return np.where(total > 0, (weighted @ values) / np.where(total > 0, total, 1.0), values)


def triangle_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area of each triangle (units of the vertices squared)."""
    corners = vertices[faces]
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    return 0.5 * np.linalg.norm(cross, axis=1)


def enclosed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Volume enclosed by a closed triangle mesh (divergence theorem; orientation-free)."""
    if faces.shape[0] == 0:
        return 0.0
    corners = vertices[faces]
    signed = np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2]))
    return abs(float(signed.sum())) / 6.0


def area_fraction_at_least(values: np.ndarray, level: float) -> np.ndarray:
    """Fraction of each triangle's area where the linear interpolant of its corner values >= level.

    ``values`` has shape ``(m, 3)``; exact for a field linear on each triangle.
    """
    return _fraction_at_least(_SortedCorners.of(values), level)


class _SortedCorners:
    """Each triangle's corner values sorted (low, middle, high) with the two spans the area
    fractions divide by: computed once for the many levels of a percentile bisection."""

    def __init__(self, low: np.ndarray, middle: np.ndarray, high: np.ndarray) -> None:
        self.low, self.middle, self.high = low, middle, high
        self.span_lower = (middle - low) * (high - low)
        self.span_upper = (high - low) * (high - middle)

    @classmethod
    def of(cls, values: np.ndarray) -> _SortedCorners:
        low, middle, high = np.sort(values, axis=1).T
        return cls(low, middle, high)


def _fraction_at_least(corners: _SortedCorners, level: float | np.ndarray) -> np.ndarray:
    """Area fraction of each triangle at or above ``level``: a scalar gives shape ``(m,)``; an
    array of levels, shape ``(L, 1)``, gives ``(L, m)`` (the same operations per element)."""
    low, middle, high = corners.low, corners.middle, corners.high
    fraction = np.zeros(np.broadcast_shapes(np.shape(level), low.shape))
    fraction[np.broadcast_to(level <= low, fraction.shape)] = 1.0
    # level between the lowest and middle corner: a small triangle at the lowest corner is below.
    lower = (level > low) & (level <= middle)
    span = corners.span_lower
    with np.errstate(divide="ignore", invalid="ignore"):
        below = np.where(
            lower & (span > 0), (level - low) ** 2 / np.where(span > 0, span, 1.0), 0.0
        )
    fraction = np.where(lower, 1.0 - below, fraction)
    # level between the middle and highest corner: a small triangle at the highest corner is above.
    upper = (level > middle) & (level < high)
    span = corners.span_upper
    with np.errstate(divide="ignore", invalid="ignore"):
        above = np.where(
            upper & (span > 0), (high - level) ** 2 / np.where(span > 0, span, 1.0), 0.0
        )
    fraction = np.where(upper, above, fraction)
    return fraction


def area_weighted_fraction_at_least(
    values: np.ndarray, faces: np.ndarray, areas: np.ndarray, level: float
) -> float:
    """Fraction (0..1) of a surface's area where a per-vertex field (linear on faces) >= level."""
    total = float(areas.sum())
    if total <= 0:
        return float(np.mean(values >= level)) if values.size else 0.0
    return float(np.sum(areas * area_fraction_at_least(values[faces], level)) / total)


def area_weighted_percentiles(
    values: np.ndarray, faces: np.ndarray, areas: np.ndarray, percentiles: tuple[float, ...]
) -> list[float]:
    """Area-weighted percentiles of a per-vertex field, linear on each face (bisection).

    The faces' corner values are gathered and sorted once for all bisection steps.
    """
    total = float(areas.sum())
    corners = _SortedCorners.of(values[faces]) if total > 0 else None
    targets_above = 1.0 - np.asarray(percentiles, dtype=float) / 100.0
    low = np.full(targets_above.shape, float(values.min()))
    high = np.full(targets_above.shape, float(values.max()))

    def fractions_at_least(levels: np.ndarray) -> np.ndarray:
        if corners is None:
            return np.array([float(np.mean(values >= level)) if values.size else 0.0 for level in levels])
        return (areas * _fraction_at_least(corners, levels[:, None])).sum(axis=1) / total

    # All percentiles bisected together; each stops on its own once its bracket is below 1e-6.
    for _ in range(60):
        active = high - low >= 1e-6
        if not active.any():
            break
        middle = 0.5 * (low + high)
        above = fractions_at_least(middle) > targets_above
        low = np.where(active & above, middle, low)
        high = np.where(active & ~above, middle, high)
    return [float(v) for v in 0.5 * (low + high)]


def unit_vector(vector: np.ndarray | tuple[float, float, float], name: str) -> np.ndarray:
    """``vector`` normalised, or a ValueError naming it."""
    array = np.asarray(vector, dtype=float).reshape(-1)
    norm = float(np.linalg.norm(array)) if array.size == 3 else 0.0
    if array.size != 3 or not np.isfinite(norm) or norm == 0:
        raise ValueError(f"{name} must be a non-zero 3-vector, got {vector!r}")
    return array / norm


def perpendicular_basis(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors completing ``axis`` (unit) to a right-handed orthonormal basis."""
    helper = np.eye(3)[int(np.argmin(np.abs(axis)))]
    first = np.cross(axis, helper)
    first /= np.linalg.norm(first)
    second = np.cross(axis, first)
    return first, second
