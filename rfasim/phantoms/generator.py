"""Synthetic liver phantoms: label map and CT, deterministic from a seed.

A phantom is a box (default 120 mm) of an abdomen around the region of interest: a body wall
(fat and muscle under the skin, patient's right side), a smooth liver made of a union of
ellipsoids, spherical or ellipsoidal tumors, and two bifurcating vessel trees (portal and hepatic,
2 to 12 mm calibre).  Everything is defined in world RAS+ millimetres; the image's voxel grid
(spacing, anisotropic allowed, and orientation: RAS, LPS or oblique) only samples it.

Label codes (:data:`LABEL_CODES`): 0 background (air), 1 liver, 2 tumor, 3 vessel, the project's
defaults, plus 4 for the body wall and tissue around the liver ("other" tissue; a phantom's case
file maps it with ``other = [4]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from rfasim.phantoms.geometry import (
    Ellipsoid,
    VesselSegment,
    grow_vessel_tree,
    wall_gap_to_ellipsoid_mm,
)

#: Label codes written in phantom label maps.
LABEL_CODES: dict[str, int] = {"background": 0, "liver": 1, "tumor": 2, "vessel": 3, "other": 4, "forbidden": 5}

#: Mean CT values (HU) and noise standard deviation (HU).
HU_MEAN: dict[str, float] = {
    "background": -1000.0,
    "fat": -100.0,
    "other": 40.0,
    "liver": 60.0,
    "tumor": 40.0,
    "vessel": 150.0,
    "forbidden": -800.0,  # lung
}
HU_NOISE_SD = 10.0

#: Thickness (mm) of the subcutaneous fat layer and of the muscle layer of the body wall.
FAT_THICKNESS_MM = 5.0
MUSCLE_THICKNESS_MM = 7.0

ORIENTATIONS = ("RAS", "LPS", "oblique")


@dataclass(frozen=True)
class TumorSpec:
    """A tumor: an axis-aligned ellipsoid given by its centre and diameters.

    Parameters
    ----------
    centre_mm : tuple of float
        World RAS+ mm.
    diameters_mm : tuple of float
        Full diameters along x, y, z (mm); equal values make a sphere.
    vessel_clearance_mm : float
        Random vessel branches keep at least this wall-to-wall gap (mm) from the tumor.
    """

    centre_mm: tuple[float, float, float]
    diameters_mm: tuple[float, float, float]
    vessel_clearance_mm: float = 10.0

    @property
    def ellipsoid(self) -> Ellipsoid:
        """The tumor's shape."""
        return Ellipsoid(self.centre_mm, tuple(d / 2.0 for d in self.diameters_mm))  # type: ignore[arg-type]


@dataclass(frozen=True)
class PhantomSpec:
    """Everything that defines a phantom.  The same spec always gives the same images.

    Parameters
    ----------
    name : str
        Phantom name.
    description : str
        One line.
    tumors : sequence of TumorSpec
        Listed largest first (so that tumor ids match the order).
    centre_mm : tuple of float
        World RAS+ mm of the image centre.
    field_of_view_mm : float
        Edge of the (cubic) imaged box along the image's own axes (mm).
    spacing_mm : tuple of float
        Voxel edges along the image's voxel axes (mm).
    orientation : str or numpy.ndarray
        ``"RAS"``, ``"LPS"``, ``"oblique"``, or a 3x3 matrix whose columns are the world directions
        of the voxel axes.
    seed : int
        Seed of the vessel trees and the CT noise.
    extra_vessels : sequence of VesselSegment
        Vessels placed on purpose (e.g. next to a tumor), kept whatever the clearance.
    forbidden : sequence of Ellipsoid
        Structures a needle must not cross (label 5, e.g. the lung above the diaphragm), painted
        inside the body where there is no liver.
    insertion_direction : tuple of float
        Direction of the probe from the skin towards the tumor (normalised when used).
    """

    name: str
    description: str
    tumors: Sequence[TumorSpec]
    centre_mm: tuple[float, float, float] = (60.0, -20.0, 30.0)
    field_of_view_mm: float = 120.0
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    orientation: Any = "RAS"
    seed: int = 0
    extra_vessels: Sequence[VesselSegment] = field(default_factory=tuple)
    insertion_direction: tuple[float, float, float] = (-1.0, 0.12, -0.2)
    forbidden: Sequence[Ellipsoid] = field(default_factory=tuple)


