"""Distances from a few voxels to the nearest voxel of a mask, as the Euclidean distance transform.

:func:`distances_to_mask_mm` gives, at the voxels asked for, the values
``scipy.ndimage.distance_transform_edt(~mask, sampling=spacing_mm)`` has there, without
transforming the whole array: the nearest mask voxel is found by a k-d tree on the mask's
boundary voxels (the nearest mask voxel of a voxel outside the mask is always on the boundary:
from an interior voxel, its neighbour towards the point is in the mask and nearer), and the
distance is computed from the index offsets in SciPy's own order of operations (offset times
spacing, squared, summed over the axes in order, square root).  With a spacing of few significant
bits (1, 1.5, 0.75, 0.5 mm...) every product and sum is exact, so any of several equally near mask
voxels gives the same number and the result is SciPy's to the last digit; with another spacing
(1.2 mm) equally near voxels could round differently, and the whole transform is computed instead.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

#: Face neighbours: a mask voxel with a face neighbour outside the mask is on its boundary.
_FACES = ndimage.generate_binary_structure(3, 1)


def _boundary_indices(mask: np.ndarray) -> np.ndarray:
    """Indices ``(n, 3)`` of the mask voxels with a face neighbour (in the array) outside the mask."""
    coordinates = np.nonzero(mask)
    # The bounding box and one voxel around it (in the array): the neighbours that decide.
    low = np.maximum(np.array([c.min() for c in coordinates]) - 1, 0)
    high = np.minimum(np.array([c.max() for c in coordinates]) + 2, mask.shape)
    crop = mask[tuple(slice(a, b) for a, b in zip(low, high, strict=True))]
    # Outside the array counts as mask (border_value=1): only neighbours in the array can be nearer.
    interior = ndimage.binary_erosion(crop, _FACES, border_value=1)
    return np.argwhere(crop & ~interior) + low


def _exact_offsets(spacing_mm: float, extent: int) -> bool:
    """Whether offsets up to ``extent`` voxels times the spacing, squared and summed, are exact."""
    mantissa, _ = math.frexp(float(spacing_mm))
    significand = int(mantissa * 2**53)
    odd = significand >> ((significand & -significand).bit_length() - 1)
    return 2 * (odd.bit_length() + int(extent).bit_length()) + 2 <= 53


class DistanceToMask:
    """Distances (mm) from voxels to the nearest voxel of a mask, as its Euclidean distance transform.

    Built once for a mask (its boundary voxels in a k-d tree), asked for as many voxels as needed.

    Parameters
    ----------
    mask : numpy.ndarray of bool, 3-D
        The voxels distances are measured to (must not be empty).
    spacing_mm : float
        Isotropic voxel spacing (mm).

    Raises
    ------
    ValueError
        If ``mask`` is empty or the spacing is not positive.
    """

    def __init__(self, mask: np.ndarray, spacing_mm: float) -> None:
        self.mask = np.asarray(mask, dtype=bool)
        self.spacing_mm = float(spacing_mm)
        if not self.spacing_mm > 0:
            raise ValueError(f"spacing_mm must be positive, got {spacing_mm!r}")
        if not self.mask.any():
            raise ValueError("distances to an empty mask are undefined")
        self._transform: np.ndarray | None = None
        self._boundary: np.ndarray | None = None
        self._tree: cKDTree | None = None
        if _exact_offsets(self.spacing_mm, max(self.mask.shape)):
            self._boundary = _boundary_indices(self.mask)
            # Integer coordinates: the squared distances the tree compares are exact.
            self._tree = cKDTree(self._boundary.astype(np.float64))

    def at(self, indices: np.ndarray) -> np.ndarray:
        """Distance (mm) from each voxel of ``indices`` to the nearest mask voxel (0 in the mask).

        Parameters
        ----------
        indices : numpy.ndarray of int, shape (n, 3)
            Voxel indices into the mask.

        Returns
        -------
        numpy.ndarray of float, shape (n,)
            ``scipy.ndimage.distance_transform_edt(~mask, sampling=spacing_mm)`` at ``indices``:
            the same numbers.
        """
        points = np.asarray(indices, dtype=np.int64).reshape(-1, 3)
        if self._tree is None or self._boundary is None:
            if self._transform is None:
                self._transform = ndimage.distance_transform_edt(~self.mask, sampling=self.spacing_mm)
            return self._transform[tuple(points.T)]
        distances = np.zeros(points.shape[0])
        outside = ~self.mask[tuple(points.T)]
        if not outside.any():
            return distances
        queried = points[outside]
        _, nearest = self._tree.query(queried.astype(np.float64), k=1)
        offsets = (self._boundary[nearest] - queried).astype(np.float64) * self.spacing_mm
        squared = offsets * offsets
        distances[outside] = np.sqrt(squared[:, 0] + squared[:, 1] + squared[:, 2])
        return distances


def distances_to_mask_mm(indices: np.ndarray, mask: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Distance (mm) from each voxel of ``indices`` to the nearest voxel of ``mask`` (0 inside it).

    Parameters
    ----------
    indices : numpy.ndarray of int, shape (n, 3)
        Voxel indices into ``mask``.
    mask : numpy.ndarray of bool, 3-D
        The voxels distances are measured to (must not be empty).
    spacing_mm : float
        Isotropic voxel spacing (mm).

    Returns
    -------
    numpy.ndarray of float, shape (n,)
        ``scipy.ndimage.distance_transform_edt(~mask, sampling=spacing_mm)`` at ``indices``: the
        same numbers.

    Raises
    ------
    ValueError
        If ``mask`` is empty or the spacing is not positive.
    """
    return DistanceToMask(mask, spacing_mm).at(indices)
