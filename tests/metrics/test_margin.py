"""Safety margin and coverage against two analytic spheres (zone around an offset tumor)."""

from __future__ import annotations

import numpy as np
import pytest
from metrics_helpers import cap_fraction_at_least, radius_from, sphere_intersection_volume

from rfasim.grid import Grid
from rfasim.metrics import MarginSurface, margin_metrics

TUMOR_RADIUS = 7.3
ZONE_RADIUS = 14.0
TUMOR_CENTER = np.array([0.37, -0.21, 0.13])
OFFSET = np.array([1.6, 0.8, -1.6])  # |OFFSET| = 2.4 mm


def spheres(spacing_mm: float, zone_radius: float = ZONE_RADIUS, offset=OFFSET):
    grid = Grid.centered(2 * zone_radius + 2 * np.linalg.norm(offset) + 6.0, spacing_mm)
    zone_center = TUMOR_CENTER + offset
    tumor = radius_from(grid, TUMOR_CENTER) <= TUMOR_RADIUS
    field = zone_radius - radius_from(grid, zone_center)  # signed distance, >= 0 inside
    return grid, tumor, field


def measure(grid, tumor, field, source, **kwargs):
    if source == "field":
        return margin_metrics(tumor, grid, zone_field=field, zone_threshold=0.0, **kwargs)
    return margin_metrics(tumor, grid, zone_mask=field >= 0.0, **kwargs)


# Tolerances (fraction of a voxel) on the minimum margin: the tumor is always a binary mask,
# whose boundary is known only to about +-h/2 at places; a zone mask adds its own such error.
MIN_TOLERANCE = {"field": 0.25, "mask": 0.4}


@pytest.mark.parametrize("spacing_mm", [1.0, 0.5])
@pytest.mark.parametrize("source", ["field", "mask"])
def test_margin_of_offset_spheres_matches_analytic(spacing_mm, source):
    grid, tumor, field = spheres(spacing_mm)
    offset = float(np.linalg.norm(OFFSET))
    target = 5.0
    result = measure(grid, tumor, field, source, target_mm=target)

    expected_min = ZONE_RADIUS - TUMOR_RADIUS - offset
    expected_max = ZONE_RADIUS - TUMOR_RADIUS + offset
    assert result.min_mm == pytest.approx(expected_min, abs=MIN_TOLERANCE[source] * spacing_mm)
    assert result.max_mm == pytest.approx(expected_max, abs=0.25 * spacing_mm)
    assert not result.ok  # expected_min = 4.3 mm < 5 mm
    assert measure(grid, tumor, field, source, target_mm=3.5).ok

    # Thinnest point: on the tumor surface, on the side away from the zone centre.
    thinnest = np.asarray(result.thinnest_at_mm) - TUMOR_CENTER
    assert np.linalg.norm(thinnest) == pytest.approx(TUMOR_RADIUS, abs=0.5 * spacing_mm)
    cosine = thinnest @ (-OFFSET) / (np.linalg.norm(thinnest) * offset)
    assert np.degrees(np.arccos(min(cosine, 1.0))) < 15.0

    expected_pct = 100 * cap_fraction_at_least(TUMOR_RADIUS, ZONE_RADIUS, offset, target)
    assert result.surface_pct_at_target == pytest.approx(expected_pct, abs=2.0)
    expected_10 = 100 * cap_fraction_at_least(TUMOR_RADIUS, ZONE_RADIUS, offset, 10.0)
    assert result.surface_pct_at_10mm == pytest.approx(expected_10, abs=2.0)
    # Median: the level with half the area above it, i.e. the equator of the offset direction.
    expected_median = ZONE_RADIUS - np.sqrt(TUMOR_RADIUS**2 + offset**2)
    assert result.percentiles_mm["p50"] == pytest.approx(expected_median, abs=0.25 * spacing_mm)
    values = list(result.percentiles_mm.values())
    assert values == sorted(values)

    assert result.coverage_pct == pytest.approx(100.0, abs=1e-9)
    assert result.destroyed_more_than_90_pct

    surface = result.surface
    assert isinstance(surface, MarginSurface)
    assert surface.margin_mm.shape == (surface.vertices_mm.shape[0],)
    assert surface.margin_mm.min() == pytest.approx(result.min_mm)
    radii = np.linalg.norm(surface.vertices_mm - TUMOR_CENTER, axis=1)
    assert np.abs(radii - TUMOR_RADIUS).mean() < 0.1 * spacing_mm


OBLIQUE = np.array([2.0, -1.0, 3.0]) / np.sqrt(14.0)


