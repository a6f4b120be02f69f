"""The distances to a mask at a few voxels are the Euclidean distance transform's, to the last digit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from rfasim.metrics._voxel_distance import DistanceToMask, distances_to_mask_mm


def _random_mask(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    mask = ndimage.binary_dilation(rng.random(shape) < rng.uniform(0.002, 0.05), iterations=int(rng.integers(0, 3)))
    if not mask.any():
        mask[tuple(rng.integers(0, n) for n in shape)] = True
    return mask


@pytest.mark.parametrize("spacing_mm", [1.0, 1.5, 0.75, 0.5, 1.2])
def test_distances_equal_the_distance_transform(spacing_mm: float) -> None:
    """At every voxel of random masks: the same numbers as SciPy (1.2 mm takes the full transform)."""
    rng = np.random.default_rng(int(spacing_mm * 100))
    for _ in range(6):
        shape = tuple(int(n) for n in rng.integers(4, 26, 3))
        mask = _random_mask(rng, shape)
        expected = ndimage.distance_transform_edt(~mask, sampling=spacing_mm)
        indices = np.argwhere(np.ones(shape, dtype=bool))
        np.testing.assert_array_equal(distances_to_mask_mm(indices, mask, spacing_mm), expected[tuple(indices.T)])


def test_a_mask_touching_the_array_edge_and_a_few_queries() -> None:
    """A slab along one face: distances grow with the index, zero inside, queried in any order."""
    mask = np.zeros((12, 5, 6), dtype=bool)
    mask[:2] = True
    distance = DistanceToMask(mask, 1.5)
    queries = np.array([[11, 4, 5], [0, 0, 0], [5, 2, 3], [2, 0, 5]])
    np.testing.assert_array_equal(distance.at(queries), [15.0, 0.0, 6.0, 1.5])


def test_an_empty_mask_and_a_bad_spacing_are_refused() -> None:
    with pytest.raises(ValueError, match="empty mask"):
        DistanceToMask(np.zeros((4, 4, 4), dtype=bool), 1.0)
    with pytest.raises(ValueError, match="spacing_mm"):
        DistanceToMask(np.ones((4, 4, 4), dtype=bool), 0.0)
