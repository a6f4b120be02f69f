"""3D scene of a plan with PyVista: liver, tumor coloured by margin, zones, vessels, probes.

PyVista (and VTK) are imported inside the functions, so that importing :mod:`rfasim.viz` costs
nothing to a solver run without a display.  See :mod:`rfasim.viz.rendering` for how a headless
machine renders.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from rfasim.atomic import atomic_path
from rfasim.probes.placement import lateral_axes
from rfasim.tissue import TissueClass
from rfasim.viz._common import (
    COLORS,
    LIVER_WINDOW_LEVEL_HU,
    LIVER_WINDOW_WIDTH_HU,
    clip_segment_to_box,
    grid_bounds_mm,
    margin_target_mm,
    metrics_title,
    probe_pieces,
    target_centroid_mm,
    zone_criterion_text,
)
from rfasim.viz.rendering import RenderingUnavailableError, rendering_backend

if TYPE_CHECKING:
    import pyvista

    from rfasim.grid import Grid
    from rfasim.metrics import MarginSurface
    from rfasim.plan.result import PlanResult

#: Name of the margin scalars on the tumor surface (also the scalar bar's title).
MARGIN_SCALARS = "margin (mm)"

#: Smallest radius (mm) a needle is drawn with, so that a 17G shaft stays visible.
MINIMUM_DRAWN_RADIUS_MM = 0.6

#: Largest number of voxels contoured at full resolution; larger masks are subsampled.
FULL_RESOLUTION_VOXELS = 4_000_000


def margin_colormap(target_mm: float) -> tuple[Any, tuple[float, float]]:
    """Colormap and colour limits (mm) for the local margin.

    Red below 0 mm (uncovered), yellow from 0 mm to the target, green at or above the target; the
    shade darkens away from the thresholds.

    Parameters
    ----------
    target_mm : float
        Margin target (mm).

    Returns
    -------
    colormap : matplotlib.colors.Colormap
    limits_mm : tuple of float
        ``(-target, 2 target)``: 0 mm and the target sit at one and two thirds of the bar.

    Examples
    --------
    >>> colormap, limits = margin_colormap(5.0)
    >>> limits
    (-5.0, 10.0)
    """
    from matplotlib.colors import LinearSegmentedColormap

    target = max(float(target_mm), 0.5)
    third, step = 1.0 / 3.0, 1e-3
    nodes = [
        (0.0, "#7f0000"),
        (third - step, COLORS["uncovered"]),
        (third, "#ffb000"),
        (2 * third - step, COLORS["thin_margin"]),
        (2 * third, "#7fd36e"),
        (1.0, "#0b5d1e"),
    ]
    colormap = LinearSegmentedColormap.from_list("rfasim_margin", nodes, N=256)
    return colormap, (-target, 2.0 * target)


def mask_surface(
    mask: np.ndarray, grid: Grid, *, smoothing_iterations: int = 15, subsample: int | None = None,
    open_at_grid_faces: bool = False,
) -> pyvista.PolyData:
    """Smoothed iso-surface (world mm) of a boolean mask on the simulation grid.

    Parameters
    ----------
    mask : ndarray of bool, shape ``grid.shape``
    grid : Grid
    smoothing_iterations : int
        Windowed-sinc (Taubin) smoothing iterations; 0 keeps the marching-cubes surface.
    subsample : int, optional
        Take every n-th voxel along each axis (default: 1, or 2 above
        :data:`FULL_RESOLUTION_VOXELS` voxels).
    open_at_grid_faces : bool
        Leave the surface open where the mask is cut by the grid's faces (vessels: a vessel cut by
        the simulation box is a tube that goes on, not a capped cylinder whose cap shows as a
        large disc in front of the tumor).

    Returns
    -------
    pyvista.PolyData
        Closed surface at the 0.5 level (padded by one voxel so that a mask touching the grid's
        faces still closes); empty when the mask is.

    Examples
    --------
    >>> from rfasim.grid import Grid
    >>> grid = Grid.centered(extent_mm=20.0, spacing_mm=1.0)
    >>> x, y, z = grid.voxel_centers_mm()
    >>> surface = mask_surface(x**2 + y**2 + z**2 <= 36.0, grid)
    >>> surface.n_points > 0
    True
    """
    import pyvista

    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return pyvista.PolyData()
    if subsample is None:
        subsample = 2 if mask.size > FULL_RESOLUTION_VOXELS else 1
    indices = np.argwhere(mask)
    low = np.maximum(indices.min(axis=0) - 1, 0)
    high = np.minimum(indices.max(axis=0) + 2, mask.shape)
    cropped = mask[
        low[0] : high[0] : subsample, low[1] : high[1] : subsample, low[2] : high[2] : subsample
    ]
    # Edge padding repeats the mask across a grid face it touches, so that the contour runs out of
    # the image there (open); inside the grid the crop's outer layer is empty either way.
    padded = np.pad(cropped, 1, mode="edge" if open_at_grid_faces else "constant").astype(np.float32)
    spacing = grid.spacing_mm * subsample
    origin = np.asarray(grid.index_to_world(low)) - spacing
    image = pyvista.ImageData(dimensions=padded.shape, spacing=(spacing,) * 3, origin=origin)
    image.point_data["mask"] = padded.ravel(order="F")
    surface = image.contour([0.5], scalars="mask")
    if surface.n_points and smoothing_iterations > 0:
        surface = surface.smooth_taubin(n_iter=smoothing_iterations, pass_band=0.1)
    return surface


def margin_polydata(margin_surface: MarginSurface) -> pyvista.PolyData:
    """The tumor surface with its local margin (mm) as point scalars ``"margin (mm)"``.

    Parameters
    ----------
    margin_surface : MarginSurface
        Triangle mesh of the tumor surface (vertices in world mm) with the margin (mm) at each
        vertex.

    Returns
    -------
    pyvista.PolyData
    """
    import pyvista

    faces = np.asarray(margin_surface.faces, dtype=np.int64)
    cells = np.hstack([np.full((len(faces), 1), 3, dtype=np.int64), faces]).ravel()
    surface = pyvista.PolyData(np.asarray(margin_surface.vertices_mm, dtype=float), cells)
    surface.point_data[MARGIN_SCALARS] = np.asarray(margin_surface.margin_mm, dtype=float)
    return surface


def _probe_meshes(plan: PlanResult) -> dict[str, list[pyvista.PolyData]]:
    lower, upper = grid_bounds_mm(plan.grid)
    reach = 0.15 * (upper - lower)
    pieces: dict[str, list[tuple[np.ndarray, np.ndarray, float]]] = {"active": [], "insulated": [], "tine": []}
    for _, piece in probe_pieces(plan.placements):
        clipped = clip_segment_to_box(piece.start_mm, piece.end_mm, lower - reach, upper + reach)
        if clipped is None:
            continue
        start, end = clipped
        if float(np.linalg.norm(end - start)) < 1e-6:
            continue
        radius = max(
            piece.radius_mm, MINIMUM_DRAWN_RADIUS_MM * (0.5 if piece.kind == "tine" else 1.0)
        )
        pieces[piece.kind].append((np.asarray(start, float), np.asarray(end, float), radius))
    return {kind: [_cylinders(found)] if found else [] for kind, found in pieces.items()}


def _cylinders(pieces: list[tuple[np.ndarray, np.ndarray, float]]) -> pyvista.PolyData:
    """One mesh of capped cylinders ``(start, end, radius)`` (mm), copies of one template.

    The same cylinder as ``pyvista.Cylinder(..., resolution=24, capping=True)`` per piece, its
    points and normals moved with NumPy: a multi-tine array has hundreds of tine pieces, and one
    VTK source per piece cost ~2.5 ms each (most of the scene's time).
    """
    import pyvista

    template = pyvista.Cylinder(
        center=(0.0, 0.0, 0.0), direction=(0.0, 0.0, 1.0), radius=1.0, height=1.0, resolution=24, capping=True
    )
    local = np.asarray(template.points, dtype=float)
    local_normals = np.asarray(template.point_data["Normals"], dtype=float)
    faces = np.asarray(template.faces, dtype=np.int64)
    is_index = np.ones(faces.size, bool)
    position = 0
    while position < faces.size:  # [count, i0, i1, ..., count, ...]
        is_index[position] = False
        position += int(faces[position]) + 1
    points, normals, cells = [], [], []
    for number, (start, end, radius) in enumerate(pieces):
        axis = end - start
        length = float(np.linalg.norm(axis))
        axis = axis / length
        first, second = lateral_axes(axis, 0.0)
        frame = np.stack([first, second, axis])  # rows: local x, y, z in world (right-handed)
        points.append((local * np.array([radius, radius, length])) @ frame + (start + end) / 2.0)
        normals.append(local_normals @ frame)
        cells.append(np.where(is_index, faces + number * local.shape[0], faces))
    mesh = pyvista.PolyData(np.concatenate(points), np.concatenate(cells))
    mesh.point_data["Normals"] = np.concatenate(normals)
    mesh.point_data.active_normals_name = "Normals"
    return mesh


def default_camera(plan: PlanResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera ``(position, focal point, view up)`` in world mm.

    The camera looks at the target's centroid, perpendicular to the first probe's shaft (so the
    whole active length is in view), from the side closest to anterior, turned about the shaft
    so that it never looks straight along a world axis (the orientation cube then shows at least
    two readable faces); superior is up.  Without a probe it looks from anterior, turned about the
    vertical.  The distance frames the tumor and the zone with 15 mm around.

    Parameters
    ----------
    plan : PlanResult
        The plan whose target, zone and probes are framed.

    Returns
    -------
    position : numpy.ndarray, shape (3,)
        Camera position, world mm.
    focal_point : numpy.ndarray, shape (3,)
        The point looked at (the target's centroid), world mm.
    view_up : numpy.ndarray, shape (3,)
        Unit vector of the image's up direction.

    Examples
    --------
    >>> position, focal, up = default_camera(plan)  # doctest: +SKIP
    """
    focal = target_centroid_mm(plan)
    anterior = np.array([0.0, 1.0, 0.0])
    superior = np.array([0.0, 0.0, 1.0])
    view = anterior
    if plan.placements:
        shaft = np.asarray(plan.placements[0].unit_direction, dtype=float)
        candidate = anterior - np.dot(anterior, shaft) * shaft
        if np.linalg.norm(candidate) < 0.2:
            candidate = superior - np.dot(superior, shaft) * shaft
        view = candidate / np.linalg.norm(candidate)
        view = _oblique_about(view, shaft)
    else:
        view = _oblique_about(view, superior)
    up = superior - np.dot(superior, view) * view
    if np.linalg.norm(up) < 0.2:
        up = anterior - np.dot(anterior, view) * view
    up /= np.linalg.norm(up)
    framed = plan.target_mask if plan.zone_mask is None else (plan.target_mask | plan.zone_mask)
    indices = np.argwhere(framed)
    if indices.size:
        points = plan.grid.index_to_world(indices)
        radius = float(np.max(np.linalg.norm(points - focal, axis=1))) + 15.0
    else:
        radius = 30.0
    distance = radius / np.sin(np.radians(15.0))
    return focal + distance * view, focal, up


#: A default view within this angle (deg) of a world axis is turned (see :func:`_oblique_about`).
OBLIQUE_ENOUGH_DEG = 20.0
#: Angles (deg) the default view may be turned by about the shaft; the most oblique is taken.
OBLIQUE_VIEW_ANGLES_DEG = (25.0, -25.0, 35.0, -35.0)


def _oblique_about(view: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """``view``, turned about ``axis`` when it lies within 20 degrees of a world axis.

    The turn makes the view's largest world component as small as possible.  A view along a world axis shows a single face of the orientation cube; turned by 25-35
    degrees it shows two or three.  Views from the anterior side (y > 0) and from above (z >= 0)
    are preferred.
    """
    if float(np.max(np.abs(view))) < np.cos(np.radians(OBLIQUE_ENOUGH_DEG)):
        return view  # already shows two or three faces
    axis = axis / np.linalg.norm(axis)
    side = np.cross(axis, view)
    best, best_score = view, np.inf
    for angle in np.radians(OBLIQUE_VIEW_ANGLES_DEG):
        turned = np.cos(angle) * view + np.sin(angle) * side
        score = float(np.max(np.abs(turned)))
        score += 1.0 if turned[1] <= 0 < view[1] else 0.0  # stay on the anterior side
        score += 1.0 if turned[2] < -0.05 else 0.0  # and look from above, not from the feet
        if score < best_score:
            best, best_score = turned, score
    return best / np.linalg.norm(best)


def build_scene(
    plan: PlanResult,
    *,
    show_liver: bool = True,
    show_ct_plane: bool = False,
    off_screen: bool = True,
    window_size: tuple[int, int] = (1024, 768),
) -> pyvista.Plotter:
    """A PyVista plotter holding the plan's 3D scene, camera set, not yet rendered.

    Actors (by name): ``liver`` (translucent), ``tumor`` (coloured by local margin when the plan
    has a margin surface, with a ``margin (mm)`` scalar bar), ``other_tumors``, ``zone``
    (semi-transparent), ``arrhenius_zone`` (wireframe shell), ``vessels``, ``probe_active``
    (metallic), ``probe_insulated`` (dark), ``probe_tines``, ``ct_plane`` (axial CT slice through
    the target, liver window), plus an RAS orientation widget, a legend and a line of metrics.

    Parameters
    ----------
    plan : PlanResult
    show_liver : bool
        Draw the liver surface.
    show_ct_plane : bool
        Draw the axial CT slice through the target (when the plan has a CT).
    off_screen : bool
        Render off-screen (for images); False for an interactive window.
    window_size : tuple of int
        Width and height (pixels).

    Returns
    -------
    pyvista.Plotter

    Examples
    --------
    >>> plotter = build_scene(plan)  # doctest: +SKIP
    >>> plotter.screenshot("scene.png")  # doctest: +SKIP
    """
    import pyvista

    grid = plan.grid
    target = margin_target_mm(plan)
    plotter = pyvista.Plotter(off_screen=off_screen, window_size=list(window_size))
    plotter.set_background("#101820", top="#3a4a5c")
    legend: list[tuple[str, str]] = []
    classes = np.asarray(plan.tissue_classes)

    if show_liver:
        liver = np.isin(classes, [TissueClass.LIVER, TissueClass.TUMOR, TissueClass.VESSEL])
        surface = mask_surface(liver, grid, smoothing_iterations=20)
        if surface.n_points:
            plotter.add_mesh(
                surface, color=COLORS["liver"], opacity=0.12, name="liver", smooth_shading=True
            )
            legend.append(("liver", COLORS["liver"]))

    vessels = mask_surface(classes == TissueClass.VESSEL, grid, open_at_grid_faces=True)
    if vessels.n_points:
        plotter.add_mesh(
            vessels, color=COLORS["vessel"], name="vessels", smooth_shading=True, specular=0.3
        )
        legend.append(("vessels", COLORS["vessel"]))

    if plan.margin_surface is not None and len(plan.margin_surface.faces):
        colormap, limits = margin_colormap(target)
        plotter.add_mesh(
            margin_polydata(plan.margin_surface),
            scalars=MARGIN_SCALARS,
            cmap=colormap,
            clim=limits,
            name="tumor",
            smooth_shading=True,
            scalar_bar_args={
                "title": MARGIN_SCALARS,
                "n_labels": 4,
                "fmt": "%.0f",
                "vertical": True,
                "position_x": 0.88,
                "position_y": 0.25,
                "height": 0.5,
                "width": 0.06,
                "color": "white",
            },
        )
        legend.append(
            (
                f"tumor (margin: red < 0, yellow < {target:g}, green >= {target:g} mm)",
                COLORS["tumor"],
            )
        )
    else:
        tumor = mask_surface(plan.target_mask, grid)
        if tumor.n_points:
            plotter.add_mesh(tumor, color=COLORS["tumor"], name="tumor", smooth_shading=True)
            legend.append(("tumor", COLORS["tumor"]))

    others = [mask_surface(mask, grid) for mask in plan.other_tumor_masks]
    others = [surface for surface in others if surface.n_points]
    if others:
        plotter.add_mesh(
            pyvista.merge(others), color=COLORS["other_tumor"], opacity=0.6, name="other_tumors"
        )
        legend.append(("other tumors", COLORS["other_tumor"]))

    if plan.zone_mask is not None:
        zone = mask_surface(plan.zone_mask, grid)
        if zone.n_points:
            plotter.add_mesh(
                zone, color=COLORS["zone"], opacity=0.25, name="zone", smooth_shading=True
            )
            criterion = zone_criterion_text(plan)
            legend.append(
                (f"necrosis zone ({criterion})" if criterion else "necrosis zone", COLORS["zone"])
            )
    if plan.arrhenius_zone_mask is not None:
        arrhenius = mask_surface(plan.arrhenius_zone_mask, grid)
        if arrhenius.n_points:
            arrhenius = arrhenius.decimate(0.6) if arrhenius.n_cells > 4000 else arrhenius
            plotter.add_mesh(
                arrhenius,
                color=COLORS["arrhenius_zone"],
                style="wireframe",
                opacity=0.25,
                line_width=1,
                name="arrhenius_zone",
            )
            legend.append(("Arrhenius zone (Omega >= 1)", COLORS["arrhenius_zone"]))

    probe_meshes = _probe_meshes(plan)
    if probe_meshes["active"]:
        plotter.add_mesh(
            pyvista.merge(probe_meshes["active"]),
            color=COLORS["active"],
            specular=1.0,
            specular_power=60,
            diffuse=0.6,
            ambient=0.25,
            smooth_shading=True,
            name="probe_active",
        )
        legend.append(("electrode (active)", COLORS["active"]))
    if probe_meshes["insulated"]:
        plotter.add_mesh(
            pyvista.merge(probe_meshes["insulated"]),
            color=COLORS["insulated"],
            specular=0.4,
            smooth_shading=True,
            name="probe_insulated",
        )
        legend.append(("insulated shaft", "#6b6b6b"))
    if probe_meshes["tine"]:
        plotter.add_mesh(
            pyvista.merge(probe_meshes["tine"]),
            color=COLORS["tine"],
            specular=1.0,
            specular_power=60,
            smooth_shading=True,
            name="probe_tines",
        )
        legend.append(("tines", COLORS["tine"]))

    if show_ct_plane and plan.ct_hu is not None:
        centroid = target_centroid_mm(plan)
        image = pyvista.ImageData(
            dimensions=grid.shape, spacing=(grid.spacing_mm,) * 3, origin=grid.origin_mm
        )
        image.point_data["CT (HU)"] = np.asarray(plan.ct_hu, dtype=np.float32).ravel(order="F")
        plane = image.slice(normal="z", origin=centroid)
        half = LIVER_WINDOW_WIDTH_HU / 2.0
        plotter.add_mesh(
            plane,
            scalars="CT (HU)",
            cmap="gray",
            opacity=0.85,
            name="ct_plane",
            show_scalar_bar=False,
            clim=(LIVER_WINDOW_LEVEL_HU - half, LIVER_WINDOW_LEVEL_HU + half),
        )

    if legend:
        plotter.add_legend(
            legend,
            bcolor=(0.05, 0.07, 0.1),
            border=False,
            size=(0.3, 0.032 * len(legend)),
            loc="upper left",
            face="rectangle",
        )
    plotter.add_text(
        metrics_title(plan), position="lower_left", font_size=9, color="white", name="metrics"
    )
    # Orientation cube with the patient's six directions on its faces (RAS+ world axes).
    cube = pyvista.create_axes_orientation_box(
        xlabel="R",
        ylabel="A",
        zlabel="S",
        color_box=True,
        opacity=0.85,
        label_color="white",
        x_face_color="#b03a2e",
        y_face_color="#2e7d32",
        z_face_color="#1f4e9c",
    )
    parts = cube.GetParts()
    parts.InitTraversal()
    for _ in range(parts.GetNumberOfItems()):
        part = parts.GetNextProp()
        if part.IsA("vtkAnnotatedCubeActor"):
            part.SetXPlusFaceText("R")
            part.SetYPlusFaceText("A")
            part.SetZPlusFaceText("S")
            part.SetXMinusFaceText("L")
            part.SetYMinusFaceText("P")
            part.SetZMinusFaceText("I")
    plotter.add_orientation_widget(cube, viewport=(0.0, 0.05, 0.15, 0.25))
    position, focal, up = default_camera(plan)
    plotter.camera_position = [tuple(position), tuple(focal), tuple(up)]
    plotter.camera.view_angle = 30.0
    plotter.reset_camera_clipping_range()
    return plotter


def render_scene_png(
    plan: PlanResult,
    path: str | os.PathLike[str],
    window_size: tuple[int, int] = (1024, 768),
    variants: Mapping[str | os.PathLike[str], Callable[[pyvista.Plotter], None]] | None = None,
    **scene_options: Any,
) -> None:
    """Render :func:`build_scene` off-screen and write it to a PNG atomically.

    Parameters
    ----------
    plan : PlanResult
    path : str or PathLike
        Output PNG.
    window_size : tuple of int
        Width and height (pixels).
    variants : mapping of path to callable, optional
        Further pictures of the same scene, built once: after ``path`` is written, each callable
        adds its actors to the plotter (with ``render=False``: the picture is rendered once, by
        its screenshot), the camera is reset to hold them and the picture is written
        (atomically) to its path, in order.  A variant that fails is not written and leaves
        ``path`` and the other variants alone (its caller sees the file missing).
    **scene_options
        Passed to :func:`build_scene` (``show_liver``, ``show_ct_plane``).

    Raises
    ------
    RenderingUnavailableError
        No OpenGL context can be made on this machine, or the render came out blank; nothing is
        written.  The plan should catch it and add a warning.

    Examples
    --------
    >>> try:  # doctest: +SKIP
    ...     render_scene_png(plan, "plan/scene.png")
    ... except RenderingUnavailableError as error:
    ...     warnings.append(f"scene.png not written: {error}")
    """
    rendering_backend()
    plotter = build_scene(plan, off_screen=True, window_size=window_size, **scene_options)
    try:
        with atomic_path(path) as temporary:
            try:
                image = plotter.screenshot(str(temporary), return_img=True)
            except Exception as error:  # VTK reports a missing context in many ways
                raise RenderingUnavailableError(f"3D rendering failed: {error}") from error
            if image is None or np.asarray(image).std() == 0:
                raise RenderingUnavailableError("3D rendering produced a blank image")
        for variant_path, add_actors in (variants or {}).items():
            _render_variant(plotter, variant_path, add_actors)
    finally:
        plotter.close()


def _render_variant(plotter: pyvista.Plotter, path: str | os.PathLike[str],
                    add_actors: Callable[[pyvista.Plotter], None]) -> None:
    """One variant of :func:`render_scene_png`: actors added, camera reset, PNG written; failures skipped."""
    try:
        add_actors(plotter)
        plotter.reset_camera(render=False)
        with atomic_path(path) as temporary:
            plotter.screenshot(str(temporary))
    except Exception:  # the variant's caller renders it on its own when its file is missing
        return


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def show(plan: PlanResult, **scene_options: Any) -> Any:
    """Show the plan's 3D scene in Jupyter; never fails for lack of a display.

    In a notebook the scene is interactive through the ``trame`` backend when it is installed,
    else a static image.  Outside a notebook, an interactive window opens when a display is
    reachable; without one the rendered image is returned as an array.  When no OpenGL context
    can be made at all, the 2D summary figure is returned instead, with a warning.

    Parameters
    ----------
    plan : PlanResult
    **scene_options
        Passed to :func:`build_scene`.

    Returns
    -------
    object
        The notebook widget or image, an RGB ``ndarray``, or a matplotlib ``Figure``.

    Examples
    --------
    >>> from rfasim.viz import show  # doctest: +SKIP
    >>> show(plan)  # doctest: +SKIP
    """
    try:
        backend_name = rendering_backend()
    except RenderingUnavailableError as error:
        from rfasim.viz.slices import plot_summary

        warnings.warn(f"3D view unavailable, showing the 2D summary: {error}", stacklevel=2)
        return plot_summary(plan)
    import pyvista

    if _in_notebook():
        backend = "static"
        try:
            import trame  # noqa: F401

            pyvista.set_jupyter_backend("trame")
            backend = "trame"
        except Exception:  # trame missing or its Jupyter extension incomplete
            pyvista.set_jupyter_backend("static")
        plotter = build_scene(plan, off_screen=backend == "static", **scene_options)
        return plotter.show(jupyter_backend=backend)
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if has_display and backend_name == "default" and not pyvista.OFF_SCREEN:
        plotter = build_scene(plan, off_screen=False, **scene_options)
        plotter.show()
        return None
    plotter = build_scene(plan, off_screen=True, **scene_options)
    try:
        return plotter.screenshot(None, return_img=True)
    finally:
        plotter.close()
