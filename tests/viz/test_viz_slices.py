"""Slices: the three-plane summary, oblique planes, and the plane sampler."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rfasim.grid import Grid
from rfasim.plan.result import Eligibility
from rfasim.viz.slices import SlicePlane, direction_letter, plot_slice, plot_summary


def _texts(figure) -> set[str]:
    return {text.get_text() for axes in figure.axes for text in axes.texts}


def test_summary_has_three_labelled_slices(plan, tmp_path: Path, compare_image) -> None:
    from PIL import Image

    path = tmp_path / "summary.png"
    figure = plot_summary(plan, path)
    assert len(figure.axes) == 3
    assert [axes.get_title().split()[0] for axes in figure.axes] == ["axial", "coronal", "sagittal"]
    assert {"R", "L", "A", "P", "S", "I", "10 mm"} <= _texts(figure)
    # Radiological convention: patient right (+x) on the viewer's left of axial and coronal.
    axial, coronal, sagittal = figure.axes
    assert axial.get_xlim()[0] > axial.get_xlim()[1]
    assert coronal.get_xlim()[0] > coronal.get_xlim()[1]
    assert sagittal.get_xlim()[0] > sagittal.get_xlim()[1]  # anterior on the left
    title = figure.texts[0].get_text() if figure.texts else figure._suptitle.get_text()
    assert "coverage 97.2 %" in title
    assert "min margin -1.0 mm" in title
    assert "eligible" in title
    legend_labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert "tumor, margin < 0 mm" in legend_labels
    assert "Arrhenius zone" in legend_labels
    with Image.open(path) as image:
        assert image.size[0] > 1000
        assert image.size[1] > 400
    compare_image(path, "summary")


def test_summary_margin_colours_follow_the_uncovered_side(plan) -> None:
    """The red part of the tumor outline lies on the uncovered side (-x, patient's left)."""
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba

    axial = plot_summary(plan).axes[0]
    red = np.asarray(to_rgba("#e41a1c"))
    for collection in axial.collections:
        if isinstance(collection, LineCollection) and len(collection.get_colors()) > 10:
            colors = collection.get_colors()
            segments = collection.get_segments()
            is_red = np.all(np.isclose(colors, red, atol=1e-3), axis=1)
            break
    else:
        pytest.fail("no margin-coloured tumor outline")
    assert 0 < is_red.sum() < len(segments)
    red_x = np.mean(
        [segment[:, 0].mean() for segment, flag in zip(segments, is_red, strict=True) if flag]
    )
    assert red_x < plan.tumor.centroid_mm[0] - 5.0


def test_summary_without_ct_and_for_a_refused_plan(
    plan_without_ct, tmp_path: Path, compare_image
) -> None:
    path = tmp_path / "summary_labels.png"
    assert len(plot_summary(plan_without_ct, path).axes) == 3
    compare_image(path, "summary_labels")
    refused = replace(
        plan_without_ct,
        zone_mask=None,
        arrhenius_zone_mask=None,
        peak_temperature_c=None,
        margin_surface=None,
        placements=[],
        eligibility=Eligibility(
            eligible=False, tumor_max_diameter_mm=46.0, limit_mm=40.0, reason="too large"
        ),
        tumor=None,
        zone=None,
    )
    figure = plot_summary(refused, tmp_path / "refused.png")
    assert "NOT ELIGIBLE" in figure._suptitle.get_text()
    assert (tmp_path / "refused.png").stat().st_size > 1000


def test_oblique_slice_draws_isotherms(plan, tmp_path: Path, compare_image) -> None:
    probe = plan.placements[0]
    path = tmp_path / "slice.png"
    figure = plot_slice(plan, probe.tip_mm, np.cross(probe.unit_direction, [0.0, 0.0, 1.0]), path)
    labels = _texts(figure)
    assert {"50 °C", "60 °C"} <= labels
    assert path.exists()
    compare_image(path, "slice_along_probe")


def test_oblique_plane_samples_fields_exactly() -> None:
    grid = Grid.centered(extent_mm=30.0, spacing_mm=1.5, center_mm=(5.0, -3.0, 12.0))
    x, y, z = grid.voxel_centers_mm()
    linear = (2.0 * x - y + 0.5 * z + np.zeros(grid.shape)).astype(np.float32)
    plane = SlicePlane.oblique((6.0, -2.0, 11.0), (1.0, 2.0, -0.5), grid)
    np.testing.assert_allclose(plane.u_axis @ plane.v_axis, 0.0, atol=1e-12)
    np.testing.assert_allclose(
        plane.normal, np.array([1.0, 2.0, -0.5]) / np.linalg.norm([1.0, 2.0, -0.5])
    )
    values = plane.sample(linear, grid, fill=np.nan)
    points = plane.world_points_mm()
    expected = 2.0 * points[..., 0] - points[..., 1] + 0.5 * points[..., 2]
    inside = ~np.isnan(values)
    assert inside.mean() > 0.3
    np.testing.assert_allclose(values[inside], expected[inside], atol=1e-3)


def test_orthogonal_planes_and_letters() -> None:
    grid = Grid.centered(extent_mm=20.0, spacing_mm=1.0)
    axial = SlicePlane.orthogonal("axial", (0.0, 0.0, 3.2), grid)
    assert np.ptp(axial.world_points_mm()[..., 2]) == 0
    assert axial.world_points_mm()[
        0, 0, 2
    ] == pytest.approx(3.2)
    coronal = SlicePlane.orthogonal("coronal", (0.0, -1.0, 0.0), grid)
    assert direction_letter(coronal.v_axis) == "S"
    assert direction_letter(-coronal.u_axis) == "L"
    with pytest.raises(ValueError, match="plane must be"):
        SlicePlane.orthogonal("transverse", (0, 0, 0), grid)
    with pytest.raises(ValueError, match="non-zero"):
        SlicePlane.oblique((0, 0, 0), (0, 0, 0), grid)
