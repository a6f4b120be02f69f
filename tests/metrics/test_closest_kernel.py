"""The compiled nearest-triangle search against the vectorised NumPy form it replaces."""

from __future__ import annotations

import numpy as np
import pytest

from rfasim.grid import Grid
from rfasim.metrics._closest_kernel import nearest_on_candidates
from rfasim.metrics._geometry import TriangleMesh, closest_points_on_triangles, indicator_from_field


def _zone_surface(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    grid = Grid.centered(30.0, 1.0)
    world = grid.index_to_world(np.indices(grid.shape).reshape(3, -1).T).reshape(*grid.shape, 3)
    axes = rng.uniform(4.0, 10.0, 3)
    field = 37.0 + 70.0 * np.exp(-(((world - rng.normal(0.0, 2.0, 3)) / axes) ** 2).sum(-1))
    return indicator_from_field(field, 60.0, grid).surface()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_compiled_search_equals_the_vectorised_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    vertices, faces = _zone_surface(rng)
    mesh = TriangleMesh(vertices, faces)
    # Points far and near, on vertices and just off them (every Voronoi region is visited).
    points = np.concatenate([rng.normal(0.0, 10.0, (2000, 3)), vertices, vertices + rng.normal(0.0, 1e-3, vertices.shape)])
    distances, closest = mesh.closest_points(points, chunk=1000)
    reference_distances, reference_closest = mesh.closest_points_reference(points)
    np.testing.assert_allclose(distances, reference_distances, rtol=0.0, atol=1e-12)
    np.testing.assert_allclose(closest, reference_closest, rtol=0.0, atol=1e-12)
    assert np.all(distances[2000 : 2000 + vertices.shape[0]] <= 1e-12)  # a vertex is on the surface


def test_every_region_of_one_triangle_against_brute_force() -> None:
    rng = np.random.default_rng(3)
    vertices = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    faces = np.array([[0, 1, 2], [0, 3, 3]], dtype=np.int64)  # the second is degenerate (a point)
    points = rng.uniform(-3.0, 6.0, (4000, 3))
    candidates = np.tile(np.array([0, 1], dtype=np.int64), (points.shape[0], 1))
    distances, closest = np.empty(points.shape[0]), np.empty_like(points)
    nearest_on_candidates(points, vertices, faces, candidates, distances, closest)
    triangles = vertices[faces]
    expected = closest_points_on_triangles(points[:, None, :], triangles[None, :, 0], triangles[None, :, 1],
                                           triangles[None, :, 2])
    squared = np.sum((expected - points[:, None, :]) ** 2, axis=-1)
    np.testing.assert_allclose(distances, np.sqrt(squared.min(axis=1)), rtol=0.0, atol=1e-12)
    # In the plane's triangle the distance is the height above it.
    inside = (points[:, 0] > 0.1) & (points[:, 1] > 0.1) & (points[:, 0] / 4.0 + points[:, 1] / 3.0 < 0.95)
    np.testing.assert_allclose(distances[inside], np.abs(points[inside, 2]), rtol=0.0, atol=1e-12)