@dataclass(frozen=True, eq=False)
class Phantom:
    """A generated phantom, in memory.

    Parameters
    ----------
    labels : numpy.ndarray
        ``uint8`` label map (:data:`LABEL_CODES`).
    ct : numpy.ndarray
        ``int16`` CT in Hounsfield units, same grid.
    affine : numpy.ndarray
        4x4 voxel-to-world (RAS+ mm) matrix of both.
    metadata : dict
        Name, description, spacing, orientation, seed, tumors (centre, diameters, max diameter),
        vessel centrelines, the liver's ellipsoids, the skin plane and the suggested probe path
        (tip and entry, world mm).
    """

    labels: np.ndarray
    ct: np.ndarray
    affine: np.ndarray
    metadata: dict[str, Any]


def orientation_matrix(orientation: Any) -> np.ndarray:
    """3x3 matrix of the voxel axes' world directions for a named or given orientation.

    ``"RAS"``: identity; ``"LPS"``: x and y flipped (as DICOM scanners store); ``"oblique"``: LPS
    turned by 20 degrees about z then 15 degrees about x (a tilted acquisition).
    """
    if isinstance(orientation, str):
        if orientation == "RAS":
            return np.eye(3)
        if orientation == "LPS":
            return np.diag([-1.0, -1.0, 1.0])
        if orientation == "oblique":
            about_z, about_x = np.deg2rad(20.0), np.deg2rad(15.0)
            rotation_z = np.array(
                [
                    [np.cos(about_z), -np.sin(about_z), 0],
                    [np.sin(about_z), np.cos(about_z), 0],
                    [0, 0, 1],
                ]
            )
            rotation_x = np.array(
                [
                    [1, 0, 0],
                    [0, np.cos(about_x), -np.sin(about_x)],
                    [0, np.sin(about_x), np.cos(about_x)],
                ]
            )
            return rotation_x @ rotation_z @ np.diag([-1.0, -1.0, 1.0])
        raise ValueError(
            f"orientation must be one of {ORIENTATIONS} or a 3x3 matrix, got {orientation!r}"
        )
    matrix = np.asarray(orientation, dtype=float)
    if matrix.shape != (3, 3) or not np.allclose(matrix.T @ matrix, np.eye(3), atol=1e-6):
        raise ValueError("an orientation matrix must be 3x3 orthonormal")
    return matrix


def phantom_affine(spec: PhantomSpec) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Affine (voxel -> world RAS+ mm) and shape of the phantom's image, centred on ``centre_mm``."""
    spacing = np.asarray(spec.spacing_mm, dtype=float)
    if spacing.shape != (3,) or np.any(spacing <= 0):
        raise ValueError(f"spacing_mm must be three positive numbers, got {spec.spacing_mm}")
    shape = tuple(max(3, int(round(spec.field_of_view_mm / s))) for s in spacing)
    affine = np.eye(4)
    affine[:3, :3] = orientation_matrix(spec.orientation) @ np.diag(spacing)
    affine[:3, 3] = np.asarray(spec.centre_mm) - affine[:3, :3] @ ((np.asarray(shape) - 1) / 2.0)
    return affine, shape  # type: ignore[return-value]


def liver_ellipsoids(centre_mm: Sequence[float]) -> list[Ellipsoid]:
    """The liver: a union of three ellipsoids placed relative to the image centre (mm)."""
    c = np.asarray(centre_mm, dtype=float)
    parts = [
        ((-10.0, 0.0, 0.0), (48.0, 55.0, 50.0)),
        ((-35.0, 15.0, -20.0), (45.0, 45.0, 40.0)),
        ((5.0, -20.0, 25.0), (30.0, 35.0, 30.0)),
    ]
    return [Ellipsoid(tuple(c + np.asarray(offset)), size) for offset, size in parts]


