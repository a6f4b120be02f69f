"""Helpers of the imaging tests: affines of several orientations and spacings, analytic shapes."""

from __future__ import annotations

import numpy as np


def rotation(axis: str, degrees: float) -> np.ndarray:
    """3x3 rotation about a world axis."""
    angle = np.deg2rad(degrees)
    c, s = np.cos(angle), np.sin(angle)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def make_affine(spacing_mm, directions: np.ndarray, origin_mm) -> np.ndarray:
    """Voxel-to-world affine with the given voxel edges, axis directions (columns) and origin."""
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(directions, dtype=float) @ np.diag(
        np.asarray(spacing_mm, dtype=float)
    )
    affine[:3, 3] = origin_mm
    return affine


ORIENTATIONS = {
    "RAS": np.eye(3),
    "LPS": np.diag([-1.0, -1.0, 1.0]),
    "oblique": rotation("x", 17.0) @ rotation("z", 31.0) @ np.diag([-1.0, -1.0, 1.0]),
}


def centred_affine(
    spacing_mm, orientation: str, shape, centre_mm=(12.0, -30.0, 45.0)
) -> np.ndarray:
    """Affine whose image (of ``shape``) is centred on ``centre_mm``."""
    directions = ORIENTATIONS[orientation]
    affine = make_affine(spacing_mm, directions, (0.0, 0.0, 0.0))
    affine[:3, 3] = np.asarray(centre_mm) - affine[:3, :3] @ ((np.asarray(shape) - 1) / 2.0)
    return affine


def ellipsoid_mask(shape, affine, centre_mm, semi_axes_mm, axes=None) -> np.ndarray:
    """Voxels whose centre lies in an ellipsoid (semi-axes along the columns of ``axes``)."""
    indices = np.indices(shape).reshape(3, -1).T
    world = indices @ affine[:3, :3].T + affine[:3, 3] - np.asarray(centre_mm)
    local = world @ (np.eye(3) if axes is None else np.asarray(axes))
    inside = np.sum((local / np.asarray(semi_axes_mm)) ** 2, axis=1) <= 1.0
    return inside.reshape(shape)
