"""Between rfasim's world (arrays, RAS+ mm affines) and SimpleITK's (images, LPS+ mm).

rfasim keeps images as a voxel array indexed ``(i, j, k)`` with a 4x4 affine onto world RAS+ mm
(as NIfTI defines it).  SimpleITK, like DICOM and ITK, places images in patient LPS+ mm with an
origin, a spacing and a direction matrix, and stores the array as ``(k, j, i)``.  These helpers
convert images both ways and apply SimpleITK transforms to RAS+ points, so that nothing outside
this module needs to know about LPS.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from rfasim.errors import ImageError
from rfasim.grid import Grid
from rfasim.imaging import Volume

if TYPE_CHECKING:
    import SimpleITK

#: Flip between RAS+ and LPS+ coordinates (its own inverse).
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])

#: Largest tolerated departure from orthogonality of an affine's voxel axes (SimpleITK needs
#: an orthonormal direction matrix: a sheared affine cannot be represented).
ORTHOGONALITY_TOLERANCE = 1e-4


def import_simpleitk() -> ModuleType:
    """SimpleITK, or an :class:`ImageError` saying how to install it.

    Returns
    -------
    types.ModuleType
        The ``SimpleITK`` module.

    Raises
    ------
    ImageError
        SimpleITK is not installed.
    """
    try:
        import SimpleITK
    except ImportError:  # pragma: no cover - SimpleITK is a dependency
        raise ImageError(
            "image registration needs SimpleITK; install it with `pip install SimpleITK`"
        ) from None
    return SimpleITK


def geometry_from_affine(
    affine: np.ndarray, name: str = "<memory>"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SimpleITK origin, spacing and direction (LPS+) of a RAS+ voxel-to-world affine.

    Parameters
    ----------
    affine : numpy.ndarray, shape (4, 4)
        Voxel indices onto world RAS+ mm.
    name : str
        The image's name, for the error message.

    Returns
    -------
    origin : numpy.ndarray, shape (3,)
        World LPS+ position (mm) of voxel (0, 0, 0).
    spacing : numpy.ndarray, shape (3,)
        Voxel size (mm) along i, j, k.
    direction : numpy.ndarray, shape (3, 3)
        Unit voxel axes in LPS+ (columns).

    Raises
    ------
    ImageError
        The voxel axes are not orthogonal (a sheared affine has no SimpleITK equivalent).
    """
    affine = np.asarray(affine, dtype=float)
    columns = RAS_TO_LPS @ affine[:3, :3]
    spacing = np.linalg.norm(columns, axis=0)
    direction = columns / spacing
    if np.max(np.abs(direction.T @ direction - np.eye(3))) > ORTHOGONALITY_TOLERANCE:
        raise ImageError(f"{name}: the voxel axes are not orthogonal (sheared affine)")
    origin = RAS_TO_LPS @ affine[:3, 3]
    return origin, spacing, direction


def to_sitk(data: np.ndarray, affine: np.ndarray, name: str = "<memory>") -> SimpleITK.Image:
    """A SimpleITK image (float32 for floats, uint8 for booleans) of an array and its RAS affine.

    Parameters
    ----------
    data : numpy.ndarray
        Voxel values indexed ``(i, j, k)``: boolean, ``uint8``, or anything cast to float32.
    affine : numpy.ndarray, shape (4, 4)
        Voxel indices onto world RAS+ mm.
    name : str
        The image's name, for error messages.

    Returns
    -------
    SimpleITK.Image

    Raises
    ------
    ImageError
        A sheared affine (see :func:`geometry_from_affine`).
    """
    sitk = import_simpleitk()
    array = np.asarray(data)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    elif array.dtype != np.uint8:
        array = array.astype(np.float32)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)))
    origin, spacing, direction = geometry_from_affine(affine, name)
    image.SetOrigin(tuple(float(v) for v in origin))
    image.SetSpacing(tuple(float(v) for v in spacing))
    image.SetDirection(tuple(float(v) for v in direction.ravel()))
    return image


def volume_to_sitk(volume: Volume) -> SimpleITK.Image:
    """A SimpleITK image of a :class:`~rfasim.imaging.Volume`.

    Parameters
    ----------
    volume : Volume
        Voxel data and its RAS+ mm affine.

    Returns
    -------
    SimpleITK.Image
        As :func:`to_sitk` makes it.
    """
    return to_sitk(volume.data, volume.affine, volume.name)


