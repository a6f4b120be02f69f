"""Reading and writing images: NIfTI files and DICOM series, always in world RAS+ millimetres.

Every image becomes a :class:`Volume`: a 3D array plus the 4x4 affine that maps voxel indices
``(i, j, k)`` onto world coordinates (RAS+, mm), as NIfTI and 3D Slicer define them.  Any
orientation (RAS, LPS, oblique) and any voxel spacing (anisotropic included) is kept as it is:
nothing is reoriented or resampled here.

Every problem with an input file raises :class:`rfasim.errors.ImageError` (or
:class:`rfasim.errors.LabelError` for non-integer label maps) with one line naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from rfasim.atomic import atomic_path
from rfasim.errors import ImageError, LabelError

if TYPE_CHECKING:
    from nibabel.spatialimages import SpatialImage

#: Largest distance (mm) between the voxel corners of two images still considered the same grid.
SAME_SPACE_TOLERANCE_MM = 1e-3

_NIFTI_SUFFIXES = (".nii", ".nii.gz")
#: Flips DICOM patient coordinates (LPS+) onto NIfTI world coordinates (RAS+) and back.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D image and its place in the world.

    Parameters
    ----------
    data : numpy.ndarray
        Voxel values, shape ``(ni, nj, nk)``, indexed like the affine's voxel axes.
    affine : numpy.ndarray
        4x4 voxel-to-world matrix: world RAS+ mm of voxel ``(i, j, k)`` is
        ``affine @ [i, j, k, 1]``.
    source : pathlib.Path or None
        The file or DICOM folder it was read from (None for images made in memory).
    """

    data: np.ndarray
    affine: np.ndarray
    source: Path | None = None

    def __post_init__(self) -> None:
        affine = np.asarray(self.affine, dtype=float)
        if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
            raise ImageError(f"{self.name}: the affine must be a finite 4x4 matrix")
        if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
            raise ImageError(
                f"{self.name}: the affine is singular (zero voxel size or repeated axes)"
            )
        if np.ndim(self.data) != 3:
            raise ImageError(f"{self.name}: expected a 3D image, got shape {np.shape(self.data)}")
        object.__setattr__(self, "affine", affine)

    @property
    def name(self) -> str:
        """The source path as text, for messages (``<memory>`` when there is none)."""
        return str(self.source) if self.source is not None else "<memory>"

    @property
    def shape(self) -> tuple[int, int, int]:
        """Voxel counts along the three voxel axes."""
        size_i, size_j, size_k = (int(n) for n in self.data.shape)  # 3D: checked on creation
        return size_i, size_j, size_k

    @property
    def spacing_mm(self) -> np.ndarray:
        """Voxel edge lengths (mm) along the three voxel axes."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres."""
        return float(abs(np.linalg.det(self.affine[:3, :3])) * 1e-3)

    def index_to_world(self, indices: np.ndarray) -> np.ndarray:
        """World RAS+ mm of (possibly fractional) voxel indices, shape ``(..., 3)``.

        Parameters
        ----------
        indices : numpy.ndarray, shape (..., 3)
            Voxel indices (i, j, k).

        Returns
        -------
        numpy.ndarray, shape (..., 3)
            World RAS+ positions (mm).
        """
        return apply_affine(self.affine, indices)

    def world_to_index(self, points_mm: np.ndarray) -> np.ndarray:
        """Continuous voxel indices of world RAS+ points (mm), shape ``(..., 3)``.

        Parameters
        ----------
        points_mm : numpy.ndarray, shape (..., 3)
            World RAS+ points (mm).

        Returns
        -------
        numpy.ndarray, shape (..., 3)
            Fractional voxel indices (i, j, k).
        """
        return apply_affine(np.linalg.inv(self.affine), points_mm)


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 affine to points of shape ``(..., 3)``.

    Parameters
    ----------
    affine : numpy.ndarray, shape (4, 4)
        Homogeneous transform, e.g. voxel indices onto world RAS+ mm.
    points : array_like, shape (..., 3)
        Points in the affine's source coordinates (e.g. voxel indices).

    Returns
    -------
    numpy.ndarray, shape (..., 3)
        The transformed points (e.g. world mm).
    """
    points = np.asarray(points, dtype=float)
    return points @ affine[:3, :3].T + affine[:3, 3]


def corner_points_mm(affine: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """World RAS+ mm of the 8 outer corners (voxel faces, not centres) of an image.

    Parameters
    ----------
    affine : numpy.ndarray, shape (4, 4)
        Voxel indices onto world RAS+ mm.
    shape : sequence of int
        The image's voxel counts along (i, j, k).

    Returns
    -------
    numpy.ndarray, shape (8, 3)
        Corner positions, world mm.
    """
    low = -0.5
    corners = np.array(
        [
            [i, j, k]
            for i in (low, shape[0] - 0.5)
            for j in (low, shape[1] - 0.5)
            for k in (low, shape[2] - 0.5)
        ]
    )
    return apply_affine(affine, corners)


# --------------------------------------------------------------------------------------------
# Loading


def load_image(path: str | os.PathLike[str]) -> Volume:
    """Read a NIfTI file (``.nii``, ``.nii.gz``) or a DICOM series folder as stored.

    Parameters
    ----------
    path : str or path-like
        A NIfTI file, or a folder holding the files of one DICOM series.

    Returns
    -------
    Volume
        Data as stored (NIfTI scaling and DICOM RescaleSlope/Intercept applied), affine in
        world RAS+ mm.

    Raises
    ------
    ImageError
        The path is missing, not NIfTI or DICOM, truncated or corrupt, or not 3D.
    """
    source = Path(path)
    if not source.exists():
        raise ImageError(f"{source}: image file or folder not found")
    if source.is_dir():
        from rfasim.imaging.dicom import read_dicom_series

        data, affine = read_dicom_series(source)
        return Volume(data, affine, source)
    if source.name.lower().endswith(_NIFTI_SUFFIXES):
        return _load_nifti(source)
    if _looks_like_dicom_file(source):
        raise ImageError(f"{source}: a single DICOM file; give the folder holding the whole series")
    raise ImageError(f"{source}: not a NIfTI file (.nii, .nii.gz) or a DICOM series folder")


def load_ct(path: str | os.PathLike[str]) -> Volume:
    """Read a CT image in Hounsfield units as ``float32``.

    Parameters
    ----------
    path : str or os.PathLike
        NIfTI file, or a folder holding one DICOM series (see :func:`load_image`).

    Returns
    -------
    Volume
        Data in HU (``float32``), with its voxel-to-world RAS+ mm affine.

    Raises
    ------
    ImageError
        As :func:`load_image`, and when some voxels are NaN or infinite.
    """
    volume = load_image(path)
    data = np.asarray(volume.data, dtype=np.float32)
    bad = ~np.isfinite(data)
    if bad.any():
        raise ImageError(f"{volume.name}: {int(bad.sum())} CT voxels are NaN or infinite")
    return Volume(data, volume.affine, volume.source)


def load_labels(path: str | os.PathLike[str]) -> Volume:
    """Read an integer label map; float storage is accepted when every value is integral.

    Parameters
    ----------
    path : str or os.PathLike
        NIfTI file, or a folder holding one DICOM series (see :func:`load_image`).

    Returns
    -------
    Volume
        Data as ``int32`` (or the file's own integer type when it is narrower).

    Raises
    ------
    ImageError
        As :func:`load_image`.
    LabelError
        Non-integral, NaN or out-of-range label values.
    """
    volume = load_image(path)
    return Volume(integer_labels(volume.data, volume.name), volume.affine, volume.source)


def integer_labels(data: np.ndarray, name: str = "<memory>") -> np.ndarray:
    """Label values as an integer array; raises :class:`LabelError` if any value is not integral.

    Parameters
    ----------
    data : numpy.ndarray
        Label values: boolean, integer, or floating point holding integral values (within 1e-3).
    name : str
        The image's name, for the error message.

    Returns
    -------
    numpy.ndarray
        ``uint8`` for a boolean mask, the input's own integer type when it is at most 32 bits,
        else ``int32``.

    Raises
    ------
    LabelError
        Non-numeric, NaN, infinite, non-integral or out-of-32-bit-range values.
    """
    data = np.asarray(data)
    if data.dtype == bool:
        return data.astype(np.uint8)
    if np.issubdtype(data.dtype, np.integer):
        if data.dtype.itemsize > 4 and data.size and (data.min() < -(2**31) or data.max() >= 2**31):
            raise LabelError(f"{name}: label codes exceed the 32-bit integer range")
        return data if data.dtype.itemsize <= 4 else data.astype(np.int32)
    if not np.issubdtype(data.dtype, np.floating):
        raise LabelError(f"{name}: label map of type {data.dtype} is not numeric")
    if not np.all(np.isfinite(data)):
        raise LabelError(f"{name}: label map holds NaN or infinite values")
    rounded = np.rint(data)
    off = np.abs(data - rounded) > 1e-3
    if off.any():
        example = float(data[off].flat[0])
        raise LabelError(
            f"{name}: label map holds non-integer values (e.g. {example:g} in {int(off.sum())} voxels); "
            "labels must be integer codes"
        )
    if rounded.size and (rounded.min() < -(2**31) or rounded.max() >= 2**31):
        raise LabelError(f"{name}: label codes exceed the 32-bit integer range")
    return rounded.astype(np.int32)


def check_same_space(
    first: Volume, second: Volume, tolerance_mm: float = SAME_SPACE_TOLERANCE_MM
) -> None:
    """Raise :class:`ImageError` unless two images share shape and voxel grid.

    The affines are compared through the world positions (mm) of the images' corners, so the
    tolerance is a distance in millimetres.

    Parameters
    ----------
    first, second : Volume
        The two images (e.g. a CT and its label map).
    tolerance_mm : float
        Largest distance (mm) between corresponding outer corners of the two images.

    Raises
    ------
    ImageError
        The shapes differ, or a corner moves by more than ``tolerance_mm``.
    """
    if first.shape != second.shape:
        raise ImageError(
            f"{second.name}: shape {second.shape} differs from {first.name} shape {first.shape}"
        )
    offset = corner_points_mm(first.affine, first.shape) - corner_points_mm(
        second.affine, second.shape
    )
    worst = float(np.max(np.linalg.norm(offset, axis=1)))
    if worst > tolerance_mm:
        raise ImageError(
            f"{second.name}: affine differs from {first.name} (voxel corners up to {worst:.4g} mm apart); "
            "CT and labels must share one grid"
        )


def _load_nifti(source: Path) -> Volume:
    import nibabel as nib

    try:
        image = cast("SpatialImage", nib.load(str(source)))  # a NIfTI file: a spatial image
        affine = np.asarray(image.affine, dtype=float)
        data = np.asanyarray(image.dataobj)
    except Exception as error:  # nibabel raises many types for corrupt files
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ImageError(f"{source}: cannot read NIfTI image ({reason})") from None
    if data.ndim > 3:
        extra = data.shape[3:]
        if all(n == 1 for n in extra):
            data = data.reshape(data.shape[:3])
        else:
            raise ImageError(f"{source}: expected a 3D image, got shape {data.shape}")
    if data.ndim != 3:
        raise ImageError(f"{source}: expected a 3D image, got shape {data.shape}")
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise ImageError(f"{source}: the NIfTI header holds no usable affine")
    return Volume(np.ascontiguousarray(data), affine, source)


def _looks_like_dicom_file(source: Path) -> bool:
    try:
        with source.open("rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# Writing


def save_nifti(path: str | os.PathLike[str], data: np.ndarray, affine: np.ndarray) -> Path:
    """Write a 3D array as NIfTI (``.nii`` or ``.nii.gz`` from the suffix), atomically.

    Parameters
    ----------
    path : str or path-like
        Destination; its parent folders are created.
    data : numpy.ndarray
        3D array; booleans are stored as ``uint8`` and 64-bit integers as ``int32``.
    affine : numpy.ndarray
        4x4 voxel-to-world (RAS+ mm) matrix, stored as both sform and qform (code 1, scanner).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    import nibabel as nib

    target = Path(path)
    if not target.name.lower().endswith(_NIFTI_SUFFIXES):
        raise ImageError(f"{target}: NIfTI output needs a .nii or .nii.gz suffix")
    array = np.asarray(data)
    if array.ndim != 3:
        raise ImageError(f"{target}: expected a 3D array to save, got shape {array.shape}")
    if array.dtype == bool:
        array = array.astype(np.uint8)
    elif array.dtype in (np.int64, np.uint64):
        array = array.astype(np.int32)
    elif array.dtype == np.float16:
        array = array.astype(np.float32)
    image = nib.Nifti1Image(array, np.asarray(affine, dtype=float))
    image.set_sform(image.affine, code=1)
    image.set_qform(image.affine, code=1)
    image.header.set_xyzt_units("mm", "sec")
    with atomic_path(target) as temporary:
        nib.save(image, str(temporary))
    return target
