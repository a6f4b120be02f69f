"""Synthetic pre/post-ablation pairs with a known motion and a known ablation zone.

The pre-ablation scan is a phantom of :mod:`rfasim.phantoms`.  The post-ablation scan shows the
same anatomy after a known motion of the patient (rigid, or a smooth deformation), with a
spherical ablation zone painted in at a different CT value, and its segmentation.  Because the
zone is defined in the pre-ablation space, the true margin and coverage are known exactly: a
sphere of radius ``R`` centred ``d`` away from the centre of a spherical tumor of radius ``r``
leaves a smallest margin of ``R - |d| - r`` at the tumor point opposite the offset.

The post-ablation image samples the anatomy at ``post_to_pre(y)`` for each of its voxel centres
``y``: the phantom is generated on a finer *source* grid and interpolated trilinearly, then fresh
CT noise is added, so the two scans do not share a noise pattern.

Assumption (not a measurement): the painted zone's CT value (default 15 HU, against the phantom
liver's 60 HU) only has to make the zone visibly different from the liver; it is not a model of
the attenuation of coagulated tissue.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from rfasim.imaging import Volume, apply_affine
from rfasim.phantoms import generate_phantom, make_spec
from rfasim.phantoms.generator import HU_NOISE_SD, phantom_affine

PointMap = Callable[[np.ndarray], np.ndarray]


def rotation_matrix(rotation_deg: Sequence[float]) -> np.ndarray:
    """3x3 rotation: about x, then y, then z by the given angles (degrees).

    Parameters
    ----------
    rotation_deg : sequence of float, shape (3,)
        Angles (degrees) about the world x, y and z axes.

    Returns
    -------
    numpy.ndarray, shape (3, 3)
        ``Rz @ Ry @ Rx``.
    """
    rx, ry, rz = np.radians(np.asarray(rotation_deg, dtype=float))
    about_x = np.array([[1, 0, 0], [0, np.cos(rx), -np.sin(rx)], [0, np.sin(rx), np.cos(rx)]])
    about_y = np.array([[np.cos(ry), 0, np.sin(ry)], [0, 1, 0], [-np.sin(ry), 0, np.cos(ry)]])
    about_z = np.array([[np.cos(rz), -np.sin(rz), 0], [np.sin(rz), np.cos(rz), 0], [0, 0, 1]])
    return about_z @ about_y @ about_x


@dataclass(frozen=True)
class RigidMotion:
    """A rigid motion of the patient: ``post = R (pre - centre) + centre + translation``.

    Parameters
    ----------
    rotation_deg : tuple of float
        Rotations about the world x, y and z axes (degrees), applied in that order.
    translation_mm : tuple of float
        Translation (mm).
    centre_mm : tuple of float
        World RAS+ point (mm) the rotation turns about.
    """

    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    centre_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 rotation."""
        return rotation_matrix(self.rotation_deg)

    def pre_to_post(self, points_mm: np.ndarray) -> np.ndarray:
        """Post-ablation world point (mm) of pre-ablation world points, shape (..., 3).

        Parameters
        ----------
        points_mm : numpy.ndarray, shape (..., 3)
            Pre-ablation world points (mm).

        Returns
        -------
        numpy.ndarray, shape (..., 3)
            Post-ablation world points (mm).
        """
        centre = np.asarray(self.centre_mm, dtype=float)
        points = np.asarray(points_mm, dtype=float)
        return (points - centre) @ self.matrix.T + centre + np.asarray(self.translation_mm)

    def post_to_pre(self, points_mm: np.ndarray) -> np.ndarray:
        """Pre-ablation world point (mm) of post-ablation world points, shape (..., 3).

        Parameters
        ----------
        points_mm : numpy.ndarray, shape (..., 3)
            Post-ablation world points (mm).

        Returns
        -------
        numpy.ndarray, shape (..., 3)
            Pre-ablation world points (mm).
        """
        centre = np.asarray(self.centre_mm, dtype=float)
        points = np.asarray(points_mm, dtype=float)
        return (points - centre - np.asarray(self.translation_mm)) @ self.matrix + centre


