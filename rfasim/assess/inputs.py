"""Reading and checking the inputs of an assessment: two CT scans and their segmentations.

- Scans: NIfTI files or DICOM series folders, read by :mod:`rfasim.imaging` (any orientation and
  spacing, world RAS+ mm).
- Segmentations: NIfTI label maps, DICOM series of masks, or DICOM-SEG objects (a ``.dcm`` file,
  or a folder holding one; read with highdicom).  A segmentation on another voxel grid than its
  scan is sampled onto the scan's grid (nearest neighbour, through world coordinates).

The tumor segmentation belongs to the pre-ablation scan, the zone segmentation to the
post-ablation scan.  Label codes follow rfasim's convention (0 background, 1 liver, 2 tumor,
3 vessel); a map holding the single code 1 is read as a binary tumor mask.  Every problem raises
an :class:`~rfasim.errors.InputError` naming the file, before anything is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from rfasim.errors import ImageError, LabelError
from rfasim.imaging import (
    Tumor,
    Volume,
    find_tumors,
    integer_labels,
    load_ct,
    load_labels,
    select_target,
)
from rfasim.imaging.io import corner_points_mm

#: rfasim's label codes of the liver, the tumor and the vessels.
LIVER_CODE, TUMOR_CODE, VESSEL_CODE = 1, 2, 3


@dataclass
class AssessmentInputs:
    """The checked inputs of an assessment.

    Attributes
    ----------
    pre, post : Volume
        Pre- and post-ablation CT (HU, float32).
    tumor : Tumor
        The target tumor (id, volume, centroid, diameter) in the pre-ablation scan.
    tumor_mask : ndarray of bool
        The target tumor alone, on the pre-ablation scan's grid.
    liver_mask : ndarray of bool or None
        Liver, tumors and vessels, on the pre-ablation scan's grid (None without a liver label).
    vessel_mask : ndarray of bool or None
        Vessels (code 3) on the pre-ablation scan's grid, for the pictures.
    zone_mask : ndarray of bool
        The ablation zone, on the post-ablation scan's grid.
    post_liver_mask : ndarray of bool or None
        The liver in the post-ablation scan, when given (for the quality check).
    paths : dict of str to str
        The input paths, for the report.
    """

    pre: Volume
    post: Volume
    tumor: Tumor
    tumor_mask: np.ndarray
    liver_mask: np.ndarray | None
    vessel_mask: np.ndarray | None
    zone_mask: np.ndarray
    post_liver_mask: np.ndarray | None
    paths: dict[str, str]


# -- segmentations -----------------------------------------------------------------------------
def _is_dicom_file(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _dicom_seg_file(path: Path) -> Path | None:
    """The DICOM-SEG file at ``path`` (a file, or the one SEG in a folder), else None."""
    try:
        import pydicom
    except ImportError:  # the DICOM reader says how to install it
        return None
    candidates = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    found = []
    for candidate in candidates:
        if not _is_dicom_file(candidate):
            continue
        try:
            header = pydicom.dcmread(str(candidate), stop_before_pixels=True)
        except Exception:  # unreadable: not a SEG
            continue
        if getattr(header, "Modality", "") == "SEG":
            found.append(candidate)
    if len(found) > 1:
        raise LabelError(f"{path}: holds {len(found)} DICOM-SEG objects; give one file")
    return found[0] if found else None


def read_dicom_seg(path: Path) -> Volume:
    """A DICOM-SEG object as a label map (segment numbers) in world RAS+ mm, via highdicom.

    Parameters
    ----------
    path : pathlib.Path
        The DICOM-SEG file.

    Returns
    -------
    Volume
        Segment numbers (``int32``, 0 outside every segment) with their voxel-to-world RAS+ mm
        affine.

    Raises
    ------
    LabelError
        highdicom is missing, or the object cannot be read as a regularly spaced volume.
    """
    try:
        import highdicom
    except ImportError:
        raise LabelError(
            f"{path}: reading DICOM-SEG needs highdicom; install it with `pip install highdicom` "
            "or convert the segmentation to NIfTI"
        ) from None
    try:
        segmentation = highdicom.seg.segread(str(path))
        volume = segmentation.get_volume(combine_segments=True, dtype=np.int32)
        image = volume.to_nibabel()
    except Exception as error:  # highdicom raises many types
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise LabelError(f"{path}: cannot read the DICOM-SEG as a 3D label map ({reason})") from None
    data = np.asarray(image.dataobj)
    if data.ndim != 3:
        raise LabelError(f"{path}: the DICOM-SEG is not a 3D label map (shape {data.shape})")
    return Volume(integer_labels(data, str(path)), np.asarray(image.affine, dtype=float), path)


def load_segmentation(path: str | os.PathLike[str]) -> Volume:
    """A segmentation: NIfTI label map, DICOM series of masks, or DICOM-SEG (file or folder).

    Parameters
    ----------
    path : str or os.PathLike
        The segmentation's file or folder.

    Returns
    -------
    Volume
        Integer label codes with their voxel-to-world RAS+ mm affine.

    Raises
    ------
    ImageError
        The path does not exist or cannot be read as an image.
    LabelError
        Non-integer labels, or several DICOM-SEG objects in one folder.
    """
    source = Path(path)
    if not source.exists():
        raise ImageError(f"{source}: segmentation file or folder not found")
    if source.is_dir() or _is_dicom_file(source):
        seg_file = _dicom_seg_file(source)
        if seg_file is not None:
            return read_dicom_seg(seg_file)
    return load_labels(source)


def on_image_grid(segmentation: Volume, image: Volume) -> np.ndarray:
    """The segmentation's codes on the image's voxel grid (nearest neighbour in world mm).

    Parameters
    ----------
    segmentation : Volume
        Label codes, on their own voxel grid.
    image : Volume
        The scan they segment.

    Returns
    -------
    numpy.ndarray, shape ``image.shape``
        The codes at the image's voxel centres (the segmentation's own array when both share
        one grid).

    Raises
    ------
    LabelError
        Part of the segmentation's foreground lies outside the image.
    """
    if segmentation.shape == image.shape:
        offset = corner_points_mm(segmentation.affine, segmentation.shape) - corner_points_mm(
            image.affine, image.shape
        )
        if float(np.max(np.linalg.norm(offset, axis=1))) <= 1e-3:
            return np.asarray(segmentation.data)
    to_segmentation = np.linalg.inv(segmentation.affine) @ image.affine
    source = np.asarray(segmentation.data)
    codes = np.zeros(image.shape, dtype=source.dtype)
    plane = np.indices(image.shape[:2], dtype=np.float64).reshape(2, -1)
    # Slice by slice: a whole CT's voxel coordinates at once would need gigabytes.
    for k in range(image.shape[2]):
        index = np.vstack([plane, np.full((1, plane.shape[1]), float(k))])
        mapped = to_segmentation[:3, :3] @ index + to_segmentation[:3, 3:4]
        codes[:, :, k] = ndimage.map_coordinates(
            source, mapped, order=0, mode="constant", cval=0
        ).reshape(image.shape[:2])
    source_volume = np.count_nonzero(segmentation.data) * segmentation.voxel_volume_ml
    kept_volume = np.count_nonzero(codes) * image.voxel_volume_ml
    if source_volume > 0 and kept_volume < 0.5 * source_volume:
        raise LabelError(
            f"{segmentation.name}: most of the segmentation lies outside its image {image.name} "
            "(they do not overlap)"
        )
    return codes


# -- the inputs --------------------------------------------------------------------------------
def _tumor_and_liver(
    codes: np.ndarray, name: str, tumor_code: int | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    present = {int(v) for v in np.unique(codes)} - {0}
    if not present:
        raise LabelError(f"{name}: the tumor segmentation is empty (no labelled voxel)")
    if tumor_code is None:
        if present == {1}:
            return codes == 1, None, None
        if TUMOR_CODE not in present:
            raise LabelError(
                f"{name}: no tumor code {TUMOR_CODE} (codes found: {sorted(present)}); "
                "give the tumor's code with --tumor-code"
            )
        tumor_code = TUMOR_CODE
    tumor = codes == tumor_code
    if not tumor.any():
        raise LabelError(
            f"{name}: the tumor code {tumor_code} is empty (codes found: {sorted(present)})"
        )
    liver = None
    if LIVER_CODE in present and tumor_code != LIVER_CODE:
        liver = np.isin(codes, [LIVER_CODE, tumor_code, VESSEL_CODE])
    vessels = codes == VESSEL_CODE if VESSEL_CODE in present and tumor_code != VESSEL_CODE else None
    return tumor, liver, vessels


def load_inputs(
    pre_path: str | os.PathLike[str],
    post_path: str | os.PathLike[str],
    tumor_path: str | os.PathLike[str],
    zone_path: str | os.PathLike[str],
    *,
    tumor_id: int | None = None,
    tumor_code: int | None = None,
    zone_code: int | None = None,
    post_liver_path: str | os.PathLike[str] | None = None,
) -> AssessmentInputs:
    """Read and check the scans and segmentations of an assessment.

    Parameters
    ----------
    pre_path, post_path : path
        Pre- and post-ablation CT: NIfTI file or DICOM series folder.
    tumor_path : path
        Tumor segmentation of the pre-ablation CT (rfasim codes, or a binary mask).
    zone_path : path
        Ablation-zone segmentation of the post-ablation CT (any non-zero code, or ``zone_code``).
    tumor_id : int, optional
        Which tumor when the segmentation holds several (1 is the largest).
    tumor_code : int, optional
        The tumor's label code (default: 2, or 1 in a binary mask).
    zone_code : int, optional
        The zone's label code (default: every non-zero voxel).
    post_liver_path : path, optional
        Liver segmentation of the post-ablation CT (non-zero voxels), for the quality check.

    Returns
    -------
    AssessmentInputs
        The scans, the target tumor, and the masks on their scans' voxel grids.

    Raises
    ------
    InputError
        Missing or unreadable files, empty segmentations, several tumors and no ``tumor_id``,
        segmentations outside their scans.
    """
    pre = load_ct(pre_path)
    post = load_ct(post_path)
    tumor_volume = load_segmentation(tumor_path)
    tumor_codes = on_image_grid(tumor_volume, pre)
    all_tumors, liver, vessels = _tumor_and_liver(tumor_codes, tumor_volume.name, tumor_code)
    tumors = find_tumors(all_tumors, pre.affine, source=tumor_volume.name)
    if tumor_id is None and len(tumors) > 1:
        raise LabelError(
            f"{tumor_volume.name}: holds {len(tumors)} tumors; choose one with --tumor-id "
            f"(1 is the largest, {tumors[0].volume_ml:.2f} mL)"
        )
    target = select_target(tumors, tumor_id=tumor_id)
    tumor_mask = np.zeros(pre.shape, dtype=bool)
    tumor_mask[tuple(target.indices.T)] = True

    zone_volume = load_segmentation(zone_path)
    zone_codes = on_image_grid(zone_volume, post)
    zone_mask = zone_codes != 0 if zone_code is None else zone_codes == zone_code
    if not zone_mask.any():
        what = "any non-zero code" if zone_code is None else f"code {zone_code}"
        raise LabelError(f"{zone_volume.name}: the ablation-zone segmentation is empty ({what})")
    post_liver = None
    if post_liver_path is not None:
        post_liver_volume = load_segmentation(post_liver_path)
        post_liver = on_image_grid(post_liver_volume, post) != 0
        if not post_liver.any():
            raise LabelError(f"{post_liver_volume.name}: the post-ablation liver mask is empty")
    paths = {
        "pre": str(pre_path),
        "post": str(post_path),
        "tumor": str(tumor_path),
        "zone": str(zone_path),
    }
    if post_liver_path is not None:
        paths["post_liver"] = str(post_liver_path)
    return AssessmentInputs(
        pre=pre,
        post=post,
        tumor=target,
        tumor_mask=tumor_mask,
        liver_mask=liver,
        vessel_mask=vessels,
        zone_mask=zone_mask,
        post_liver_mask=post_liver,
        paths=paths,
    )
