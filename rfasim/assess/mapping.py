"""Mapping the post-ablation images into the pre-ablation space with the registration.

Everything measured lives on a *measurement grid*: an isotropic, world-aligned
:class:`~rfasim.grid.Grid` in the pre-ablation space around the tumor and the mapped zone, at the
finer of the two scans' voxel sizes (0.5 to 2 mm).  The zone is carried over as a continuous field
(its 0/1 mask sampled trilinearly at the registered points), so that the margin code measures its
boundary below the voxel, at the field's 0.5 level.  The outputs written beside the pre-ablation
scan (``zone_in_pre.nii.gz``, ``post_in_pre.nii.gz``) are sampled on its own voxel grid.
"""

from __future__ import annotations

import math

import numpy as np

from rfasim.assess.inputs import AssessmentInputs
from rfasim.assess.registration import RegistrationResult
from rfasim.assess.sitk_bridge import resample, to_sitk, transform_points_ras
from rfasim.grid import Grid
from rfasim.imaging import resample_to_grid, simulation_grid
from rfasim.imaging.io import corner_points_mm

#: Added around the tumor and the mapped zone on every side of the measurement grid (mm).
MEASUREMENT_MARGIN_MM = 15.0
#: Voxel size bounds of the measurement grid (mm).
FINEST_SPACING_MM, COARSEST_SPACING_MM = 0.5, 2.0
#: Largest number of voxels of the measurement grid (the spacing grows to stay below it).
MAXIMUM_MEASUREMENT_VOXELS = 8_000_000
#: Hounsfield units of air, outside a scan.
AIR_HU = -1000.0