@dataclass(frozen=True)
class SmoothDeformation:
    """A smooth local deformation after a rigid motion.

    The post-to-pre map is ``rigid.post_to_pre(y) + amplitude * exp(-|y - centre|^2 / (2 w^2))``
    (a Gaussian bump of displacement, ``w = width_mm``); its inverse is found by fixed-point
    iteration, which converges because the bump's largest gradient,
    ``|amplitude| / w * exp(-1/2)``, is kept below 0.5.

    Parameters
    ----------
    amplitude_mm : tuple of float
        Displacement (mm) at the bump's centre.
    centre_mm : tuple of float
        World RAS+ mm, in the post-ablation space.
    width_mm : float
        Standard deviation of the bump (mm).
    rigid : RigidMotion
        Rigid part, applied before the bump (pre to post).
    """

    amplitude_mm: tuple[float, float, float]
    centre_mm: tuple[float, float, float]
    width_mm: float
    rigid: RigidMotion = RigidMotion()

    def __post_init__(self) -> None:
        gradient = float(np.linalg.norm(self.amplitude_mm)) / self.width_mm * np.exp(-0.5)
        if gradient >= 0.5:
            raise ValueError(
                f"deformation too strong to invert (largest gradient {gradient:.2f} >= 0.5)"
            )

    def _bump(self, points: np.ndarray) -> np.ndarray:
        offset = points - np.asarray(self.centre_mm, dtype=float)
        weight = np.exp(-np.sum(offset**2, axis=-1) / (2.0 * self.width_mm**2))
        return weight[..., None] * np.asarray(self.amplitude_mm, dtype=float)

    def post_to_pre(self, points_mm: np.ndarray) -> np.ndarray:
        """Pre-ablation world point (mm) of post-ablation world points, shape (..., 3).

        Parameters
        ----------
        points_mm : numpy.ndarray, shape (..., 3)
            Post-ablation world points (mm).

        Returns
        -------
        numpy.ndarray, shape (..., 3)
            Pre-ablation world points (mm).
        """
        points = np.asarray(points_mm, dtype=float)
        return self.rigid.post_to_pre(points) + self._bump(points) @ self.rigid.matrix

    def pre_to_post(self, points_mm: np.ndarray, iterations: int = 60) -> np.ndarray:
        """Post-ablation world point (mm) of pre-ablation world points (fixed-point iteration).

        Parameters
        ----------
        points_mm : numpy.ndarray, shape (..., 3)
            Pre-ablation world points (mm).
        iterations : int
            Fixed-point iterations inverting the smooth bump.

        Returns
        -------
        numpy.ndarray, shape (..., 3)
            Post-ablation world points (mm).
        """
        rigid_image = self.rigid.pre_to_post(points_mm)
        guess = rigid_image.copy()
        for _ in range(iterations):
            guess = rigid_image - self._bump(guess)
        return guess


