"""Simulation grid, resampling to it and back into the input image's own space, memory checks."""

from __future__ import annotations

import numpy as np
import pytest
from imaging_helpers import centred_affine

from rfasim.errors import ImageError, ResourceError
from rfasim.grid import Grid
from rfasim.imaging import (
    Volume,
    check_memory,
    corner_points_mm,
    estimate_memory_bytes,
    resample_ct,
    resample_labels,
    resample_to_grid,
    resample_to_volume,
    simulation_grid,
)

SHAPE = (40, 36, 24)
CENTRE = (12.0, -30.0, 45.0)


def linear_field(points_mm: np.ndarray) -> np.ndarray:
    """A field linear in world mm: linear interpolation reproduces it exactly."""
    return 3.0 + 0.5 * points_mm[..., 0] - 0.25 * points_mm[..., 1] + 0.125 * points_mm[..., 2]


def voxel_world(affine, shape) -> np.ndarray:
    indices = np.stack(np.indices(shape), axis=-1).astype(float)
    return indices @ affine[:3, :3].T + affine[:3, 3]


def test_grid_covers_points_and_margin_and_is_isotropic(orientation):
    affine = centred_affine((0.8, 0.8, 1.5), orientation, SHAPE, CENTRE)
    points = np.array([[10.0, -32.0, 44.0], [16.0, -25.0, 50.0]])
    grid = simulation_grid(affine, SHAPE, points, margin_mm=5.0, spacing_mm=1.0)
    assert grid.spacing_mm == 1.0
    low = np.asarray(grid.origin_mm)
    high = low + (np.asarray(grid.shape) - 1) * grid.spacing_mm
    assert np.all(low <= points.min(axis=0) - 5.0 + 1e-9)
    assert np.all(high >= points.max(axis=0) + 5.0 - 1e-9)
    assert np.all(
        high - low <= points.max(axis=0) - points.min(axis=0) + 10.0 + 2 * grid.spacing_mm
    )


def test_grid_is_clipped_to_the_image(orientation):
    affine = centred_affine((1.0, 1.0, 1.0), orientation, SHAPE, CENTRE)
    corners = corner_points_mm(affine, SHAPE)
    grid = simulation_grid(affine, SHAPE, np.array([CENTRE]), margin_mm=500.0, spacing_mm=2.0)
    low = np.asarray(grid.origin_mm)
    high = low + (np.asarray(grid.shape) - 1) * grid.spacing_mm
    assert np.all(low >= corners.min(axis=0) - grid.spacing_mm)
    assert np.all(high <= corners.max(axis=0) + grid.spacing_mm)
    with pytest.raises(ImageError, match="outside the image"):
        simulation_grid(
            affine, SHAPE, np.array([[1000.0, 0.0, 0.0]]), margin_mm=5.0, spacing_mm=1.0
        )


def test_round_trip_lands_in_the_input_space(orientation):
    """A result computed on the grid comes back at the same world coordinates of the input."""
    affine = centred_affine((0.8, 0.9, 1.5), orientation, SHAPE, CENTRE)
    world = voxel_world(affine, SHAPE)
    ct = Volume(linear_field(world).astype(np.float32), affine)
    grid = simulation_grid(affine, SHAPE, np.array([CENTRE]), margin_mm=8.0, spacing_mm=1.0)
    on_grid = resample_ct(ct, grid)
    grid_world = np.stack(np.meshgrid(*grid.axis_coordinates_mm(), indexing="ij"), axis=-1)
    np.testing.assert_allclose(on_grid, linear_field(grid_world), atol=2e-3)

    back = resample_to_volume(on_grid, grid, SHAPE, affine, order=1, fill=np.nan)
    assert back.shape == SHAPE
    grid_index = grid.world_to_index(world)
    covered = np.all((grid_index >= -0.5) & (grid_index <= np.asarray(grid.shape) - 0.5), axis=-1)
    np.testing.assert_array_equal(np.isfinite(back), covered)  # filled exactly outside the grid
    between_centres = np.all(
        (grid_index >= 0) & (grid_index <= np.asarray(grid.shape) - 1), axis=-1
    )
    assert between_centres.sum() > 1000
    np.testing.assert_allclose(
        back[between_centres], linear_field(world)[between_centres], atol=5e-3
    )

    # A point result: a zone voxel at a known world point comes back at that point.
    point = np.asarray(CENTRE) + np.array([2.0, -1.0, 1.5])
    zone = np.zeros(grid.shape, dtype=np.uint8)
    zone_index = np.rint(grid.world_to_index(point)).astype(int)
    zone[tuple(zone_index)] = 1
    zone_centre = grid.index_to_world(zone_index)
    zone_back = resample_to_volume(zone, grid, SHAPE, affine, order=0, fill=0)
    landed = world[zone_back == 1]
    # Exactly the input voxels whose centre falls in the zone voxel's cube carry it back.
    in_cube = np.all(np.abs(world - zone_centre) <= 0.5 * grid.spacing_mm, axis=-1)
    np.testing.assert_array_equal(zone_back == 1, in_cube)
    assert len(landed) >= 1
    assert np.linalg.norm(landed.mean(axis=0) - zone_centre) < 0.5 * grid.spacing_mm


