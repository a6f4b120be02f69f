"""Tumors: connected components of the tumor class, their size and the choice of the target.

Each 26-connected component of the tumor mask is one :class:`Tumor`, numbered 1, 2, ... by
decreasing volume (ties broken by the position of the first voxel, so the numbering is
deterministic).  The maximum 3D diameter, on which the 40 mm eligibility rule rests, is the largest
distance between the world centres of two boundary voxels (exact to second order in the voxel
size for smooth objects, see :func:`max_diameter_mm`).  Everything runs in world mm through the
image's affine, so it holds for anisotropic voxels and any orientation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from rfasim.errors import LabelError, TargetError
from rfasim.imaging.io import apply_affine

#: 26-connectivity: voxels touching by a face, an edge or a corner belong to one tumor.
CONNECTIVITY_26 = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True, eq=False)
class Tumor:
    """One connected tumor component.

    Parameters
    ----------
    id : int
        1-based number, by decreasing volume.
    volume_ml : float
        Voxel count times voxel volume, mL.
    centroid_mm : numpy.ndarray
        Centre of mass of its voxel centres, world RAS+ mm, shape (3,).
    max_diameter_mm : float
        Maximum 3D diameter of its surface, mm.
    voxel_count : int
        Number of voxels.
    box_start : tuple of int
        Voxel index of the corner of its bounding box in the source image.
    box_mask : numpy.ndarray
        Boolean mask of the component inside its bounding box.
    affine : numpy.ndarray
        4x4 voxel-to-world (RAS+ mm) matrix of the source image.
    """

    id: int
    volume_ml: float
    centroid_mm: np.ndarray
    max_diameter_mm: float
    voxel_count: int
    box_start: tuple[int, int, int]
    box_mask: np.ndarray
    affine: np.ndarray

    @property
    def indices(self) -> np.ndarray:
        """Voxel indices ``(n, 3)`` of the tumor in the source image."""
        return np.argwhere(self.box_mask) + np.asarray(self.box_start)

    @property
    def points_mm(self) -> np.ndarray:
        """World RAS+ mm of the tumor's voxel centres, shape ``(n, 3)``."""
        return apply_affine(self.affine, self.indices)

    def mask(self, shape: Sequence[int]) -> np.ndarray:
        """Boolean mask of the tumor in an image of ``shape`` (the source image's shape).

        Parameters
        ----------
        shape : sequence of int
            The image's voxel counts along (i, j, k).

        Returns
        -------
        numpy.ndarray of bool, shape ``shape``
        """
        full = np.zeros(tuple(shape), dtype=bool)
        start = self.box_start
        stop = tuple(s + n for s, n in zip(start, self.box_mask.shape, strict=True))
        full[start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]] = self.box_mask
        return full

    def corners_mm(self) -> np.ndarray:
        """World RAS+ mm of the 8 outer corners of its voxel bounding box, shape (8, 3).

        Returns
        -------
        numpy.ndarray, shape (8, 3)
            Corner positions, world mm.
        """
        start = np.asarray(self.box_start, dtype=float) - 0.5
        stop = start + np.asarray(self.box_mask.shape, dtype=float)
        corners = np.array(
            [
                [a, b, c]
                for a in (start[0], stop[0])
                for b in (start[1], stop[1])
                for c in (start[2], stop[2])
            ]
        )
        return apply_affine(self.affine, corners)

    def contains_mm(self, point_mm: ArrayLike) -> bool:
        """Whether a world point (RAS+ mm) lies in one of the tumor's voxels.

        Parameters
        ----------
        point_mm : array_like, shape (3,)
            World RAS+ point (mm).

        Returns
        -------
        bool
        """
        index = np.rint(apply_affine(np.linalg.inv(self.affine), np.asarray(point_mm, dtype=float)))
        local = index.astype(int) - np.asarray(self.box_start)
        if np.any(local < 0) or np.any(local >= np.asarray(self.box_mask.shape)):
            return False
        return bool(self.box_mask[tuple(local)])

    def distance_mm(self, point_mm: ArrayLike) -> float:
        """Distance (mm) from a world point to the nearest tumor voxel centre; 0 inside the tumor.

        Parameters
        ----------
        point_mm : array_like, shape (3,)
            World RAS+ point (mm).

        Returns
        -------
        float
            Distance (mm).
        """
        if self.contains_mm(point_mm):
            return 0.0
        offsets = self.points_mm - np.asarray(point_mm, dtype=float)
        return float(np.sqrt(np.min(np.einsum("ij,ij->i", offsets, offsets))))


