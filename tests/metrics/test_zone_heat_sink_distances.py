"""Zone axes on analytic ellipsoids, heat sink beside an indented zone, distances to the zone."""

from __future__ import annotations

import numpy as np
import pytest
from metrics_helpers import radius_from

from rfasim.grid import Grid
from rfasim.metrics import (
    distance_to_zone_mm,
    heat_sink_warnings,
    zone_metrics,
    zone_metrics_from_field,
)

SEMI_AXES = np.array([17.0, 11.0, 7.5])
CENTER = np.array([1.1, -0.7, 0.4])


def rotation(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def ellipsoid(spacing_mm, frame):
    grid = Grid.centered(2 * SEMI_AXES[0] + 6.0, spacing_mm, (0.3, -0.2, 0.1))
    x, y, z = grid.voxel_centers_mm()
    points = np.stack(np.broadcast_arrays(x - CENTER[0], y - CENTER[1], z - CENTER[2]), -1)
    level = np.sqrt((((points @ frame) / SEMI_AXES) ** 2).sum(-1))
    return grid, 1.0 - level  # >= 0 inside


FRAMES = {"axis": np.eye(3), "oblique": rotation((1.0, 2.0, 3.0), 0.7)}


@pytest.mark.parametrize("spacing_mm", [1.0, 0.5])
@pytest.mark.parametrize("frame_name", ["axis", "oblique"])
def test_ellipsoid_axes_volume_and_centroid(spacing_mm, frame_name):
    frame = FRAMES[frame_name]
    grid, field = ellipsoid(spacing_mm, frame)
    volume_ml = 4.0 / 3.0 * np.pi * np.prod(SEMI_AXES) * 1e-3

    from_mask = zone_metrics(field >= 0, grid)
    np.testing.assert_allclose(from_mask.axes_mm, 2 * SEMI_AXES, atol=spacing_mm)
    assert from_mask.volume_ml == pytest.approx(volume_ml, rel=0.01)
    np.testing.assert_allclose(from_mask.centroid_mm, CENTER, atol=0.1 * spacing_mm)
    alignment = np.abs(np.sum(from_mask.axis_directions * frame.T, axis=1))
    assert alignment.min() > 0.99

    from_field = zone_metrics_from_field(field, 0.0, grid, probe_axis=frame[:, 0])
    np.testing.assert_allclose(from_field.axes_mm, 2 * SEMI_AXES, atol=0.1 * spacing_mm)
    assert from_field.volume_ml == pytest.approx(volume_ml, rel=0.01 * spacing_mm)
    np.testing.assert_allclose(from_field.centroid_mm, CENTER, atol=0.02 * spacing_mm)


def test_probe_axis_sets_the_long_axis_even_when_shorter():
    grid, field = ellipsoid(1.0, np.eye(3))
    result = zone_metrics(field >= 0, grid, probe_axis=(0.0, 0.0, 2.0))
    np.testing.assert_allclose(result.axes_mm, [15.0, 34.0, 22.0], atol=1.0)
    np.testing.assert_allclose(np.abs(result.axis_directions[0]), [0, 0, 1], atol=1e-12)


def test_empty_zone():
    grid = Grid.centered(10.0, 1.0)
    result = zone_metrics(np.zeros(grid.shape, bool), grid)
    assert result.empty
    assert result.volume_ml == 0.0
    assert result.axes_mm == (0.0, 0.0, 0.0)
    assert zone_metrics_from_field(np.zeros(grid.shape), 1.0, grid).empty


@pytest.mark.parametrize("spacing_mm", [1.0, 0.5])
def test_heat_sink_beside_an_indented_zone(spacing_mm):
    grid = Grid.centered(56.0, spacing_mm, (0.2, -0.3, 0.1))
    x, y, z = grid.voxel_centers_mm()
    center = np.array([0.3, 0.1, -0.2])
    lateral, radius, gap, indent = 12.0, 3.0, 2.0, 3.0
    vessel_x, vessel_y = center[0] + lateral + radius + gap - indent, center[1] + 0.37
    from_axis = np.sqrt((x - vessel_x) ** 2 + (y - vessel_y) ** 2)
    prolate = (x - center[0]) ** 2 + (y - center[1]) ** 2 + ((z - center[2]) / 1.25) ** 2
    zone = (prolate <= lateral**2) & (from_axis >= radius + gap)  # groove cut by the heat sink
    vessel = np.broadcast_to(from_axis <= radius, grid.shape)
    tiny = np.broadcast_to((x - center[0] + 16) ** 2 + (y - center[1]) ** 2 <= 0.16, grid.shape)
    far = np.broadcast_to((y - center[1] - 26) ** 2 + (x - center[0]) ** 2 <= 9, grid.shape)

    reports = heat_sink_warnings(
        vessel | tiny | far, zone, grid, probe_axis=(0, 0, 1), zone_center_mm=center
    )
    assert len(reports) == 1
    [report] = reports
    assert report.calibre_mm == pytest.approx(2 * radius, abs=spacing_mm)
    assert report.distance_mm == pytest.approx(gap, abs=spacing_mm)
    assert report.indentation_mm == pytest.approx(indent, abs=spacing_mm)
    assert report.closest_point_mm[0] == pytest.approx(vessel_x - radius, abs=spacing_mm)
    assert report.warning.startswith(f"vessel 1 ({report.calibre_mm:.1f} mm calibre)")
    assert "heat sink, the zone is indented by" in report.warning

    # Without the groove: the same vessel, no indentation.
    whole = prolate <= (lateral - indent) ** 2
    [plain] = heat_sink_warnings(vessel, whole, grid, probe_axis=(0, 0, 1), zone_center_mm=center)
    assert abs(plain.indentation_mm) < 0.5 * spacing_mm
    assert "no indentation" in plain.warning
    # Farther than distance_mm: nothing to report.
    assert heat_sink_warnings(vessel, whole, grid, distance_mm=1.0) == []


@pytest.mark.parametrize("spacing_mm", [1.0, 0.5])
def test_distance_between_spheres(spacing_mm):
    grid = Grid.centered(40.0, spacing_mm)
    zone = radius_from(grid, (-6.1, 0.2, 0.3)) <= 9.0
    direction = np.array([2.0, 1.0, 2.0]) / 3.0
    other_center = np.array([-6.1, 0.2, 0.3]) + 15.5 * direction
    other = radius_from(grid, other_center) <= 3.5
    assert distance_to_zone_mm(other, zone, grid) == pytest.approx(3.0, abs=0.5 * spacing_mm)
    touching = radius_from(grid, other_center - 5 * direction) <= 3.5
    assert distance_to_zone_mm(touching, zone, grid) == 0.0
    assert distance_to_zone_mm(other, np.zeros(grid.shape, bool), grid) is None
