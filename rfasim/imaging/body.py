"""Unlabelled body tissue: what the voxels no label covers are made of.

In a real segmentation, label 0 is everything that was not segmented: the air around the patient,
but also the diaphragm, the body wall, the stomach, fat, ribs, the lung base.  Modelled as
insulating air (the ``background`` class), those voxels stop heat and current at the edge of the
labels, which changes the zone and the impedance next to them.

With a CT, :func:`classify_unlabelled` gives each background voxel *inside the body* a physical
class from its Hounsfield value (:data:`HU_BANDS`): air, lung, fat, soft tissue or bone, each with
its own properties (``rfasim/tissue.py``, sources in ``docs/parameters.md``).  The body is the
largest connected region denser than :data:`BODY_THRESHOLD_HU` with its cavities filled, found on
the whole CT (so that the scanner table and the air around the patient stay outside).  Without a
CT nothing can tell air from tissue: the voxels stay insulating air and a warning says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from rfasim.grid import Grid
from rfasim.imaging.io import Volume, apply_affine
from rfasim.tissue import TissueClass

#: Upper HU bound of each class found in unlabelled body voxels, in order (bone: everything above).
#: Air -1000 HU, lung parenchyma at inspiration -850 to -910 HU (radclass.mudr.org, citing Buzug
#: 2008 and Prokop 2003); adipose tissue -190 to -30 HU and skeletal muscle -29 to +150 HU, the
#: usual body-composition thresholds (tomovision.com sarcopenia guide; Sci Rep 2025 table 1,
#: doi:10.1038/s41598-025-96238-6); bone above 400 HU (tomovision).  The air/lung bound (-950 HU)
#: is an assumption, half way between the lung's -910 HU and air; 150 to 400 HU (enhanced vessels,
#: trabecular bone, partial volumes) is taken as soft tissue.
HU_BANDS: tuple[tuple[float, TissueClass], ...] = (
    (-950.0, TissueClass.BACKGROUND),  # air (bowel gas, airways): insulating
    (-190.0, TissueClass.LUNG),
    (-30.0, TissueClass.FAT),
    (400.0, TissueClass.OTHER),  # soft tissue (muscle-like: diaphragm, body wall, stomach wall)
)
#: Voxels denser than this (HU) belong to the body when connected to its largest region.
BODY_THRESHOLD_HU = -500.0
#: Resolution (mm) at which the body outline is found on the whole CT.
BODY_MASK_RESOLUTION_MM = 3.0

CLASS_LABELS = {
    TissueClass.BACKGROUND: "air",
    TissueClass.LUNG: "lung",
    TissueClass.FAT: "fat",
    TissueClass.OTHER: "soft tissue",
    TissueClass.BONE: "bone",
}


@dataclass
class UnlabelledTissue:
    """What :func:`classify_unlabelled` did.

    Attributes
    ----------
    classes : ndarray of uint8
        The tissue classes with unlabelled body voxels replaced.
    volumes_ml : dict of str to float
        Volume (mL) of unlabelled voxels in the region turned into each class (``outside body``:
        left as air).
    warnings : list of str
    ct_used : bool
    """

    classes: np.ndarray
    volumes_ml: dict[str, float]
    warnings: list[str]
    ct_used: bool

    def as_metrics(self) -> dict[str, Any]:
        """The ``metrics.json`` ``unlabelled_tissue`` block.

        Returns
        -------
        dict
            Whether the CT was used, volumes per class (mL, 3 decimals) and the HU bands.
        """
        return {"ct_used": self.ct_used, "volumes_ml": {k: round(v, 3) for k, v in self.volumes_ml.items()},
                "hu_bands": None if not self.ct_used else hu_band_text()}


def hu_band_text() -> str:
    """The HU bands as one line (for reports).

    Returns
    -------
    str
        Each class with its half-open HU interval.
    """
    parts, low = [], "-inf"
    for high, tissue_class in HU_BANDS:
        parts.append(f"{CLASS_LABELS[tissue_class]} [{low}, {high:g})")
        low = f"{high:g}"
    parts.append(f"bone [{low}, inf)")
    return "; ".join(parts)


def classify_hu(hu: np.ndarray) -> np.ndarray:
    """Tissue class of each HU value by :data:`HU_BANDS` (uint8, same shape).

    Parameters
    ----------
    hu : numpy.ndarray
        CT values (HU).

    Returns
    -------
    numpy.ndarray of uint8
        :class:`~rfasim.tissue.TissueClass` codes; bone above the last band.
    """
    hu = np.asarray(hu, dtype=np.float32)
    classes = np.full(hu.shape, TissueClass.BONE, np.uint8)
    for high, tissue_class in reversed(HU_BANDS):
        classes[hu < high] = tissue_class
    return classes


def body_mask_on_grid(ct: Volume, grid: Grid) -> np.ndarray:
    """The body (see the module docstring) sampled on ``grid`` (bool).

    Parameters
    ----------
    ct : Volume
        The CT (HU) with its voxel-to-world RAS+ mm affine.
    grid : Grid
        The simulation grid (world mm).

    Returns
    -------
    numpy.ndarray of bool, shape ``grid.shape``
        All False when nothing in the CT is above the body threshold.
    """
    spacing = ct.spacing_mm
    stride = np.maximum(1, np.floor(BODY_MASK_RESOLUTION_MM / spacing)).astype(int)
    coarse = np.asarray(ct.data)[:: stride[0], :: stride[1], :: stride[2]] > BODY_THRESHOLD_HU
    components, count = ndimage.label(coarse, structure=np.ones((3, 3, 3), bool))
    if count == 0:
        return np.zeros(grid.shape, bool)
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    body = ndimage.binary_fill_holes(components == sizes.argmax())
    # Cavities open to the image's edge (a lung cut by the field of view) are not filled in 3D:
    # fill them slice by slice too, along each axis.
    for axis in range(3):
        body |= np.stack([ndimage.binary_fill_holes(plane) for plane in np.moveaxis(body, axis, 0)], axis=axis)
    # Nearest coarse voxel of every grid voxel centre; grid voxels inside the CT but beyond the
    # last coarse centre take the nearest one (clipped), those outside the CT are not body.
    x, y, z = grid.voxel_centers_mm()
    points = np.stack(np.broadcast_arrays(x, y, z), axis=-1)
    fine = apply_affine(np.linalg.inv(ct.affine), points)
    inside_ct = np.all((fine >= -0.5) & (fine <= np.asarray(ct.shape) - 0.5), axis=-1)
    coarse_index = np.clip(np.rint(fine / stride).astype(int), 0, np.asarray(body.shape) - 1)
    return body[coarse_index[..., 0], coarse_index[..., 1], coarse_index[..., 2]] & inside_ct


def classify_unlabelled(classes: np.ndarray, grid: Grid, ct: Volume | None, ct_hu: np.ndarray | None,
                        source: str = "labels") -> UnlabelledTissue:
    """Give unlabelled (background) voxels inside the body a physical class from the CT.

    Parameters
    ----------
    classes : ndarray of uint8
        Tissue classes on ``grid`` (from the label map).
    grid : Grid
        The simulation grid.
    ct : Volume or None
        The whole CT (for the body outline); None when the case has no CT.
    ct_hu : ndarray or None
        The CT resampled on ``grid`` (HU).
    source : str
        The label map's name, for messages.

    Returns
    -------
    UnlabelledTissue
    """
    classes = np.asarray(classes)
    unlabelled = classes == TissueClass.BACKGROUND
    voxel_ml = grid.spacing_mm**3 * 1e-3
    total_ml = float(unlabelled.sum()) * voxel_ml
    if not unlabelled.any():
        return UnlabelledTissue(classes, {}, [], ct is not None)
    if ct is None or ct_hu is None:
        warning = (
            f"{source}: no CT given, so the {total_ml:.1f} mL of unlabelled voxels (background) in the simulated "
            "region are modelled as insulating air; if they are body tissue (diaphragm, body wall, bowel), add the "
            "CT ([images] ct) or map their code to tissue ([labels] other = [0])"
        )
        return UnlabelledTissue(classes, {"air (assumed, no CT)": total_ml}, [warning], False)
    body = body_mask_on_grid(ct, grid)
    found = classify_hu(ct_hu)
    replaced = classes.copy()
    inside = unlabelled & body
    replaced[inside] = found[inside]
    volumes = {"outside body": float((unlabelled & ~body).sum()) * voxel_ml}
    for tissue_class in (TissueClass.BACKGROUND, TissueClass.LUNG, TissueClass.FAT, TissueClass.OTHER, TissueClass.BONE):
        volume = float(np.sum(inside & (found == tissue_class))) * voxel_ml
        if volume > 0:
            volumes[CLASS_LABELS[tissue_class]] = volume
    return UnlabelledTissue(replaced, volumes, [], True)