@pytest.mark.parametrize("spacing_mm", [1.0, 0.5])
@pytest.mark.parametrize("source", ["field", "mask"])
@pytest.mark.parametrize("direction", ["oblique", "grid_axis"])
def test_partly_covered_tumor_has_negative_margin_and_analytic_coverage(
    spacing_mm, source, direction
):
    zone_radius = 8.0
    offset = 4.0
    unit = OBLIQUE if direction == "oblique" else np.array([1.0, 0.0, 0.0])
    grid, tumor, field = spheres(spacing_mm, zone_radius, offset * unit)
    result = measure(grid, tumor, field, source)

    # Along a grid axis the thinnest point is a pole of the voxelised tumor, where a binary
    # mask leaves the boundary undetermined by up to h/2: the worst case.
    tolerance = (
        MIN_TOLERANCE[source] if direction == "oblique" else {"field": 0.5, "mask": 0.6}[source]
    )
    assert result.min_mm == pytest.approx(
        zone_radius - TUMOR_RADIUS - offset, abs=tolerance * spacing_mm
    )
    assert result.min_mm < 0
    assert not result.ok
    assert result.max_mm == pytest.approx(
        zone_radius - TUMOR_RADIUS + offset, abs=max(tolerance, 0.25) * spacing_mm
    )
    # Coverage against the analytic lens volume; relative to the voxelised tumor volume.
    analytic = sphere_intersection_volume(TUMOR_RADIUS, zone_radius, offset)
    expected = 100.0 * analytic / (4.0 / 3.0 * np.pi * TUMOR_RADIUS**3)
    tolerance = {"field": 0.015, "mask": 0.03}[source] * expected
    assert result.coverage_pct == pytest.approx(expected, abs=tolerance)
    assert not result.destroyed_more_than_90_pct
    expected_pct = 100 * cap_fraction_at_least(TUMOR_RADIUS, zone_radius, offset, 0.0)
    assert 100 - result.surface_pct_at_target == pytest.approx(100.0, abs=1e-9)
    negative = np.mean(result.surface.margin_mm < 0) * 100
    assert negative == pytest.approx(100 - expected_pct, abs=5.0)


def test_zone_apart_from_tumor_gives_minus_the_distance():
    grid, tumor, _ = spheres(0.5, ZONE_RADIUS, OFFSET)
    zone_center = TUMOR_CENTER + 14.0 * OBLIQUE
    field = 4.0 - radius_from(grid, zone_center)
    result = margin_metrics(tumor, grid, zone_field=field, zone_threshold=0.0)
    assert result.max_mm == pytest.approx(-(14.0 - TUMOR_RADIUS - 4.0), abs=0.125)
    assert result.min_mm == pytest.approx(-(14.0 + TUMOR_RADIUS - 4.0), abs=0.125)
    assert result.coverage_pct == 0.0
    assert result.surface_pct_at_target == 0.0


def test_empty_zone_convention():
    grid, tumor, field = spheres(1.0)
    result = margin_metrics(tumor, grid, zone_mask=np.zeros(grid.shape, bool))
    assert result.min_mm is None
    assert result.thinnest_at_mm is None
    assert result.percentiles_mm is None
    assert result.ok is False
    assert result.coverage_pct == 0.0
    assert np.isnan(result.surface.margin_mm).all()
    assert result.to_dict()["min_mm"] is None
    field_result = margin_metrics(tumor, grid, zone_field=field, zone_threshold=1e6)
    assert field_result.min_mm is None


def test_to_dict_is_json_ready():
    import json

    grid, tumor, field = spheres(1.0)
    content = measure(grid, tumor, field, "field").to_dict()
    text = json.dumps(content)
    for key in ("min_mm", "target_mm", "surface_pct_at_target", "ok", "thinnest_at_mm"):
        assert key in content
    assert "NaN" not in text


def test_errors_name_the_input():
    grid, tumor, field = spheres(1.0)
    with pytest.raises(ValueError, match="tumor_mask is empty"):
        margin_metrics(np.zeros(grid.shape, bool), grid, zone_mask=field >= 0)
    with pytest.raises(ValueError, match="zone_threshold"):
        margin_metrics(tumor, grid, zone_field=field)
    with pytest.raises(ValueError, match="zone_mask has shape"):
        margin_metrics(tumor, grid, zone_mask=np.ones((3, 3, 3), bool))
    with pytest.raises(ValueError, match="give zone_mask or zone_field"):
        margin_metrics(tumor, grid)