def skin_x_mm(centre_mm: Sequence[float]) -> float:
    """World x (mm) of the skin of the right flank: the body is at smaller x."""
    return float(centre_mm[0]) + 50.0


class _WorldSampler:
    """World coordinates of an image's voxel centres, by blocks of the index bounding box."""

    def __init__(self, affine: np.ndarray, shape: tuple[int, int, int]) -> None:
        self.affine = affine
        self.shape = shape
        self.inverse = np.linalg.inv(affine)

    def block(
        self, low_mm: np.ndarray, high_mm: np.ndarray
    ) -> tuple[tuple[slice, ...], tuple[np.ndarray, ...]] | None:
        corners = np.array(
            [
                [a, b, c]
                for a in (low_mm[0], high_mm[0])
                for b in (low_mm[1], high_mm[1])
                for c in (low_mm[2], high_mm[2])
            ]
        )
        indices = corners @ self.inverse[:3, :3].T + self.inverse[:3, 3]
        start = np.maximum(np.floor(indices.min(axis=0)).astype(int) - 1, 0)
        stop = np.minimum(np.ceil(indices.max(axis=0)).astype(int) + 2, self.shape)
        if np.any(stop <= start):
            return None
        box = tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))
        i, j, k = np.meshgrid(
            *(np.arange(s.start, s.stop, dtype=np.float32) for s in box), indexing="ij", sparse=True
        )
        a = self.affine.astype(np.float32)
        world = tuple(a[r, 0] * i + a[r, 1] * j + a[r, 2] * k + a[r, 3] for r in range(3))
        return box, world

    def everywhere(self) -> tuple[tuple[slice, ...], tuple[np.ndarray, ...]]:
        box = tuple(slice(0, n) for n in self.shape)
        i, j, k = np.meshgrid(
            *(np.arange(n, dtype=np.float32) for n in self.shape), indexing="ij", sparse=True
        )
        a = self.affine.astype(np.float32)
        return box, tuple(a[r, 0] * i + a[r, 1] * j + a[r, 2] * k + a[r, 3] for r in range(3))


def _paint(target: np.ndarray, sampler: _WorldSampler, shape_object: Any, value: int) -> None:
    found = sampler.block(*shape_object.bounds_mm())
    if found is None:
        return
    box, (x, y, z) = found
    inside = shape_object.contains(x, y, z)
    target[box][inside] = value


def vessel_trees(spec: PhantomSpec, liver: list[Ellipsoid]) -> list[VesselSegment]:
    """The phantom's portal and hepatic trees (deterministic from ``spec.seed``) plus its extra vessels."""
    rng = np.random.default_rng(spec.seed)
    c = np.asarray(spec.centre_mm, dtype=float)
    tumors = [t for t in spec.tumors]

    def in_liver(point: np.ndarray) -> bool:
        return any(bool(e.contains(point[0], point[1], point[2])) for e in liver)

    def keep(segment: VesselSegment) -> bool:
        if segment.generation > 0 and not in_liver(np.asarray(segment.end_mm)):
            return False
        return all(
            wall_gap_to_ellipsoid_mm(segment, t.ellipsoid) >= t.vessel_clearance_mm for t in tumors
        )

    portal = grow_vessel_tree(c + (-62.0, -12.0, -45.0), (1.0, 0.35, 0.8), 6.0, rng, "portal", keep)
    hepatic = grow_vessel_tree(c + (-58.0, -8.0, 62.0), (1.0, 0.2, -0.9), 5.0, rng, "hepatic", keep)
    return [*portal, *hepatic, *spec.extra_vessels]


