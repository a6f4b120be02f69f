"""What the planner knows about a case before it searches: anatomy, target, points to cover.

:func:`planning_context` reads the case's images once and builds, in world RAS mm:

- an *anatomy grid*: the whole label map's tissue classes resampled onto a world-aligned grid
  (1 mm, coarser for very large images), with distance maps to the large vessels and to the
  structures a needle must never cross (forbidden structures and the other tumors), used by the
  trajectory checks (:mod:`rfasim.planner.trajectories`);
- an *evaluation grid* around the target at the search spacing, and on it the points the zone
  must cover (the tumor and the shell of the margin target around it), the healthy liver that a
  zone would destroy, and each point's distance to the nearest large vessel (for the fast model's
  heat-sink correction).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from rfasim.case import Case
from rfasim.grid import Grid
from rfasim.imaging import (
    LabelMapping,
    Volume,
    find_tumors,
    load_labels,
    resample_labels,
    select_target,
)
from rfasim.imaging.tumors import Tumor
from rfasim.plan.eligibility import eligibility_verdict
from rfasim.plan.result import Eligibility
from rfasim.planner._sampling import locate_voxels
from rfasim.process_cache import ReadOnlyCache
from rfasim.tissue import TissueClass

#: Largest anatomy grid (voxels); beyond it the anatomy spacing grows.
MAXIMUM_ANATOMY_VOXELS = 24_000_000


@dataclass
class AnatomyGrid:
    """Tissue classes of the whole image on a world-aligned grid, with distance maps.

    Attributes
    ----------
    grid : Grid
    classes : ndarray of uint8
        :class:`~rfasim.tissue.TissueClass` per voxel (background outside the image).
    vessel_distance_mm : ndarray of float32
        Distance (mm) from each voxel centre to the nearest vessel voxel centre (inf: no vessel).
    obstacle_distance_mm : ndarray of float32
        Distance (mm) to the nearest forbidden-structure or other-tumor voxel (inf: none).
    other_tumors : ndarray of bool
        Voxels of the tumors other than the target.
    """

    grid: Grid
    classes: np.ndarray
    vessel_distance_mm: np.ndarray
    obstacle_distance_mm: np.ndarray
    other_tumors: np.ndarray

    def sample(self, volume: np.ndarray, points_mm: np.ndarray, outside: float) -> np.ndarray:
        """Nearest-voxel values at world points (..., 3); ``outside`` off the grid."""
        return self.read(volume, self.locate(points_mm), outside)

    def locate(self, points_mm: np.ndarray) -> np.ndarray:
        """Flat index of the nearest voxel of each world point (..., 3); -1 off the grid.

        Locate a batch of points once and :meth:`read` several volumes there.
        """
        points = np.asarray(points_mm, dtype=np.float64)
        flat = np.ascontiguousarray(points.reshape(-1, 3))
        located = np.empty(flat.shape[0], dtype=np.int64)
        locate_voxels(flat, np.asarray(self.grid.origin_mm, dtype=np.float64), float(self.grid.spacing_mm),
                      np.asarray(self.grid.shape, dtype=np.int64), located)
        return located.reshape(points.shape[:-1])

    @staticmethod
    def read(volume: np.ndarray, located: np.ndarray, outside: float) -> np.ndarray:
        """Values of ``volume`` at points located by :meth:`locate`; ``outside`` off the grid."""
        values = np.take(volume.ravel(), located, mode="clip")  # -1 reads the first voxel, replaced below
        return np.where(located >= 0, values, outside)


@dataclass
class PlanningContext:
    """A case prepared for the search (see the module docstring).

    Attributes
    ----------
    case : Case
    tumors : list of Tumor
    target : Tumor
    eligibility : Eligibility
        The eligibility verdict of the target (the 40 mm rule).
    anatomy : AnatomyGrid
    evaluation_grid : Grid
        Grid at the search spacing around the target.
    target_points_mm : ndarray (n, 3)
        Points to cover: the tumor and the margin shell (vessel lumens and air excluded).
    target_in_tumor : ndarray of bool (n,)
        Which of them lie in the tumor.
    target_vessel_distance_mm : ndarray (n,)
    liver_points_mm : ndarray (m, 3)
        Healthy liver on a coarser sub-grid (for the destroyed-liver estimate).
    liver_point_volume_ml : float
        Volume each liver point stands for (mL).
    liver_vessel_distance_mm : ndarray (m,)
    margin_target_mm : float
    target_centre_mm : ndarray (3,)
    target_radius_mm : float
        Radius (mm) of the sphere around the centre holding the tumor.
    unreachable_by_vessel : float
        Fraction of the tumor surface whose margin target is cut by a large vessel closer than
        the target (the zone cannot extend into a vessel lumen).
    nearest_vessel_gap_mm : float or None
        Smallest distance (mm) from the tumor surface to a large-vessel voxel.
    """

    case: Case
    tumors: list[Tumor]
    target: Tumor
    eligibility: Eligibility
    anatomy: AnatomyGrid
    evaluation_grid: Grid
    target_points_mm: np.ndarray
    target_in_tumor: np.ndarray
    target_vessel_distance_mm: np.ndarray
    liver_points_mm: np.ndarray
    liver_point_volume_ml: float
    liver_vessel_distance_mm: np.ndarray
    margin_target_mm: float
    target_centre_mm: np.ndarray
    target_radius_mm: float
    unreachable_by_vessel: float = 0.0
    nearest_vessel_gap_mm: float | None = None
    notes: list[str] = field(default_factory=list)


def _image_box_mm(affine: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    corners = np.array([[i, j, k, 1.0] for i in (-0.5, shape[0] - 0.5) for j in (-0.5, shape[1] - 0.5)
                        for k in (-0.5, shape[2] - 0.5)])
    world = corners @ np.asarray(affine, dtype=float).T
    return world[:, :3].min(axis=0), world[:, :3].max(axis=0)


def _distance(mask: np.ndarray, spacing_mm: float) -> np.ndarray:
    if not mask.any():
        return np.full(mask.shape, np.inf, dtype=np.float32)
    return ndimage.distance_transform_edt(~mask, sampling=spacing_mm).astype(np.float32)


#: The anatomy grids built in this process, by a digest of their inputs (the last two): the
#: automatic planner prepares the same case more than once (an attempt with more slack, the
#: demo's second criterion), and the grid and its distance maps depend on the images only.
_ANATOMY_GRIDS: ReadOnlyCache[AnatomyGrid] = ReadOnlyCache(2, lambda anatomy: (
    anatomy.classes, anatomy.vessel_distance_mm, anatomy.obstacle_distance_mm, anatomy.other_tumors))


def _anatomy_key(classes: np.ndarray, affine: np.ndarray, other_tumor_mask: np.ndarray, spacing_mm: float) -> str:
    """SHA-256 (hex) of everything :func:`anatomy_grid` reads: arrays (type, shape, bytes) and spacing."""
    digest = hashlib.sha256(repr(float(spacing_mm)).encode("ascii"))
    for array in (classes, np.asarray(affine, dtype=float), other_tumor_mask):
        contiguous = np.ascontiguousarray(array)
        digest.update(repr((contiguous.dtype.str, contiguous.shape)).encode("ascii"))
        digest.update(contiguous.tobytes())
    return digest.hexdigest()


def anatomy_grid(classes: np.ndarray, affine: np.ndarray, other_tumor_mask: np.ndarray,
                 spacing_mm: float = 1.0) -> AnatomyGrid:
    """Resample tissue classes onto a world-aligned grid and build the distance maps.

    Built once per set of inputs in a process (:data:`_ANATOMY_GRIDS`): the arrays of the grid
    returned are shared, hence read-only.
    """
    key = _anatomy_key(classes, affine, other_tumor_mask, spacing_mm)
    return _ANATOMY_GRIDS.get(key, lambda: _build_anatomy_grid(classes, affine, other_tumor_mask, spacing_mm))


def _build_anatomy_grid(classes: np.ndarray, affine: np.ndarray, other_tumor_mask: np.ndarray,
                        spacing_mm: float) -> AnatomyGrid:
    """The anatomy grid of :func:`anatomy_grid`, computed."""
    low, high = _image_box_mm(affine, classes.shape)
    extent = high - low
    spacing = float(spacing_mm)
    while np.prod(np.ceil(extent / spacing)) > MAXIMUM_ANATOMY_VOXELS:
        spacing *= 1.25
    grid = Grid.centered(tuple(extent), spacing, tuple((low + high) / 2.0))
    world_classes = resample_labels(Volume(classes, affine, None), grid).astype(np.uint8)
    others = resample_labels(Volume(other_tumor_mask.astype(np.uint8), affine, None), grid) > 0
    vessels = world_classes == TissueClass.VESSEL
    obstacles = (world_classes == TissueClass.FORBIDDEN) | others
    return AnatomyGrid(grid, world_classes, _distance(vessels, spacing), _distance(obstacles, spacing), others)


def _grid_points(grid: Grid) -> np.ndarray:
    x, y, z = np.meshgrid(*grid.axis_coordinates_mm(), indexing="ij")
    return np.stack([x, y, z], axis=-1)


def planning_context(case: Case, search_spacing_mm: float = 2.0, liver_spacing_mm: float | None = None,
                     anatomy_spacing_mm: float = 1.0, reach_mm: float = 15.0,
                     extra_margin_mm: float = 0.0) -> PlanningContext:
    """Read a case's images and prepare the search (see the module docstring).

    Parameters
    ----------
    case : Case
    search_spacing_mm : float
        Spacing (mm) of the points to cover.
    liver_spacing_mm : float, optional
        Spacing (mm) of the healthy-liver points; default 2.5 x the search spacing.
    anatomy_spacing_mm : float
        Spacing (mm) of the anatomy grid used by the trajectory checks.
    reach_mm : float
        Healthy liver counted up to this far (mm) beyond the margin shell.
    extra_margin_mm : float
        Added to the margin target for the points to cover (a safety allowance of the search).
    """
    labels = load_labels(case.labels_path)
    mapping = LabelMapping.from_case(case.labels_table, where=f"{case.path} [labels]")
    classes, _ = mapping.to_tissue_classes(labels.data, source=str(case.labels_path))
    tumors = find_tumors(classes == TissueClass.TUMOR, labels.affine, source=str(case.labels_path))
    target = select_target(tumors, tumor_id=case.target_tumor_id, point_mm=case.target_point_mm,
                           nearest_to_mm=None if (case.target_tumor_id or case.target_point_mm)
                           else np.asarray(case.probes[0].tip_mm) if case.probes else None)
    eligibility = eligibility_verdict(target.max_diameter_mm)
    other_mask = np.zeros(labels.data.shape, dtype=bool)
    for tumor in tumors:
        if tumor.id != target.id:
            other_mask |= tumor.mask(labels.data.shape)
    anatomy = anatomy_grid(classes, labels.affine, other_mask, anatomy_spacing_mm)

    margin = float(case.margin_target_mm)
    points = target.points_mm
    centre = np.asarray(target.centroid_mm, dtype=float)
    radius = float(np.max(np.linalg.norm(points - centre, axis=1))) + 0.5 * min(np.abs(np.diag(labels.affine))[:3])
    low = points.min(axis=0) - margin - extra_margin_mm - reach_mm
    high = points.max(axis=0) + margin + extra_margin_mm + reach_mm
    grid = Grid.centered(tuple(high - low), search_spacing_mm, tuple((low + high) / 2.0))
    local_classes = resample_labels(Volume(classes, labels.affine, None), grid)
    tumor_local = resample_labels(Volume(target.mask(labels.data.shape).astype(np.uint8), labels.affine, None), grid) > 0
    if not tumor_local.any():  # a tumor smaller than the search spacing: keep its centre voxel
        tumor_local[tuple(np.clip(np.rint(grid.world_to_index(centre)).astype(int), 0, np.asarray(grid.shape) - 1))] = True
    outside = ndimage.distance_transform_edt(~tumor_local, sampling=grid.spacing_mm)
    inside_margin = outside <= margin + extra_margin_mm + 1e-6
    reachable = ~np.isin(local_classes, (TissueClass.VESSEL, TissueClass.BACKGROUND))
    world = _grid_points(grid)
    vessel_distance = lambda p: anatomy.sample(anatomy.vessel_distance_mm, p, np.inf).astype(float)  # noqa: E731
    # Points within a search voxel of a vessel lumen cannot be heated (the wall stays at blood
    # temperature): they are left out of the points to cover, and counted as unreachable.
    near_vessel = vessel_distance(world.reshape(-1, 3)).reshape(world.shape[:3]) < search_spacing_mm
    target_mask = inside_margin & (reachable | tumor_local) & ~(near_vessel & ~tumor_local)
    target_points = world[target_mask]

    liver_step = liver_spacing_mm or 2.5 * search_spacing_mm
    liver_grid = Grid.centered(tuple(high - low), liver_step, tuple((low + high) / 2.0))
    liver_classes = resample_labels(Volume(classes, labels.affine, None), liver_grid)
    liver_world = _grid_points(liver_grid)[liver_classes == TissueClass.LIVER]

    # Tumor surface points whose margin a vessel cuts: distance to a vessel below the target.
    surface = tumor_local & ~ndimage.binary_erosion(tumor_local)
    surface_points = world[surface]
    surface_vessel = vessel_distance(surface_points)
    gap = float(surface_vessel.min()) if np.isfinite(surface_vessel).any() else None
    cut = float(np.mean(surface_vessel < margin)) if surface_points.size else 0.0
    context = PlanningContext(
        case=case, tumors=list(tumors), target=target, eligibility=eligibility, anatomy=anatomy,
        evaluation_grid=grid, target_points_mm=target_points, target_in_tumor=tumor_local[target_mask],
        target_vessel_distance_mm=vessel_distance(target_points), liver_points_mm=liver_world,
        liver_point_volume_ml=liver_step**3 * 1e-3, liver_vessel_distance_mm=vessel_distance(liver_world),
        margin_target_mm=margin, target_centre_mm=centre, target_radius_mm=radius,
        unreachable_by_vessel=cut, nearest_vessel_gap_mm=None if gap is None or not math.isfinite(gap) else gap,
    )
    return context


__all__ = ["AnatomyGrid", "PlanningContext", "anatomy_grid", "planning_context"]