def find_tumors(tumor_mask: np.ndarray, affine: np.ndarray, source: str = "labels") -> list[Tumor]:
    """Split a tumor mask into connected tumors (26-connectivity), largest first.

    Parameters
    ----------
    tumor_mask : numpy.ndarray
        Boolean (or 0/1) 3D mask of the tumor class.
    affine : numpy.ndarray
        4x4 voxel-to-world (RAS+ mm) matrix of the image.
    source : str
        How messages name the label map.

    Returns
    -------
    list of Tumor
        Ids 1..n by decreasing volume.

    Raises
    ------
    LabelError
        The mask holds no tumor voxel.
    """
    mask = np.asarray(tumor_mask).astype(bool, copy=False)
    affine = np.asarray(affine, dtype=float)
    components, count = ndimage.label(mask, structure=CONNECTIVITY_26)
    if count == 0:
        raise LabelError(f"{source}: the tumor label is empty: no tumor voxel")
    boxes = ndimage.find_objects(components)
    found = []
    for number, box in enumerate(boxes, start=1):
        box_mask = components[box] == number
        start_i, start_j, start_k = (int(s.start) for s in box)
        start = (start_i, start_j, start_k)
        first_voxel = tuple(int(v) for v in np.argwhere(box_mask)[0] + np.asarray(start))
        found.append((-int(box_mask.sum()), first_voxel, start, box_mask))
    found.sort(key=lambda item: (item[0], item[1]))
    voxel_volume_ml = abs(float(np.linalg.det(affine[:3, :3]))) * 1e-3
    tumors = []
    for tumor_id, (negative_count, _, start, box_mask) in enumerate(found, start=1):
        indices = np.argwhere(box_mask) + np.asarray(start)
        tumors.append(
            Tumor(
                id=tumor_id,
                volume_ml=-negative_count * voxel_volume_ml,
                centroid_mm=apply_affine(affine, indices.mean(axis=0)),
                max_diameter_mm=max_diameter_mm(box_mask, affine, start),
                voxel_count=-negative_count,
                box_start=start,
                box_mask=box_mask,
                affine=affine,
            )
        )
    return tumors


def surface_points_mm(
    mask: np.ndarray, affine: np.ndarray, start: Sequence[int] = (0, 0, 0)
) -> np.ndarray:
    """World RAS+ mm of the marching-cubes surface (level 0.5) of a binary mask, shape ``(n, 3)``.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        A 3D mask (or a box cut from one).
    affine : numpy.ndarray, shape (4, 4)
        Voxel-to-world RAS+ mm matrix of the image the mask belongs to.
    start : sequence of int
        Voxel index of ``mask[0, 0, 0]`` in that image.

    Returns
    -------
    numpy.ndarray, shape (n, 3)
        Surface vertices, world mm.
    """
    from skimage.measure import marching_cubes

    padded = np.pad(np.asarray(mask, dtype=np.float32), 1)
    vertices, _, _, _ = marching_cubes(padded, level=0.5)
    return apply_affine(
        np.asarray(affine, dtype=float), vertices - 1.0 + np.asarray(start, dtype=float)
    )


def boundary_centres_mm(
    mask: np.ndarray, affine: np.ndarray, start: Sequence[int] = (0, 0, 0)
) -> np.ndarray:
    """World RAS+ mm of the centres of a mask's boundary voxels (6-connected), shape ``(n, 3)``.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        A 3D mask (or a box cut from one).
    affine : numpy.ndarray, shape (4, 4)
        Voxel-to-world RAS+ mm matrix of the image the mask belongs to.
    start : sequence of int
        Voxel index of ``mask[0, 0, 0]`` in that image.

    Returns
    -------
    numpy.ndarray, shape (n, 3)
        Voxel centres, world mm.
    """
    mask = np.asarray(mask, dtype=bool)
    padded = np.pad(mask, 1)
    boundary = mask & ~ndimage.binary_erosion(padded)[1:-1, 1:-1, 1:-1]
    indices = np.argwhere(boundary) + np.asarray(start)
    return apply_affine(np.asarray(affine, dtype=float), indices)


