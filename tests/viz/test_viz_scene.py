"""3D scene: construction (always), headless rendering and image regression (when OpenGL works)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from image_regression import IMAGE_CACHE, IMAGE_TOLERANCE, image_difference, regenerating

from rfasim.viz import rendering
from rfasim.viz.rendering import RenderingUnavailableError, rendering_available
from rfasim.viz.scene import (
    MARGIN_SCALARS,
    build_scene,
    default_camera,
    margin_colormap,
    mask_surface,
    render_scene_png,
    show,
)

SMALL_WINDOW = (320, 240)

needs_rendering = pytest.mark.skipif(
    not rendering_available(),
    reason="no off-screen OpenGL context (EGL, OSMesa, X or Xvfb) on this machine",
)


def test_import_does_not_load_pyvista() -> None:
    code = (
        "import sys, rfasim.viz, rfasim.viz.scene, rfasim.viz.slices;"
        "print(sorted(m for m in ('pyvista', 'vtkmodules', 'matplotlib.pyplot') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


def test_scene_holds_every_part(plan) -> None:
    plotter = build_scene(plan, show_ct_plane=True, window_size=SMALL_WINDOW)
    try:
        names = set(plotter.actors)
        expected = {
            "liver",
            "tumor",
            "zone",
            "arrhenius_zone",
            "vessels",
            "probe_active",
            "probe_insulated",
            "ct_plane",
        }
        assert expected <= names
        assert MARGIN_SCALARS in plotter.scalar_bars
        tumor = plotter.actors["tumor"].mapper.dataset
        np.testing.assert_allclose(tumor.point_data[MARGIN_SCALARS], plan.margin_surface.margin_mm)
        assert plotter.actors["zone"].prop.opacity < 1.0
        assert plotter.actors["arrhenius_zone"].prop.style == "Wireframe"
        # The probe stays near the grid: the long insulated shaft is clipped.
        bounds = np.asarray(plotter.actors["probe_insulated"].mapper.dataset.bounds).reshape(3, 2)
        assert np.all(bounds[:, 1] - bounds[:, 0] < 60.0)
    finally:
        plotter.close()


def test_scene_options_drop_liver_and_ct(plan) -> None:
    plotter = build_scene(plan, show_liver=False, window_size=SMALL_WINDOW)
    try:
        assert "liver" not in plotter.actors
        assert "ct_plane" not in plotter.actors
    finally:
        plotter.close()


def test_mask_surface_encloses_the_sphere_volume(plan) -> None:
    surface = mask_surface(plan.target_mask, plan.grid)
    assert surface.n_points > 0
    assert surface.is_manifold
    voxel_volume = plan.target_mask.sum() * plan.grid.spacing_mm**3
    assert abs(surface.volume - voxel_volume) / voxel_volume < 0.1
    center = surface.points.mean(axis=0)
    np.testing.assert_allclose(center, plan.tumor.centroid_mm, atol=0.3)
    assert mask_surface(np.zeros(plan.grid.shape, bool), plan.grid).n_points == 0


def test_margin_colormap_bands() -> None:
    colormap, (low, high) = margin_colormap(5.0)

    def color(margin_mm: float) -> np.ndarray:
        return np.asarray(colormap((margin_mm - low) / (high - low)))[:3]

    red, yellow, green = color(-0.5), color(2.5), color(6.0)
    assert red[0] > 0.7  # uncovered
    assert red[1] < 0.3
    assert yellow[0] > 0.9  # below target
    assert yellow[1] > 0.6
    assert yellow[2] < 0.4
    assert green[1] > green[0]  # at target
    assert green[1] > green[2]


def test_default_camera_is_perpendicular_to_the_probe(plan) -> None:
    position, focal, up = default_camera(plan)
    view = (position - focal) / np.linalg.norm(position - focal)
    shaft = plan.placements[0].unit_direction
    assert abs(float(view @ shaft)) < 1e-9
    assert abs(float(view @ up)) < 1e-9
    np.testing.assert_allclose(focal, plan.tumor.centroid_mm)
    assert view[1] > 0  # from the anterior side


@needs_rendering
def test_render_writes_a_non_blank_png(plan, tmp_path: Path, compare_image) -> None:
    from PIL import Image

    path = tmp_path / "scene.png"
    render_scene_png(plan, path, window_size=SMALL_WINDOW)
    image = np.asarray(Image.open(path).convert("RGB"), dtype=float)
    assert image.shape == (SMALL_WINDOW[1], SMALL_WINDOW[0], 3)
    assert image.std() > 10.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.png"]  # no partial file left
    compare_image(path, "scene")


@needs_rendering
@pytest.mark.skipif(regenerating(), reason="regenerating the image cache")
def test_image_regression_notices_a_missing_zone(plan, tmp_path: Path) -> None:
    from dataclasses import replace

    path = tmp_path / "scene.png"
    render_scene_png(
        replace(plan, zone_mask=None, arrhenius_zone_mask=None), path, window_size=SMALL_WINDOW
    )
    assert image_difference(path, IMAGE_CACHE / "scene.png") > IMAGE_TOLERANCE


def test_unavailable_rendering_raises_and_show_falls_back(
    plan, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(rendering, "_choice", rendering._BackendChoice())
    monkeypatch.setenv("RFASIM_RENDERING_BACKEND", "none")
    with pytest.raises(RenderingUnavailableError, match="disabled"):
        render_scene_png(plan, tmp_path / "scene.png")
    assert not any(tmp_path.iterdir())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        shown = show(plan)
    assert len(shown.axes) == 3  # the 2D summary instead
    assert any("3D view unavailable" in str(w.message) for w in caught)


def test_prefetched_trial_renders_are_collected_once(monkeypatch) -> None:
    monkeypatch.setattr(rendering, "_choice", rendering._BackendChoice())
    monkeypatch.delenv("RFASIM_RENDERING_BACKEND", raising=False)
    tried, activated = [], []
    monkeypatch.setattr(rendering, "_probe", lambda backend, timeout_s: tried.append(backend) or (
        "" if backend == "default" else f"{backend}: no"))
    monkeypatch.setattr(rendering, "_activate", activated.append)
    rendering.prefetch_rendering_backend()
    rendering.prefetch_rendering_backend()  # already running: no second search
    assert not activated  # nothing is activated before the backend is asked for
    assert rendering.rendering_backend() == "default"
    assert rendering.rendering_backend() == "default"
    assert tried == ["egl", "default"] and activated == ["default"]


@needs_rendering
def test_show_without_display_returns_an_image(plan, monkeypatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    image = show(plan, window_size=SMALL_WINDOW)
    assert image.shape == (SMALL_WINDOW[1], SMALL_WINDOW[0], 3)


def test_default_view_shows_at_least_two_faces_of_the_orientation_cube(plan) -> None:
    """A view along a world axis shows one face of the cube, which tells nothing (issue 15)."""
    from dataclasses import replace

    from rfasim.probes import ProbePlacement

    for direction in ([-1, 0, 0], [0, 0, -1], [-1, 0.12, -0.2], [0, -1, 0]):
        probe = ProbePlacement("cooltip-17g-3cm", tip_mm=[0, 0, 0], direction=direction)
        position, focal, _ = default_camera(replace(plan, placements=[probe]))
        view = (position - focal) / np.linalg.norm(position - focal)
        assert abs(float(view @ probe.unit_direction)) < 1e-9  # still perpendicular to the shaft
        assert np.sum(np.abs(view) > np.sin(np.radians(15.0))) >= 2, direction


def test_a_vessel_cut_by_the_box_is_an_open_tube_not_a_disc() -> None:
    from rfasim.grid import Grid
    from rfasim.viz.scene import mask_surface

    grid = Grid.centered(30.0, 1.0)
    _, y, z = grid.voxel_centers_mm()
    vessel = np.broadcast_to(y**2 + z**2 <= 4.0**2, grid.shape)  # along x, through the whole box
    for open_faces, cap in ((False, True), (True, False)):
        surface = mask_surface(vessel, grid, open_at_grid_faces=open_faces)
        points = np.asarray(surface.points)
        near_axis = np.hypot(points[:, 1], points[:, 2]) < 2.0
        assert bool(near_axis.any()) is cap  # a capped end puts surface points on the axis
