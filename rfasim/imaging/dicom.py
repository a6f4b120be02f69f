"""Reading a DICOM image series (CT or a mask stored as an image series) with pydicom.

Slices are ordered by their ImagePositionPatient projected on the slice normal (the cross product
of the two ImageOrientationPatient direction cosines), never by file name or InstanceNumber.  The
affine is built from ImageOrientationPatient, PixelSpacing and the slice positions, in DICOM's
patient space (LPS+), then converted to world RAS+ mm.  RescaleSlope and RescaleIntercept are
applied, so a CT comes back in Hounsfield units.

Voxel axis ``i`` runs along the rows' direction (DICOM columns, the first direction cosine), ``j``
along the columns (DICOM rows, the second cosine) and ``k`` across slices.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np

from rfasim.errors import ImageError

#: Largest tolerated spread (mm) of the gaps between consecutive slices.
SLICE_GAP_TOLERANCE_MM = 1e-2


def _import_pydicom(folder: Path) -> ModuleType:
    try:
        import pydicom
    except ImportError:
        raise ImageError(
            f"{folder}: reading DICOM needs pydicom; install it with `pip install rfasim[dicom]`"
        ) from None
    return pydicom


def read_dicom_series(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the one image series found in ``folder``.

    Parameters
    ----------
    folder : pathlib.Path
        Folder holding the series' files (any names; sub-folders are not searched).  Files that are
        not DICOM images (DICOMDIR, text files) are skipped.

    Returns
    -------
    data : numpy.ndarray
        Voxel values, shape ``(columns, rows, slices)``; ``float32`` when a rescale is applied,
        the stored integer type otherwise.
    affine : numpy.ndarray
        4x4 voxel-to-world matrix, world RAS+ mm.

    Raises
    ------
    ImageError
        No pydicom, no DICOM image in the folder, several series, missing geometry, duplicate or
        unevenly spaced slices, unreadable pixel data, DICOM-SEG objects.
    """
    pydicom = _import_pydicom(folder)
    slices = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            dataset = pydicom.dcmread(str(path), force=False)
        except Exception:  # not a DICOM file: skip it
            continue
        if getattr(dataset, "Modality", "") == "SEG":
            raise ImageError(
                f"{path}: DICOM-SEG objects are not supported yet; convert the mask to NIfTI"
            )
        if "PixelData" not in dataset:
            continue
        slices.append((path, dataset))
    if not slices:
        raise ImageError(
            f"{folder}: no DICOM image files found (not a NIfTI file or DICOM series folder)"
        )
    series = {str(getattr(d, "SeriesInstanceUID", "")) for _, d in slices}
    if len(series) > 1:
        raise ImageError(
            f"{folder}: holds {len(series)} DICOM series; put each series in its own folder"
        )

    first_path, first = slices[0]
    try:
        orientation = np.asarray([float(v) for v in first.ImageOrientationPatient], dtype=float)
        row_spacing, column_spacing = (float(v) for v in first.PixelSpacing)
    except (AttributeError, ValueError, TypeError):
        raise ImageError(
            f"{first_path}: missing ImageOrientationPatient or PixelSpacing; cannot place the series"
        ) from None
    if orientation.shape != (6,):
        raise ImageError(f"{first_path}: ImageOrientationPatient must hold 6 numbers")
    row_direction = orientation[:3] / np.linalg.norm(orientation[:3])
    column_direction = orientation[3:] / np.linalg.norm(orientation[3:])
    normal = np.cross(row_direction, column_direction)

    positions = []
    for path, dataset in slices:
        try:
            position = np.asarray([float(v) for v in dataset.ImagePositionPatient], dtype=float)
            this_orientation = np.asarray(
                [float(v) for v in dataset.ImageOrientationPatient], dtype=float
            )
        except (AttributeError, ValueError, TypeError):
            raise ImageError(
                f"{path}: missing ImagePositionPatient or ImageOrientationPatient"
            ) from None
        if np.max(np.abs(this_orientation - orientation)) > 1e-4:
            raise ImageError(f"{path}: slice orientation differs from {first_path.name}")
        positions.append(position)
    positions_array = np.asarray(positions)
    along_normal = positions_array @ normal
    order = np.argsort(along_normal, kind="stable")
    sorted_offsets = along_normal[order]
    gaps = np.diff(sorted_offsets)
    if gaps.size and np.min(gaps) < 1e-3:
        duplicate = slices[order[int(np.argmin(gaps)) + 1]][0]
        raise ImageError(f"{duplicate}: two slices of {folder} share one position")
    if gaps.size and np.ptp(gaps) > max(SLICE_GAP_TOLERANCE_MM, 1e-3 * np.mean(gaps)):
        raise ImageError(
            f"{folder}: slices are unevenly spaced (gaps {np.min(gaps):.3f} to {np.max(gaps):.3f} mm); "
            "missing slices?"
        )

    planes = []
    for index in order:
        path, dataset = slices[index]
        try:
            pixels = dataset.pixel_array
        except Exception as error:  # pydicom raises many types
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ImageError(f"{path}: cannot decode DICOM pixel data ({reason})") from None
        if pixels.ndim != 2:
            raise ImageError(
                f"{path}: multi-frame DICOM is not supported; expected one 2D slice per file"
            )
        slope = float(getattr(dataset, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(dataset, "RescaleIntercept", 0.0) or 0.0)
        planes.append((pixels.T, slope, intercept, path))
    shapes = {plane.shape for plane, _, _, _ in planes}
    if len(shapes) > 1:
        raise ImageError(f"{folder}: slices have different sizes {sorted(shapes)}")
    rescaled = any(slope != 1.0 or intercept != 0.0 for _, slope, intercept, _ in planes)
    if rescaled:
        data = np.stack(
            [
                plane.astype(np.float32) * np.float32(slope) + np.float32(intercept)
                for plane, slope, intercept, _ in planes
            ],
            axis=2,
        )
    else:
        data = np.stack([plane for plane, _, _, _ in planes], axis=2)

    if gaps.size:
        slice_step = (positions_array[order[-1]] - positions_array[order[0]]) / (len(order) - 1)
    else:
        thickness = float(
            getattr(first, "SpacingBetweenSlices", 0) or getattr(first, "SliceThickness", 0) or 1.0
        )
        slice_step = normal * thickness
    affine_lps = np.eye(4)
    affine_lps[:3, 0] = row_direction * column_spacing
    affine_lps[:3, 1] = column_direction * row_spacing
    affine_lps[:3, 2] = slice_step
    affine_lps[:3, 3] = positions_array[order[0]]
    from rfasim.imaging.io import LPS_TO_RAS

    return np.ascontiguousarray(data), LPS_TO_RAS @ affine_lps