def max_diameter_mm(
    mask: np.ndarray,
    affine: np.ndarray,
    start: Sequence[int] = (0, 0, 0),
    method: str = "centres",
) -> float:
    """Maximum 3D diameter (mm) of a binary mask.

    Parameters
    ----------
    mask : numpy.ndarray
        Boolean 3D mask (one tumor, or any object).
    affine : numpy.ndarray
        4x4 voxel-to-world (RAS+ mm) matrix of the image the mask's voxels belong to.
    start : sequence of int
        Voxel index of ``mask[0, 0, 0]`` in that image.
    method : {"centres", "surface"}
        ``"centres"`` (default): largest distance between the world centres of two boundary
        voxels (through their convex hull), at least the smallest voxel edge.  For a voxelised
        smooth object the error is second order in the voxel size: within 0.15 mm of the analytic
        diameter for 10 to 40 mm spheres at 0.5 to 2 mm voxels (anisotropic and oblique included),
        and -0.1 to -0.6 voxel for elongated ellipsoids (their pointed ends hold few voxels).
        ``"surface"``: largest distance across the marching-cubes surface at level 0.5; it
        over-estimates by about 0.9 of the voxel edge along the diameter, as the staircase's
        corners stick out (see ``tests/imaging/test_tumors.py``).

    Returns
    -------
    float
        The diameter (mm).

    Notes
    -----
    Both run in world coordinates through ``affine``, so they hold for anisotropic voxels and any
    orientation.  ``tests/imaging/test_tumors.py`` checks them against analytic spheres and
    ellipsoids.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return 0.0
    if method == "surface":
        return farthest_pair_distance(surface_points_mm(mask, affine, start))
    if method != "centres":
        raise ValueError(f"method must be 'centres' or 'surface', got {method!r}")
    smallest_edge_mm = float(
        np.min(np.linalg.norm(np.asarray(affine, dtype=float)[:3, :3], axis=0))
    )
    return max(farthest_pair_distance(boundary_centres_mm(mask, affine, start)), smallest_edge_mm)


def farthest_pair_distance(points: np.ndarray) -> float:
    """Largest distance between two of the points ``(n, 3)``, through their convex hull.

    Parameters
    ----------
    points : numpy.ndarray, shape (n, 3)
        Points (mm).

    Returns
    -------
    float
        The distance (mm); 0 for fewer than two points.
    """
    from scipy.spatial import ConvexHull, QhullError

    points = np.asarray(points, dtype=float)
    try:
        candidates = points[ConvexHull(points).vertices]
    except (QhullError, ValueError):  # flat or degenerate point sets
        candidates = points
    best = 0.0
    chunk = max(1, 2_000_000 // max(len(candidates), 1))
    for begin in range(0, len(candidates), chunk):
        block = candidates[begin : begin + chunk]
        squared = np.sum((block[:, None, :] - candidates[None, :, :]) ** 2, axis=-1)
        best = max(best, float(squared.max()))
    return float(np.sqrt(best))


def distances_to_tumors_mm(tumors: Sequence[Tumor], point_mm: ArrayLike) -> dict[int, float]:
    """Distance (mm) from a world point to each tumor (nearest voxel centre; 0 inside), by id.

    Parameters
    ----------
    tumors : sequence of Tumor
        As returned by :func:`find_tumors`.
    point_mm : array_like, shape (3,)
        World RAS+ point (mm).

    Returns
    -------
    dict of int to float
        Tumor id to distance (mm).
    """
    return {tumor.id: tumor.distance_mm(point_mm) for tumor in tumors}


def select_target(
    tumors: Sequence[Tumor],
    tumor_id: int | None = None,
    point_mm: ArrayLike | None = None,
    nearest_to_mm: ArrayLike | None = None,
) -> Tumor:
    """Choose the target tumor: by id, by a world point inside it, or nearest to a point.

    Give at most one criterion.  With none, a single tumor is the target; several are an error.

    Parameters
    ----------
    tumors : sequence of Tumor
        As returned by :func:`find_tumors`.
    tumor_id : int, optional
        The tumor's id (1 is the largest).
    point_mm : array_like, shape (3,), optional
        World RAS+ mm point that must lie in the target tumor.
    nearest_to_mm : array_like, shape (3,), optional
        World RAS+ mm point (a probe tip): the tumor nearest to it (0 when inside; ties go to the
        nearest centroid).

    Returns
    -------
    Tumor
        The target.

    Raises
    ------
    TargetError
        Unknown id, a point outside every tumor, no tumor, or an ambiguous choice.
    """
    if not tumors:
        raise TargetError("there is no tumor to target")
    given = sum(value is not None for value in (tumor_id, point_mm, nearest_to_mm))
    if given > 1:
        raise TargetError("target: give only one of tumor_id, point_mm, nearest_to_probe")
    if tumor_id is not None:
        for tumor in tumors:
            if tumor.id == tumor_id:
                return tumor
        raise TargetError(f"target tumor_id = {tumor_id}: no such tumor (ids 1 to {len(tumors)})")
    if point_mm is not None:
        point = _as_point(point_mm, "point_mm")
        for tumor in tumors:
            if tumor.contains_mm(point):
                return tumor
        nearest = min(tumors, key=lambda t: t.distance_mm(point))
        raise TargetError(
            f"target point_mm = {_format_point(point)} lies outside every tumor "
            f"(nearest: tumor {nearest.id}, {nearest.distance_mm(point):.1f} mm away)"
        )
    if nearest_to_mm is not None:
        point = _as_point(nearest_to_mm, "nearest_to_mm")
        return min(
            tumors,
            key=lambda t: (
                t.distance_mm(point),
                float(np.linalg.norm(t.centroid_mm - point)),
                t.id,
            ),
        )
    if len(tumors) == 1:
        return tumors[0]
    raise TargetError(
        f"{len(tumors)} tumors found: choose one with tumor_id, point_mm or nearest_to_probe"
    )


def _as_point(value: ArrayLike, name: str) -> np.ndarray:
    point = np.asarray(value, dtype=float)
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise TargetError(f"target {name} must be three finite numbers (world mm), got {value!r}")
    return point


def _format_point(point: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.1f}" for v in point) + "]"
