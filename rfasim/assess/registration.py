"""Registration of the post-ablation image onto the pre-ablation one, with SimpleITK.

Method
------
Both images are resampled (trilinear) onto isotropic, world-aligned grids at the finest level's
spacing: the pre-ablation (fixed) image over its *registration region* (the liver grown by
``liver_margin_mm`` when a liver label is given, else the tumor grown by ``region_margin_mm``),
the post-ablation (moving) image over that region grown by ``search_margin_mm``.  Anisotropic and
oblique scans therefore register the same way as isotropic ones.

- **Rigid** (default): a 6-parameter Euler transform centred on the tumor, started from the
  identity (the two scans are assumed to share the scanner's frame of reference, as two scans of
  one session do), optimised by regular-step gradient descent on Mattes mutual information (or
  mean squares) over a three-level pyramid (8, 4, 2 mm voxels, Gaussian smoothing of half the
  voxel size), with the metric restricted to the liver region (fixed mask) and the ablation zone
  (grown by ``zone_exclusion_mm``) left out of the post-ablation image (moving mask): the zone is
  exactly where the two scans legitimately differ.
- **Deformable** (``deformable=True``): after the rigid step, a cubic B-spline transform
  (control points about ``bspline_spacing_mm`` apart over the registration region, 60 mm by
  default) is optimised by L-BFGS-B on the same metric over two levels (4, 2 mm), composed after
  the rigid one.  The ablation zone hides the tissue it covers, so the deformation inside it is
  only what the spline carries in from around it: SimpleITK's B-spline registration has no
  bending-energy penalty, and finer meshes (40 mm measured on the phantoms) leave control
  points that the zone hides free to drift by several millimetres.  The coarse mesh is the
  regularisation.

The result maps points of the pre-ablation image onto the post-ablation image (SimpleITK's
fixed-to-moving convention), which is what resampling the post-ablation segmentation into the
pre-ablation space needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from rfasim.assess.sitk_bridge import (
    RAS_TO_LPS,
    import_simpleitk,
    resample,
    to_sitk,
    transform_points_ras,
)
from rfasim.errors import ImageError, InputError
from rfasim.grid import Grid
from rfasim.imaging import Volume, corner_points_mm, resample_to_grid, simulation_grid

if TYPE_CHECKING:
    import SimpleITK

METRICS = ("mutual_information", "mean_squares")


@dataclass(frozen=True)
class RegistrationSettings:
    """How the post-ablation image is registered onto the pre-ablation one.

    Attributes
    ----------
    deformable : bool
        Add a B-spline step after the rigid one.
    metric : {"mutual_information", "mean_squares"}
        Similarity metric: Mattes mutual information (robust to contrast differences between the
        scans) or mean squared HU difference (same contrast phase).
    levels_mm : tuple of float
        Voxel size (mm) of each level of the rigid pyramid, coarse to fine.
    deformable_levels_mm : tuple of float
        Voxel size (mm) of each level of the B-spline step.
    liver_margin_mm : float
        The fixed mask is the liver grown by this distance (mm): the liver's outline is part of
        what aligns the scans.
    region_margin_mm : float
        Without a liver label, the registration region is the tumor grown by this (mm).
    search_margin_mm : float
        The post-ablation image is taken over the registration region grown by this (mm): the
        largest motion between the scans that can be recovered.
    zone_exclusion_mm : float
        The ablation zone grown by this (mm) is left out of the metric in the post-ablation image.
    bspline_spacing_mm : float
        Approximate distance (mm) between B-spline control points.
    intensity_window_hu : tuple of float
        Both scans are clipped to this soft-tissue window (HU) before registration, so that the
        metric's histogram resolves liver, vessels and tumor instead of spending its bins on air
        and bone.
    iterations : int
        Most iterations per level.
    sampling_fraction : float
        Fraction of the masked voxels sampled by the metric at each iteration (random, seeded).
    seed : int
        Seed of the metric's sampling: the same inputs give the same transform.
    """

    deformable: bool = False
    metric: str = "mutual_information"
    levels_mm: tuple[float, ...] = (8.0, 4.0, 2.0)
    deformable_levels_mm: tuple[float, ...] = (4.0, 2.0)
    liver_margin_mm: float = 10.0
    region_margin_mm: float = 40.0
    search_margin_mm: float = 40.0
    zone_exclusion_mm: float = 4.0
    bspline_spacing_mm: float = 60.0
    intensity_window_hu: tuple[float, float] = (-150.0, 250.0)
    iterations: int = 200
    sampling_fraction: float = 0.3
    seed: int = 7

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise InputError(f"registration metric must be one of {METRICS}, got {self.metric!r}")
        for name in ("levels_mm", "deformable_levels_mm"):
            levels = getattr(self, name)
            if not levels or any(not np.isfinite(v) or v <= 0 for v in levels):
                raise InputError(f"registration {name} must be positive voxel sizes, got {levels}")
        if not 0 < self.sampling_fraction <= 1:
            raise InputError(
                f"registration sampling_fraction must be in (0, 1], got {self.sampling_fraction}"
            )

    @property
    def finest_mm(self) -> float:
        """Voxel size (mm) of the registration grids: the finest level of either step."""
        return float(min((*self.levels_mm, *self.deformable_levels_mm)))


@dataclass
class RegistrationImages:
    """The resampled images and masks a registration runs on (world-aligned, isotropic).

    Attributes
    ----------
    fixed_grid, moving_grid : Grid
        Grids of the pre-ablation (fixed) region and of the post-ablation (moving) search region.
    fixed, moving : SimpleITK.Image
        CT values (HU, float32) on those grids.
    fixed_mask, moving_mask : ndarray of bool
        Where the metric is evaluated: the liver region in the pre-ablation image, everything
        but the grown ablation zone (and the outside of the image) in the post-ablation one.
    moving_zone : ndarray of bool
        The ablation zone on the moving grid.
    moving_inside : ndarray of bool
        Voxels of the moving grid inside the post-ablation scan.
    centre_mm : ndarray
        World RAS+ mm point the rigid transform rotates about (the tumor centroid).
    """

    fixed_grid: Grid
    moving_grid: Grid
    fixed: SimpleITK.Image
    moving: SimpleITK.Image
    fixed_mask: np.ndarray
    moving_mask: np.ndarray
    moving_zone: np.ndarray
    moving_inside: np.ndarray
    centre_mm: np.ndarray


@dataclass
class RegistrationResult:
    """A registration of the post-ablation image onto the pre-ablation one.

    Attributes
    ----------
    transform : SimpleITK.Transform
        Maps pre-ablation world points onto post-ablation world points (LPS+ inside SimpleITK;
        use :meth:`map_points` for RAS+ points).
    rigid : SimpleITK.Euler3DTransform
        The rigid part (the whole transform unless deformable).
    method : str
        ``"rigid"`` or ``"rigid+bspline"``.
    settings : RegistrationSettings
    metric_values : list of float
        Final metric value of each step (lower is better for both metrics in SimpleITK).
    iterations : list of int
        Iterations of the last level of each step.
    stop_conditions : list of str
        The optimiser's stop condition of each step.
    wall_s : float
        Seconds spent registering.
    images : RegistrationImages
        What the registration ran on (reused by the quality check).
    """

    transform: SimpleITK.Transform
    rigid: SimpleITK.Euler3DTransform
    method: str
    settings: RegistrationSettings
    metric_values: list[float] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)
    stop_conditions: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    images: RegistrationImages | None = None

    def map_points(self, points_mm: np.ndarray) -> np.ndarray:
        """Post-ablation world RAS+ mm of pre-ablation world RAS+ points (mm), shape (..., 3).

        Parameters
        ----------
        points_mm : numpy.ndarray, shape (..., 3)
            Pre-ablation world RAS+ points (mm).

        Returns
        -------
        numpy.ndarray, shape (..., 3)
            The same anatomy in the post-ablation scan, world RAS+ mm.
        """
        return transform_points_ras(self.transform, points_mm)

    def rigid_matrix_ras(self) -> np.ndarray:
        """The rigid part as a 4x4 RAS+ matrix: post point = M @ [pre point, 1].

        Returns
        -------
        numpy.ndarray, shape (4, 4)
            Rotation (dimensionless) and translation (mm) in homogeneous form.
        """
        matrix = np.asarray(self.rigid.GetMatrix(), dtype=float).reshape(3, 3)
        centre = np.asarray(self.rigid.GetCenter(), dtype=float)
        translation = np.asarray(self.rigid.GetTranslation(), dtype=float)
        lps = np.eye(4)
        lps[:3, :3] = matrix
        lps[:3, 3] = translation + centre - matrix @ centre
        flip = np.diag([*np.diag(RAS_TO_LPS), 1.0])
        return flip @ lps @ flip

    def summary(self, at_mm: np.ndarray) -> dict[str, Any]:
        """JSON-ready description: method, rotation, displacement at a point (the tumor).

        Parameters
        ----------
        at_mm : numpy.ndarray, shape (3,)
            World RAS+ point (mm) where the displacement is reported (the tumor's centroid).

        Returns
        -------
        dict
            ``assessment.json["registration"]`` (angles in degrees, distances in mm).
        """
        matrix = self.rigid_matrix_ras()
        rotation = matrix[:3, :3]
        angle = float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1, 1))))
        axis = np.array(
            [
                rotation[2, 1] - rotation[1, 2],
                rotation[0, 2] - rotation[2, 0],
                rotation[1, 0] - rotation[0, 1],
            ]
        )
        norm = float(np.linalg.norm(axis))
        point = np.asarray(at_mm, dtype=float)
        rigid_displacement = rotation @ point + matrix[:3, 3] - point
        total_displacement = self.map_points(point) - point
        settings = self.settings
        return {
            "method": self.method,
            "library": f"SimpleITK {import_simpleitk().Version_VersionString()}",
            "metric": settings.metric,
            "levels_mm": list(settings.levels_mm),
            "deformable_levels_mm": list(settings.deformable_levels_mm)
            if settings.deformable
            else None,
            "bspline_spacing_mm": settings.bspline_spacing_mm if settings.deformable else None,
            "initialisation": "identity (scans share the scanner frame of reference)",
            "rotation_deg": angle,
            "rotation_axis": (axis / norm).tolist() if norm > 1e-12 else None,
            "rigid_matrix_ras": matrix.tolist(),
            "rigid_displacement_at_tumor_mm": rigid_displacement.tolist(),
            "displacement_at_tumor_mm": total_displacement.tolist(),
            "metric_values": [float(v) for v in self.metric_values],
            "iterations": [int(v) for v in self.iterations],
            "stop_conditions": list(self.stop_conditions),
            "wall_s": round(float(self.wall_s), 3),
        }


# -- images ------------------------------------------------------------------------------------
def _box_points(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """World corners (mm) of the voxel bounding box of a mask."""
    indices = np.argwhere(mask)
    low, high = indices.min(axis=0) - 0.5, indices.max(axis=0) + 0.5
    corners = np.array([[a, b, c] for a in (low[0], high[0]) for b in (low[1], high[1])
                        for c in (low[2], high[2])])
    return corners @ affine[:3, :3].T + affine[:3, 3]


def _mask_on_grid(mask: np.ndarray, affine: np.ndarray, grid: Grid) -> np.ndarray:
    """A boolean mask sampled (trilinear, level 0.5) onto a grid."""
    return resample_to_grid(mask.astype(np.float32), affine, grid, order=1, fill=0.0) >= 0.5


def _inside_image(volume: Volume, grid: Grid) -> np.ndarray:
    """Voxels of ``grid`` whose centre lies inside the image's voxel box."""
    to_index = np.linalg.inv(volume.affine) @ grid.affine
    axes = [np.arange(n, dtype=float) for n in grid.shape]
    inside = np.ones(grid.shape, dtype=bool)
    for row in range(3):
        # Continuous index along the image's axis ``row``: linear in the grid's (i, j, k).
        value = (
            to_index[row, 0] * axes[0][:, None, None]
            + to_index[row, 1] * axes[1][None, :, None]
            + to_index[row, 2] * axes[2][None, None, :]
            + to_index[row, 3]
        )
        inside &= (value >= -0.5) & (value <= volume.shape[row] - 0.5)
    return inside


def prepare_images(
    pre: Volume,
    post: Volume,
    tumor_mask: np.ndarray,
    zone_mask_post: np.ndarray,
    liver_mask: np.ndarray | None,
    centre_mm: np.ndarray,
    settings: RegistrationSettings,
) -> RegistrationImages:
    """Resample the two scans and their masks onto the registration grids.

    Parameters
    ----------
    pre, post : Volume
        Pre- and post-ablation CT (HU).
    tumor_mask : ndarray of bool
        The tumor, on the pre-ablation image's grid.
    zone_mask_post : ndarray of bool
        The ablation zone, on the post-ablation image's grid.
    liver_mask : ndarray of bool, optional
        The liver (tumor included), on the pre-ablation image's grid.
    centre_mm : ndarray
        World RAS+ mm centre of rotation (the tumor centroid).
    settings : RegistrationSettings
        Grid spacing (mm), margins (mm) and zone exclusion (mm).

    Returns
    -------
    RegistrationImages

    Raises
    ------
    ImageError
        The registration region lies outside the post-ablation image.
    """
    spacing = settings.finest_mm
    if liver_mask is not None and liver_mask.any():
        points = _box_points(liver_mask, pre.affine)
        margin = settings.liver_margin_mm
    else:
        points = _box_points(tumor_mask, pre.affine)
        margin = settings.region_margin_mm
    fixed_grid = simulation_grid(pre.affine, pre.shape, points, margin, spacing)
    lower, upper = _grid_box(fixed_grid)
    corners = np.array([[a, b, c] for a in (lower[0], upper[0]) for b in (lower[1], upper[1])
                        for c in (lower[2], upper[2])])
    try:
        moving_grid = simulation_grid(
            post.affine, post.shape, corners, settings.search_margin_mm, spacing
        )
    except ImageError:
        raise ImageError(
            f"{post.name}: the post-ablation image does not cover the pre-ablation registration "
            "region (the scans do not overlap)"
        ) from None
    low, high = settings.intensity_window_hu
    fixed_hu = np.clip(resample_to_grid(pre.data, pre.affine, fixed_grid, order=1), low, high)
    moving_hu = np.clip(resample_to_grid(post.data, post.affine, moving_grid, order=1), low, high)
    if liver_mask is not None and liver_mask.any():
        liver = _mask_on_grid(liver_mask, pre.affine, fixed_grid)
        grow = max(1, round(float(settings.liver_margin_mm / spacing)))
        fixed_mask = ndimage.binary_dilation(liver, iterations=grow)
    else:
        fixed_mask = np.ones(fixed_grid.shape, dtype=bool)
    fixed_mask &= _inside_image(pre, fixed_grid)
    zone = _mask_on_grid(zone_mask_post, post.affine, moving_grid)
    grow = max(1, round(float(settings.zone_exclusion_mm / spacing)))
    moving_inside = _inside_image(post, moving_grid)
    moving_mask = ~ndimage.binary_dilation(zone, iterations=grow) & moving_inside
    return RegistrationImages(
        fixed_grid=fixed_grid,
        moving_grid=moving_grid,
        fixed=to_sitk(fixed_hu, fixed_grid.affine),
        moving=to_sitk(moving_hu, moving_grid.affine),
        fixed_mask=fixed_mask,
        moving_mask=moving_mask,
        moving_zone=zone,
        moving_inside=moving_inside,
        centre_mm=np.asarray(centre_mm, dtype=float),
    )


def _grid_box(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    corners = corner_points_mm(grid.affine, grid.shape)
    return corners.min(axis=0), corners.max(axis=0)


# -- registration ------------------------------------------------------------------------------
def _method(
    images: RegistrationImages,
    settings: RegistrationSettings,
    levels_mm: tuple[float, ...],
    sampling_fraction: float,
    fixed_mask: np.ndarray | None = None,
) -> SimpleITK.ImageRegistrationMethod:
    sitk = import_simpleitk()
    method = sitk.ImageRegistrationMethod()
    if settings.metric == "mutual_information":
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    else:
        method.SetMetricAsMeanSquares()
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(float(sampling_fraction), int(settings.seed))
    method.SetInterpolator(sitk.sitkLinear)
    mask = images.fixed_mask if fixed_mask is None else fixed_mask
    method.SetMetricFixedMask(to_sitk(mask, images.fixed_grid.affine))
    method.SetMetricMovingMask(to_sitk(images.moving_mask, images.moving_grid.affine))
    finest = settings.finest_mm
    shrink = [max(1, round(float(level / finest))) for level in levels_mm]
    method.SetShrinkFactorsPerLevel(shrink)
    method.SetSmoothingSigmasPerLevel([0.5 * level for level in levels_mm])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    return method


def _centre_lps(centre_mm: np.ndarray) -> tuple[float, float, float]:
    x, y, z = (float(v) for v in RAS_TO_LPS @ np.asarray(centre_mm, dtype=float))
    return x, y, z


def register_rigid(
    images: RegistrationImages,
    settings: RegistrationSettings,
    initial: SimpleITK.Euler3DTransform | None = None,
) -> tuple[SimpleITK.Euler3DTransform, float, int, str]:
    """Rigid registration; returns (Euler3D transform, metric value, iterations, stop condition).

    Parameters
    ----------
    images : RegistrationImages
        The resampled scans and masks.
    settings : RegistrationSettings
        Metric, levels (mm), iterations and seed.
    initial : SimpleITK.Euler3DTransform, optional
        The starting transform (default: the identity about the tumor).

    Returns
    -------
    transform : SimpleITK.Euler3DTransform
        Maps fixed (pre-ablation) LPS points onto moving (post-ablation) ones.
    metric_value : float
        Final metric value (lower is better).
    iterations : int
        Iterations of the last level.
    stop_condition : str
        The optimiser's stop condition.
    """
    sitk = import_simpleitk()
    method = _method(images, settings, settings.levels_mm, settings.sampling_fraction)
    if initial is None:
        initial = sitk.Euler3DTransform()
        initial.SetCenter(_centre_lps(images.centre_mm))
    method.SetInitialTransform(initial, inPlace=False)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0,
        minStep=1e-3,
        numberOfIterations=int(settings.iterations),
        relaxationFactor=0.6,
        gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    result = method.Execute(images.fixed, images.moving)
    while result.GetName() == "CompositeTransform":
        result = result.GetNthTransform(0)
    rigid = result.Downcast()
    return (
        rigid,
        float(method.GetMetricValue()),
        int(method.GetOptimizerIteration()),
        str(method.GetOptimizerStopConditionDescription()),
    )


def _zone_in_fixed(
    images: RegistrationImages, transform: SimpleITK.Transform, exclusion_mm: float
) -> np.ndarray:
    """The post-ablation zone mapped onto the fixed grid by ``transform``, grown (mm)."""
    grid = images.fixed_grid
    zone = (
        resample(
            to_sitk(images.moving_zone.astype(np.float32), images.moving_grid.affine),
            transform,
            grid.shape,
            grid.affine,
        )
        >= 0.5
    )
    grow = max(1, round(float(exclusion_mm / grid.spacing_mm)))
    return ndimage.binary_dilation(zone, iterations=grow)


def register_bspline(
    images: RegistrationImages, settings: RegistrationSettings, rigid: SimpleITK.Euler3DTransform
) -> tuple[SimpleITK.CompositeTransform, float, int, str]:
    """B-spline step after ``rigid``; returns (composite transform, metric, iterations, stop).

    The ablation zone is left out in the *fixed* image (mapped there by the rigid step) rather
    than in the moving one: with a moving mask a deformable transform could lower the metric by
    warping badly matching tissue into the excluded region.

    Parameters
    ----------
    images : RegistrationImages
        The resampled scans and masks.
    settings : RegistrationSettings
        Metric, deformable levels (mm), control point spacing (mm), iterations and seed.
    rigid : SimpleITK.Euler3DTransform
        The rigid step's result.

    Returns
    -------
    transform : SimpleITK.CompositeTransform
        The B-spline, then ``rigid``.
    metric_value : float
        Final metric value (lower is better).
    iterations : int
        Iterations of the last level.
    stop_condition : str
        The optimiser's stop condition.
    """
    sitk = import_simpleitk()
    fixed_mask = images.fixed_mask & ~_zone_in_fixed(
        images, rigid, settings.zone_exclusion_mm + 2.0
    )
    method = _method(
        images, settings, settings.deformable_levels_mm, settings.sampling_fraction, fixed_mask
    )
    method.SetMetricMovingMask(to_sitk(images.moving_inside, images.moving_grid.affine))
    extent = np.asarray(images.fixed_grid.shape) * images.fixed_grid.spacing_mm
    mesh = [max(1, round(float(e / settings.bspline_spacing_mm))) for e in extent]
    bspline = sitk.BSplineTransformInitializer(images.fixed, mesh, 3)
    method.SetMovingInitialTransform(rigid)
    method.SetInitialTransform(bspline, inPlace=True)
    method.SetOptimizerAsLBFGSB(
        gradientConvergenceTolerance=1e-5,
        numberOfIterations=int(settings.iterations),
        maximumNumberOfCorrections=5,
        maximumNumberOfFunctionEvaluations=4 * int(settings.iterations),
        costFunctionConvergenceFactor=1e7,
    )
    method.Execute(images.fixed, images.moving)
    composite = sitk.CompositeTransform([rigid, bspline])  # bspline applied first, then rigid
    return (
        composite,
        float(method.GetMetricValue()),
        int(method.GetOptimizerIteration()),
        str(method.GetOptimizerStopConditionDescription()),
    )


def register(
    pre: Volume,
    post: Volume,
    tumor_mask: np.ndarray,
    zone_mask_post: np.ndarray,
    liver_mask: np.ndarray | None,
    centre_mm: np.ndarray,
    settings: RegistrationSettings | None = None,
) -> RegistrationResult:
    """Register the post-ablation CT onto the pre-ablation CT (see the module notes).

    Parameters
    ----------
    pre, post : Volume
        Pre- and post-ablation CT (HU), each with its own affine.
    tumor_mask : ndarray of bool
        The target tumor on the pre-ablation image's grid.
    zone_mask_post : ndarray of bool
        The ablation zone on the post-ablation image's grid (left out of the metric).
    liver_mask : ndarray of bool, optional
        The liver on the pre-ablation image's grid: restricts the metric to the liver region.
    centre_mm : ndarray
        World RAS+ mm centre of rotation (the tumor centroid).
    settings : RegistrationSettings, optional

    Returns
    -------
    RegistrationResult
        Its transform maps pre-ablation points onto post-ablation points.

    Examples
    --------
    >>> result = register(pre, post, tumor, zone, liver, centroid)  # doctest: +SKIP
    >>> result.map_points(centroid)  # doctest: +SKIP
    """
    settings = settings or RegistrationSettings()
    start = time.perf_counter()
    images = prepare_images(pre, post, tumor_mask, zone_mask_post, liver_mask, centre_mm, settings)
    rigid, value, iterations, stop = register_rigid(images, settings)
    result = RegistrationResult(
        transform=rigid,
        rigid=rigid,
        method="rigid",
        settings=settings,
        metric_values=[value],
        iterations=[iterations],
        stop_conditions=[stop],
        images=images,
    )
    if settings.deformable:
        composite, value, iterations, stop = register_bspline(images, settings, rigid)
        result.transform = composite
        result.method = "rigid+bspline"
        result.metric_values.append(value)
        result.iterations.append(iterations)
        result.stop_conditions.append(stop)
    result.wall_s = time.perf_counter() - start
    return result