def test_labels_nearest_neighbour_and_fill(orientation):
    affine = centred_affine((1.0, 1.0, 2.0), orientation, (10, 10, 6), CENTRE)
    data = np.zeros((10, 10, 6), dtype=np.int16)
    data[3:7, 3:7, 2:4] = 7
    grid = Grid.centered(extent_mm=60.0, spacing_mm=1.0, center_mm=CENTRE)
    labels = resample_labels(Volume(data, affine), grid)
    assert labels.dtype == np.int16
    assert set(np.unique(labels).tolist()) == {0, 7}  # codes never blended
    inside = (voxel_world(affine, (10, 10, 6))[data == 7]).mean(axis=0)
    assert labels[tuple(np.rint(grid.world_to_index(inside)).astype(int))] == 7
    assert labels[0, 0, 0] == 0  # outside the image: background
    ct = resample_ct(Volume(np.full((10, 10, 6), 50.0), affine), grid)
    assert ct[0, 0, 0] == -1000.0  # outside the image: air
    assert ct[tuple(np.rint(grid.world_to_index(CENTRE)).astype(int))] == pytest.approx(50.0)


def test_resample_to_volume_keeps_the_input_shape():
    affine = centred_affine((0.8, 0.8, 1.5), "LPS", SHAPE, CENTRE)
    grid = Grid.centered(extent_mm=20.0, spacing_mm=1.0, center_mm=CENTRE)
    temperature = np.full(grid.shape, 90.0)
    back = resample_to_volume(temperature, grid, SHAPE, affine, order=1, fill=37.0)
    assert back.shape == SHAPE
    centre_index = tuple(
        np.rint(np.linalg.solve(affine[:3, :3], np.asarray(CENTRE) - affine[:3, 3])).astype(int)
    )
    assert back[centre_index] == pytest.approx(90.0)
    assert back[0, 0, 0] == pytest.approx(37.0)
    with pytest.raises(ValueError, match="differs from grid shape"):
        resample_to_volume(temperature[:-1], grid, SHAPE, affine)


@pytest.mark.parametrize("scale", [(1.0, 1.0, 1.0), (0.8, -0.7, 1.5), (-2.0, 1.25, -0.8339)])
def test_axis_aligned_images_sample_as_the_general_path(scale):
    """Axis-aligned images take a per-axis fast path: the same values as sampling every voxel."""
    from scipy import ndimage

    from rfasim.imaging.io import apply_affine

    rng = np.random.default_rng(5)
    shape = (23, 17, 12)
    affine = np.diag([*scale, 1.0])
    affine[:3, 3] = [10.5, -31.0, 44.25]
    labels = rng.integers(0, 9, shape).astype(np.uint8)
    ct = rng.normal(40.0, 30.0, shape).astype(np.float32)
    grid = Grid.centered(extent_mm=(30.0, 26.0, 21.0), spacing_mm=1.5, center_mm=(15.0, -28.0, 47.0))
    to_index = np.linalg.inv(affine) @ grid.affine
    indices = np.stack(np.indices(grid.shape), axis=-1).astype(float)
    coordinates = apply_affine(to_index, indices)
    rounded = np.rint(coordinates).astype(np.int64)
    inside = np.all((rounded >= 0) & (rounded < np.asarray(shape)), axis=-1)
    expected = np.zeros(grid.shape, np.uint8)
    expected[inside] = labels[tuple(rounded[inside].T)]
    np.testing.assert_array_equal(resample_labels(Volume(labels, affine), grid), expected)
    linear = ndimage.map_coordinates(ct, np.moveaxis(coordinates, -1, 0), order=1, mode="nearest")
    outside = np.any((coordinates < -0.5) | (coordinates > np.asarray(shape) - 0.5), axis=-1)
    np.testing.assert_array_equal(resample_ct(Volume(ct, affine), grid), np.where(outside, np.float32(-1000.0), linear))


def test_order_must_be_nearest_or_linear():
    grid = Grid.centered(extent_mm=10.0, spacing_mm=1.0)
    with pytest.raises(ValueError, match="order"):
        resample_to_grid(np.zeros((4, 4, 4)), np.eye(4), grid, order=3)


def test_memory_estimate_and_check():
    grid = Grid((200, 200, 200), 0.5, (0.0, 0.0, 0.0))
    assert estimate_memory_bytes(grid) == 200**3 * 200
    assert check_memory(grid, available_bytes=10**10) == 200**3 * 200
    with pytest.raises(
        ResourceError, match=r"spacing_mm = 0\.5.*use spacing_mm >= (\d+\.\d).*or margin_mm <= \d+"
    ) as caught:
        check_memory(grid, available_bytes=2 * 10**8, margin_mm=30.0)
    suggested = float(caught.value.args[0].split("spacing_mm >= ")[1].split()[0])
    extent_mm = (np.asarray(grid.shape) - 1) * grid.spacing_mm
    coarser = Grid.centered(tuple(extent_mm), suggested)
    check_memory(coarser, available_bytes=2 * 10**8)  # the advice fits
    margin = float(caught.value.args[0].split("margin_mm <= ")[1].split()[0])
    core = extent_mm - 60.0
    smaller = Grid.centered(tuple(core + 2 * margin), grid.spacing_mm)
    check_memory(smaller, available_bytes=2 * 10**8)