def from_sitk(image: SimpleITK.Image) -> np.ndarray:
    """The voxel array of a SimpleITK image, indexed ``(i, j, k)`` like rfasim's.

    Parameters
    ----------
    image : SimpleITK.Image
        Any scalar image.

    Returns
    -------
    numpy.ndarray
        C-contiguous copy in the image's pixel type.
    """
    sitk = import_simpleitk()
    return np.ascontiguousarray(sitk.GetArrayFromImage(image).transpose(2, 1, 0))


def affine_of(image: SimpleITK.Image) -> np.ndarray:
    """The RAS+ voxel-to-world affine of a SimpleITK image.

    Parameters
    ----------
    image : SimpleITK.Image
        Any image (origin, spacing and direction in LPS+ mm).

    Returns
    -------
    numpy.ndarray, shape (4, 4)
        Voxel indices onto world RAS+ mm.
    """
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    affine = np.eye(4)
    affine[:3, :3] = RAS_TO_LPS @ direction @ np.diag(spacing)
    affine[:3, 3] = RAS_TO_LPS @ np.asarray(image.GetOrigin(), dtype=float)
    return affine


def reference_image(shape: tuple[int, ...], affine: np.ndarray) -> SimpleITK.Image:
    """An empty float32 SimpleITK image defining a resampling grid (shape and RAS affine).

    Parameters
    ----------
    shape : tuple of int
        Voxel counts along i, j, k.
    affine : numpy.ndarray, shape (4, 4)
        Voxel indices onto world RAS+ mm.

    Returns
    -------
    SimpleITK.Image
    """
    sitk = import_simpleitk()
    image = sitk.Image([int(n) for n in shape], sitk.sitkFloat32)
    origin, spacing, direction = geometry_from_affine(affine)
    image.SetOrigin(tuple(float(v) for v in origin))
    image.SetSpacing(tuple(float(v) for v in spacing))
    image.SetDirection(tuple(float(v) for v in direction.ravel()))
    return image


def grid_reference(grid: Grid) -> SimpleITK.Image:
    """A SimpleITK reference image for an rfasim simulation :class:`~rfasim.grid.Grid`.

    Parameters
    ----------
    grid : Grid
        The grid (world mm).

    Returns
    -------
    SimpleITK.Image
        As :func:`reference_image` makes it.
    """
    return reference_image(grid.shape, grid.affine)


def transform_points_ras(transform: SimpleITK.Transform, points_mm: np.ndarray) -> np.ndarray:
    """Apply a SimpleITK transform (defined in LPS+) to world RAS+ points (mm), shape (..., 3).

    Parameters
    ----------
    transform : SimpleITK.Transform
        Any transform on LPS+ mm points.
    points_mm : numpy.ndarray, shape (..., 3)
        World RAS+ points (mm).

    Returns
    -------
    numpy.ndarray, shape (..., 3)
        The transformed points, world RAS+ mm.
    """
    points = np.asarray(points_mm, dtype=float)
    flat = points.reshape(-1, 3) @ RAS_TO_LPS
    moved = np.array([transform.TransformPoint(tuple(float(v) for v in p)) for p in flat])
    return (moved.reshape(-1, 3) @ RAS_TO_LPS).reshape(points.shape)


def resample(
    image: SimpleITK.Image,
    transform: SimpleITK.Transform,
    shape: tuple[int, ...],
    affine: np.ndarray,
    *,
    linear: bool = True,
    fill: float = 0.0,
) -> np.ndarray:
    """Sample ``image`` at ``transform(x)`` for every voxel centre ``x`` of a target grid.

    Parameters
    ----------
    image : SimpleITK.Image
        The moving image (post-ablation space).
    transform : SimpleITK.Transform
        Maps target (pre-ablation) points onto moving points, as registration returns it.
    shape, affine
        Target grid: shape and RAS+ voxel-to-world affine.
    linear : bool
        Trilinear interpolation (else nearest neighbour).
    fill : float
        Value where ``transform(x)`` falls outside ``image``.

    Returns
    -------
    numpy.ndarray
        float32 array of ``shape``, indexed ``(i, j, k)``.
    """
    sitk = import_simpleitk()
    moving = image if image.GetPixelID() == sitk.sitkFloat32 else sitk.Cast(image, sitk.sitkFloat32)
    resampled = sitk.Resample(
        moving,
        reference_image(shape, affine),
        transform,
        sitk.sitkLinear if linear else sitk.sitkNearestNeighbor,
        float(fill),
        sitk.sitkFloat32,
    )
    return from_sitk(resampled)