def mask_corners_mm(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """World corners (mm) of the voxel bounding box of a mask's foreground.

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape (nx, ny, nz)
        The mask; it must hold at least one voxel.
    affine : numpy.ndarray, shape (4, 4)
        Voxel indices onto world mm.

    Returns
    -------
    numpy.ndarray, shape (8, 3)
        The eight corners of the box around the foreground voxels (their outer faces, half a
        voxel beyond the centres), world mm.
    """
    indices = np.argwhere(mask)
    low, high = indices.min(axis=0) - 0.5, indices.max(axis=0) + 0.5
    corners = np.array(
        [[a, b, c] for a in (low[0], high[0]) for b in (low[1], high[1]) for c in (low[2], high[2])]
    )
    return corners @ affine[:3, :3].T + affine[:3, 3]


def measurement_grid(
    inputs: AssessmentInputs,
    registration: RegistrationResult,
    spacing_mm: float | None = None,
    margin_mm: float = MEASUREMENT_MARGIN_MM,
) -> Grid:
    """The grid the margin is measured on (pre-ablation space), see the module notes.

    The zone's extent in the pre-ablation space is estimated from its bounding box mapped by the
    inverse of the rigid part (the deformable part stays within ``margin_mm`` of it).

    Parameters
    ----------
    inputs : AssessmentInputs
        The assessment's scans and masks.
    registration : RegistrationResult
        The registration of the post-ablation scan onto the pre-ablation one.
    spacing_mm : float, optional
        Voxel size (mm); default: the finer scan's, within [0.5, 2] mm.
    margin_mm : float
        Margin (mm) around the tumor and the zone.

    Returns
    -------
    Grid
        Isotropic, world-aligned, coarsened until it holds at most
        :data:`MAXIMUM_MEASUREMENT_VOXELS` voxels.
    """
    if spacing_mm is None:
        native = min(float(inputs.pre.spacing_mm.min()), float(inputs.post.spacing_mm.min()))
        spacing_mm = min(max(native, FINEST_SPACING_MM), COARSEST_SPACING_MM)
    zone_corners_post = mask_corners_mm(inputs.zone_mask, inputs.post.affine)
    zone_corners_pre = transform_points_ras(registration.rigid.GetInverse(), zone_corners_post)
    points = np.concatenate(
        [mask_corners_mm(inputs.tumor_mask, inputs.pre.affine), zone_corners_pre]
    )
    while True:
        grid = simulation_grid(inputs.pre.affine, inputs.pre.shape, points, margin_mm, spacing_mm)
        if grid.size <= MAXIMUM_MEASUREMENT_VOXELS:
            return grid
        spacing_mm *= math.ceil(10.0 * (grid.size / MAXIMUM_MEASUREMENT_VOXELS) ** (1 / 3)) / 10.0


def tumor_on_grid(inputs: AssessmentInputs, grid: Grid) -> np.ndarray:
    """The tumor mask sampled onto ``grid`` (trilinear, level 0.5).

    Parameters
    ----------
    inputs : AssessmentInputs
        The assessment's scans and masks.
    grid : Grid
        Target grid (pre-ablation space).

    Returns
    -------
    numpy.ndarray of bool, shape ``grid.shape``
    """
    return (
        resample_to_grid(inputs.tumor_mask.astype(np.float32), inputs.pre.affine, grid, 1, 0.0)
        >= 0.5
    )


def mask_on_grid(mask: np.ndarray, affine: np.ndarray, grid: Grid) -> np.ndarray:
    """Any pre-ablation mask sampled onto ``grid`` (trilinear, level 0.5).

    Parameters
    ----------
    mask : numpy.ndarray of bool
        The mask on its scan's voxel grid.
    affine : numpy.ndarray, shape (4, 4)
        That scan's voxel-to-world RAS+ mm affine.
    grid : Grid
        Target grid (world mm).

    Returns
    -------
    numpy.ndarray of bool, shape ``grid.shape``
    """
    return resample_to_grid(mask.astype(np.float32), affine, grid, 1, 0.0) >= 0.5


def pre_ct_on_grid(inputs: AssessmentInputs, grid: Grid) -> np.ndarray:
    """The pre-ablation CT (HU) on ``grid``, trilinear.

    Parameters
    ----------
    inputs : AssessmentInputs
        The assessment's scans and masks.
    grid : Grid
        Target grid (pre-ablation space).

    Returns
    -------
    numpy.ndarray, shape ``grid.shape``
        HU; -1000 (air) outside the scan.
    """
    return resample_to_grid(inputs.pre.data, inputs.pre.affine, grid, 1, AIR_HU)


def zone_field_on(
    inputs: AssessmentInputs,
    registration: RegistrationResult,
    shape: tuple[int, ...],
    affine: np.ndarray,
) -> np.ndarray:
    """The post-ablation zone mask (0/1) sampled trilinearly at the registered points.

    Parameters
    ----------
    inputs : AssessmentInputs
        The assessment's scans and masks.
    registration : RegistrationResult
        The registration of the post-ablation scan onto the pre-ablation one.
    shape : tuple of int
        Voxel counts of the target grid (pre-ablation space).
    affine : numpy.ndarray, shape (4, 4)
        Its voxel-to-world RAS+ mm affine.

    Returns
    -------
    numpy.ndarray of float32, shape ``shape``
        Values in [0, 1] whose 0.5 level is the zone's boundary; 0 where the registered points
        leave the post-ablation scan.
    """
    zone = to_sitk(inputs.zone_mask.astype(np.float32), inputs.post.affine)
    return resample(zone, registration.transform, shape, affine, linear=True, fill=0.0)


def post_ct_on(
    inputs: AssessmentInputs,
    registration: RegistrationResult,
    shape: tuple[int, ...],
    affine: np.ndarray,
) -> np.ndarray:
    """The post-ablation CT (HU) in the pre-ablation space, trilinear, air outside the scan.

    Parameters
    ----------
    inputs : AssessmentInputs
        The assessment's scans and masks.
    registration : RegistrationResult
        The registration of the post-ablation scan onto the pre-ablation one.
    shape : tuple of int
        Voxel counts of the target grid (pre-ablation space).
    affine : numpy.ndarray, shape (4, 4)
        Its voxel-to-world RAS+ mm affine.

    Returns
    -------
    numpy.ndarray, shape ``shape``
        HU; -1000 (air) where the registered points leave the post-ablation scan.
    """
    image = to_sitk(inputs.post.data, inputs.post.affine)
    return resample(image, registration.transform, shape, affine, linear=True, fill=AIR_HU)


def inside_post_fraction(
    inputs: AssessmentInputs, registration: RegistrationResult, points_mm: np.ndarray
) -> float:
    """Fraction of pre-ablation points whose registered position lies inside the post scan.

    Parameters
    ----------
    inputs : AssessmentInputs
        The assessment's scans and masks.
    registration : RegistrationResult
        The registration of the post-ablation scan onto the pre-ablation one.
    points_mm : numpy.ndarray, shape (n, 3)
        Pre-ablation world RAS+ points (mm).

    Returns
    -------
    float
        In [0, 1]; 0 for no points.
    """
    mapped = registration.map_points(points_mm)
    indices = mapped @ np.linalg.inv(inputs.post.affine)[:3, :3].T + np.linalg.inv(
        inputs.post.affine
    )[:3, 3]
    inside = np.all((indices >= -0.5) & (indices <= np.asarray(inputs.post.shape) - 0.5), axis=1)
    return float(inside.mean()) if inside.size else 0.0


def boxes_overlap_mm(inputs: AssessmentInputs) -> tuple[bool, float]:
    """Whether the two scans' world boxes overlap, and the gap between them (mm, 0 if they do).

    Parameters
    ----------
    inputs : AssessmentInputs
        The assessment's scans and masks.

    Returns
    -------
    overlap : bool
        The boxes overlap (or touch).
    gap_mm : float
        Distance (mm) between the boxes.
    """
    pre = corner_points_mm(inputs.pre.affine, inputs.pre.shape)
    post = corner_points_mm(inputs.post.affine, inputs.post.shape)
    gap = np.maximum(0.0, np.maximum(pre.min(0) - post.max(0), post.min(0) - pre.max(0)))
    distance = float(np.linalg.norm(gap))
    return distance == 0.0, distance