@dataclass
class SyntheticPair:
    """A pre/post-ablation pair with its ground truth.

    Attributes
    ----------
    pre_ct, pre_labels : Volume
        Pre-ablation CT (HU) and label map (0 background, 1 liver, 2 tumor, 3 vessel, 4 other).
    post_ct, post_zone : Volume
        Post-ablation CT (HU) and ablation-zone mask (uint8, 1 inside).
    post_labels : Volume
        The moved anatomy's label map on the post-ablation grid (same codes as ``pre_labels``).
    motion : RigidMotion or SmoothDeformation
        The true motion: ``motion.pre_to_post`` and ``motion.post_to_pre``.
    tumor_centre_mm, tumor_radius_mm
        The spherical target tumor (pre-ablation world mm).
    zone_centre_mm, zone_radius_mm
        The spherical ablation zone (pre-ablation world mm).
    metadata : dict
        The phantom's metadata.
    """

    pre_ct: Volume
    pre_labels: Volume
    post_ct: Volume
    post_zone: Volume
    post_labels: Volume
    motion: RigidMotion | SmoothDeformation
    tumor_centre_mm: np.ndarray
    tumor_radius_mm: float
    zone_centre_mm: np.ndarray
    zone_radius_mm: float
    metadata: dict[str, Any]

    @property
    def expected_min_margin_mm(self) -> float:
        """True smallest margin (mm): ``R - |d| - r`` (negative when the tumor pokes out)."""
        offset = float(np.linalg.norm(self.zone_centre_mm - self.tumor_centre_mm))
        return self.zone_radius_mm - offset - self.tumor_radius_mm

    @property
    def expected_thinnest_at_mm(self) -> np.ndarray:
        """Tumor surface point (pre-ablation world mm) where the margin is smallest."""
        offset = self.zone_centre_mm - self.tumor_centre_mm
        norm = float(np.linalg.norm(offset))
        if norm == 0:
            raise ValueError("concentric zone: every tumor point is thinnest")
        return self.tumor_centre_mm - self.tumor_radius_mm * offset / norm

    def save(self, folder: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``pre_ct``, ``pre_labels``, ``post_ct``, ``post_zone``, ``post_labels`` (.nii.gz).

        Parameters
        ----------
        folder : str or os.PathLike
            Destination folder (created when missing).

        Returns
        -------
        dict of str to pathlib.Path
            Each image's name to the file written.
        """
        from rfasim.imaging import save_nifti

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, volume in (
            ("pre_ct", self.pre_ct),
            ("pre_labels", self.pre_labels),
            ("post_ct", self.post_ct),
            ("post_zone", self.post_zone),
            ("post_labels", self.post_labels),
        ):
            paths[name] = save_nifti(folder / f"{name}.nii.gz", volume.data, volume.affine)
        return paths


def _voxel_centres_mm(affine: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    indices = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), axis=-1)
    return apply_affine(affine, indices.reshape(-1, 3).astype(float))


def _spacing_triple(spacing_mm: float | Sequence[float]) -> tuple[float, float, float]:
    """A voxel size (mm) given as one value or three, as three values along (i, j, k)."""
    along_i, along_j, along_k = (
        float(s) for s in np.broadcast_to(np.asarray(spacing_mm, dtype=float), (3,))
    )
    return along_i, along_j, along_k


def make_pair(
    motion: RigidMotion | SmoothDeformation,
    *,
    phantom: str = "liver-25mm",
    spacing_mm: float | Sequence[float] = 2.0,
    post_spacing_mm: float | Sequence[float] | None = None,
    post_orientation: str | npt.ArrayLike | None = None,
    zone_radius_mm: float = 20.0,
    zone_offset_mm: Sequence[float] = (2.0, -2.0, 1.0),
    zone_hu: float = 15.0,
    source_spacing_mm: float = 1.0,
    source_border_mm: float = 30.0,
    noise_seed: int = 11,
) -> SyntheticPair:
    """A synthetic pre/post-ablation pair (see the module notes).

    Parameters
    ----------
    motion : RigidMotion or SmoothDeformation
        How the anatomy moved between the scans.
    phantom : str
        Named phantom of :mod:`rfasim.phantoms` (its tumor 1 is the target; a sphere).
    spacing_mm : float or tuple of float
        Voxel edges of the pre-ablation scan (mm).
    post_spacing_mm : float or tuple of float, optional
        Voxel edges of the post-ablation scan (mm); default: as the pre-ablation scan.
    post_orientation : {"RAS", "LPS", "oblique"} or 3x3 array, optional
        Orientation of the post-ablation scan's voxel axes; default: as the phantom (RAS).
    zone_radius_mm : float
        Radius of the spherical ablation zone (mm).
    zone_offset_mm : tuple of float
        Zone centre minus tumor centre (mm, pre-ablation space).
    zone_hu : float
        CT value painted inside the zone (HU), noise added.
    source_spacing_mm : float
        Spacing of the phantom the post-ablation scan is interpolated from (mm).
    source_border_mm : float
        The source phantom extends this far (mm) beyond the scans on every side.
    noise_seed : int
        Seed of the post-ablation scan's noise.

    Returns
    -------
    SyntheticPair

    Examples
    --------
    >>> pair = make_pair(RigidMotion((0, 0, 5), (4, -3, 2), (60, -20, 30)))  # doctest: +SKIP
    >>> round(pair.expected_min_margin_mm, 2)  # doctest: +SKIP
    4.5
    """
    spacing = _spacing_triple(spacing_mm)
    pre_spec = make_spec(phantom, spacing_mm=spacing)
    pre = generate_phantom(pre_spec)
    tumor = pre.metadata["tumors"][0]
    diameters = np.asarray(tumor["diameters_mm"], dtype=float)
    if np.ptp(diameters) > 1e-9:
        raise ValueError(f"phantom {phantom!r}: the target tumor is not a sphere")
    tumor_centre = np.asarray(tumor["centre_mm"], dtype=float)
    tumor_radius = float(diameters[0]) / 2.0
    zone_centre = tumor_centre + np.asarray(zone_offset_mm, dtype=float)

    # The source covers more than the scans, so that no anatomy moves in from outside it.
    source_spec = replace(
        make_spec(phantom, spacing_mm=(source_spacing_mm,) * 3),
        field_of_view_mm=pre_spec.field_of_view_mm + 2.0 * source_border_mm,
    )
    source = generate_phantom(source_spec)
    post_spec = make_spec(
        phantom,
        spacing_mm=spacing if post_spacing_mm is None else _spacing_triple(post_spacing_mm),
        orientation=post_orientation,
    )
    post_affine, post_shape = phantom_affine(post_spec)
    centres = _voxel_centres_mm(post_affine, post_shape)
    anatomy = motion.post_to_pre(centres)
    source_index = apply_affine(np.linalg.inv(source.affine), anatomy)
    hu = ndimage.map_coordinates(
        source.ct.astype(np.float32), source_index.T, order=1, mode="nearest"
    )
    labels = ndimage.map_coordinates(source.labels, source_index.T, order=0, mode="nearest")
    outside = np.any((source_index < -0.5) | (source_index > np.asarray(source.ct.shape) - 0.5), 1)
    hu[outside] = -1000.0
    labels[outside] = 0
    in_zone = np.sum((anatomy - zone_centre) ** 2, axis=1) <= zone_radius_mm**2
    rng = np.random.default_rng(noise_seed)
    body = labels != 0
    hu[in_zone] = zone_hu
    hu = hu + rng.standard_normal(hu.shape).astype(np.float32) * HU_NOISE_SD * body
    post_ct = np.clip(np.rint(hu), -1024, 3071).astype(np.int16).reshape(post_shape)
    post_zone = in_zone.reshape(post_shape).astype(np.uint8)
    return SyntheticPair(
        pre_ct=Volume(pre.ct, pre.affine),
        pre_labels=Volume(pre.labels, pre.affine),
        post_ct=Volume(post_ct, post_affine),
        post_zone=Volume(post_zone, post_affine),
        post_labels=Volume(labels.reshape(post_shape).astype(np.uint8), post_affine),
        motion=motion,
        tumor_centre_mm=tumor_centre,
        tumor_radius_mm=tumor_radius,
        zone_centre_mm=zone_centre,
        zone_radius_mm=float(zone_radius_mm),
        metadata=pre.metadata,
    )