def generate_phantom(spec: PhantomSpec) -> Phantom:
    """Build a phantom's label map and CT in memory.

    Parameters
    ----------
    spec : PhantomSpec
        The phantom's definition.

    Returns
    -------
    Phantom
        Labels (``uint8``), CT (``int16`` HU), affine and metadata.
    """
    affine, shape = phantom_affine(spec)
    sampler = _WorldSampler(affine, shape)
    liver = liver_ellipsoids(spec.centre_mm)
    vessels = vessel_trees(spec, liver)

    box, (x, y, z) = sampler.everywhere()
    skin = skin_x_mm(spec.centre_mm)
    labels = np.zeros(shape, dtype=np.uint8)
    body = np.broadcast_to(x <= skin, shape)
    labels[body] = LABEL_CODES["other"]
    fat = np.broadcast_to((x <= skin) & (x > skin - FAT_THICKNESS_MM), shape)
    for ellipsoid in liver:
        _paint(labels, sampler, ellipsoid, LABEL_CODES["liver"])
    for structure in spec.forbidden:
        found = sampler.block(*structure.bounds_mm())
        if found is not None:
            structure_box, (fx, fy, fz) = found
            inside = structure.contains(fx, fy, fz) & (labels[structure_box] == LABEL_CODES["other"])
            labels[structure_box][inside] = LABEL_CODES["forbidden"]
    labels[
        np.broadcast_to(x > skin - FAT_THICKNESS_MM - MUSCLE_THICKNESS_MM, shape)
        & (labels == LABEL_CODES["liver"])
    ] = LABEL_CODES["other"]
    for vessel in vessels:
        found = sampler.block(*vessel.bounds_mm())
        if found is None:
            continue
        vessel_box, (vx, vy, vz) = found
        inside = vessel.contains(vx, vy, vz) & (labels[vessel_box] != LABEL_CODES["background"])
        labels[vessel_box][inside] = LABEL_CODES["vessel"]
    for tumor in spec.tumors:
        _paint(labels, sampler, tumor.ellipsoid, LABEL_CODES["tumor"])

    ct = _synthetic_ct(labels, fat, spec.seed)
    direction = np.asarray(spec.insertion_direction, dtype=float)
    direction /= np.linalg.norm(direction)
    target = spec.tumors[0]
    tip = np.asarray(target.centre_mm) + 15.0 * direction
    # Entry on the skin of the right flank, along the insertion line.
    entry = tip + (skin - tip[0]) / direction[0] * direction
    metadata: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "seed": spec.seed,
        "spacing_mm": [float(s) for s in spec.spacing_mm],
        "orientation": spec.orientation
        if isinstance(spec.orientation, str)
        else np.asarray(spec.orientation).tolist(),
        "shape": list(shape),
        "centre_mm": [float(v) for v in spec.centre_mm],
        "label_codes": dict(LABEL_CODES),
        "skin_x_mm": skin,
        "liver_ellipsoids": [
            {"centre_mm": list(e.centre_mm), "semi_axes_mm": list(e.semi_axes_mm)} for e in liver
        ],
        "tumors": [
            {
                "id": number,
                "centre_mm": [float(v) for v in t.centre_mm],
                "diameters_mm": [float(v) for v in t.diameters_mm],
                "max_diameter_mm": t.ellipsoid.max_diameter_mm,
            }
            for number, t in enumerate(spec.tumors, start=1)
        ],
        "vessels": [v.as_dict() for v in vessels],
        "probe": {
            "tip_mm": tip.tolist(),
            "entry_mm": entry.tolist(),
            "direction": direction.tolist(),
            "active_length_mm": 30.0,
        },
    }
    return Phantom(labels, ct, affine, metadata)


def _synthetic_ct(labels: np.ndarray, fat: np.ndarray, seed: int) -> np.ndarray:
    """CT-like HU values: tissue means, slight blur (partial volume), Gaussian noise."""
    names = {code: name for name, code in LABEL_CODES.items()}
    lookup = np.array([HU_MEAN[names[code]] for code in range(len(LABEL_CODES))], dtype=np.float32)
    hu = lookup[labels]
    hu[fat & (labels == LABEL_CODES["other"])] = HU_MEAN["fat"]
    hu = ndimage.gaussian_filter(hu, 0.6)
    noise_rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    body = labels != LABEL_CODES["background"]
    hu += (noise_rng.standard_normal(hu.shape, dtype=np.float32) * np.float32(HU_NOISE_SD)) * body
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
