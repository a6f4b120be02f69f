"""Pictures of an assessment: the summary slices (matplotlib) and the 3D scene (PyVista).

The summary shows three orthogonal slices through the thinnest spot, on the pre-ablation CT (top)
and on the registered post-ablation CT (bottom, where the zone is visible): the tumor outline
coloured by its local margin (red uncovered, yellow below the target, green at or above it), the
achieved zone (orange), the tumor grown by the target margin (cyan dotted) and the thinnest spot
(white star).  The slices use :class:`rfasim.viz.SlicePlane`, the 3D scene
:func:`rfasim.viz.build_scene`, so both look like a plan's pictures.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from rfasim.assess.mapping import mask_on_grid, post_ct_on, pre_ct_on_grid
from rfasim.atomic import atomic_path
from rfasim.metrics.criteria import ZoneCriterion
from rfasim.plan.result import MarginSummary, PlanResult, TumorSummary, ZoneSummary
from rfasim.tissue import TissueClass

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from rfasim.assess.pipeline import AssessmentResult
    from rfasim.grid import Grid
    from rfasim.viz import SlicePlane

#: Liver window (HU) of the CT slices.
WINDOW_HU = (-125.0, 225.0)
#: Colours, the same as a plan's pictures (rfasim.viz).
COLORS = {
    "uncovered": "#e41a1c",
    "thin": "#ffd92f",
    "ok": "#2ca02c",
    "zone": "#ff8c1a",
    "shell": "#00e0ff",
    "vessel": "#3d7bff",
}


def as_plan_result(result: AssessmentResult) -> PlanResult:
    """The assessment dressed as a :class:`~rfasim.plan.result.PlanResult` for rfasim.viz.

    Parameters
    ----------
    result : AssessmentResult
        A finished assessment.

    Returns
    -------
    PlanResult
        Tissue classes, tumor, achieved zone and margin on the measurement grid.
    """
    grid = result.grid
    inputs = result.inputs
    classes = np.zeros(grid.shape, dtype=np.uint8)
    if inputs.liver_mask is not None:
        classes[mask_on_grid(inputs.liver_mask, inputs.pre.affine, grid)] = TissueClass.LIVER
    if inputs.vessel_mask is not None:
        classes[mask_on_grid(inputs.vessel_mask, inputs.pre.affine, grid)] = TissueClass.VESSEL
    classes[result.tumor] = TissueClass.TUMOR
    report = result.report
    margin = report.get("margin", {})
    tumor = report.get("tumor", {})
    centroid_x, centroid_y, centroid_z = (
        float(v) for v in tumor.get("centroid_mm", (0.0, 0.0, 0.0))
    )
    achieved = ZoneCriterion(
        name="achieved", description="achieved zone (post-ablation CT)", threshold=1.0, unit="label",
        dose=lambda _fields: np.zeros(0),  # measured, not computed from fields
    )
    minimum = margin.get("min_mm")
    return PlanResult(
        grid=grid,
        tissue_classes=classes,
        target_mask=result.tumor,
        ct_hu=pre_ct_on_grid(inputs, grid),
        zone_mask=result.zone,
        margin_surface=result.margin.metrics.surface,
        tumor=TumorSummary(
            tumor_id=int(tumor.get("id", 1)), volume_ml=float(tumor.get("volume_ml", 0.0)),
            centroid_mm=(centroid_x, centroid_y, centroid_z),
            max_diameter_mm=float(tumor.get("max_diameter_mm", 0.0)),
        ),
        zone=ZoneSummary(
            criterion=achieved, threshold=1.0, volume_ml=float(report.get("zone", {}).get("volume_in_pre_ml", 0.0)),
            axes_mm=(0.0, 0.0, 0.0), coverage_pct=margin.get("coverage_pct"),
            margin=MarginSummary(
                min_mm=None if minimum is None else float(minimum), target_mm=float(margin.get("target_mm", 5.0)),
                surface_pct_at_target=float(margin.get("surface_pct_at_target", 0.0)),
                surface_pct_at_10mm=float(margin.get("surface_pct_at_10mm", 0.0)),
                ok=bool(minimum is not None and minimum >= float(margin.get("target_mm", 5.0))),
                thinnest_at_mm=None, percentiles_mm=None,
            ),
        ),
    )


def _new_figure(width_in: float, height_in: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), facecolor="black")
    FigureCanvasAgg(figure)
    return figure


def _draw(
    axes: Axes,
    plane: SlicePlane,
    grid: Grid,
    background: np.ndarray,
    result: AssessmentResult,
    shell: np.ndarray,
    target_mm: float,
    thinnest: np.ndarray | None,
) -> None:
    from matplotlib.collections import LineCollection
    from scipy.spatial import cKDTree

    image = plane.sample(background, grid, order=1, fill=np.nan)
    axes.imshow(
        image, cmap="gray", vmin=WINDOW_HU[0], vmax=WINDOW_HU[1], origin="lower",
        extent=plane.extent_mm, interpolation="bilinear",
    )
    u, v = plane.u_mm, plane.v_mm
    zone = plane.sample(result.zone_field, grid, order=1, fill=0.0)
    if zone.max() > 0.5:
        axes.contourf(u, v, zone, levels=[0.5, 2.0], colors=[COLORS["zone"]], alpha=0.25)
        axes.contour(u, v, zone, levels=[0.5], colors=COLORS["zone"], linewidths=1.6)
    distance = plane.sample(shell, grid, order=1, fill=1e6)
    if distance.min() < target_mm < distance.max():
        axes.contour(u, v, distance, levels=[target_mm], colors=COLORS["shell"], linewidths=1.2,
                     linestyles=":")
    tumor = plane.sample_mask(result.tumor, grid)
    if tumor.max() > 0.5:
        import contourpy

        lines = [
            line
            for line in contourpy.contour_generator(u, v, tumor, line_type="Separate").lines(0.5)
            if len(line) > 1
        ]
        surface = result.margin.metrics.surface
        tree = cKDTree(np.asarray(surface.vertices_mm, dtype=float))
        palette = np.array([COLORS["uncovered"], COLORS["thin"], COLORS["ok"]])
        segments: list[np.ndarray] = []
        colours: list[np.ndarray] = []
        for line in lines:
            middles = 0.5 * (line[1:] + line[:-1])
            world = plane.origin_mm + middles[:, :1] * plane.u_axis + middles[:, 1:] * plane.v_axis
            _, nearest = tree.query(world)
            local = np.asarray(surface.margin_mm)[nearest]
            classes = np.where(local < 0, 0, np.where(local < target_mm, 1, 2))
            segments.extend(np.stack([line[:-1], line[1:]], axis=1))
            colours.extend(palette[classes])
        axes.add_collection(LineCollection(segments, colors="black", linewidths=4.0))
        axes.add_collection(LineCollection(segments, colors=colours, linewidths=2.2))
    if thinnest is not None:
        point = plane.to_plane_mm(thinnest)
        axes.plot([point[0]], [point[1]], marker="*", markersize=16, color="white",
                  markeredgecolor="black", zorder=10)
    left, right, bottom, top = plane.extent_mm
    axes.set_xlim(right, left)  # radiological: patient's right on the viewer's left
    axes.set_ylim(bottom, top)
    axes.set_aspect("equal")
    axes.tick_params(colors="#b0b0b0", labelsize=7)


def plot_assessment_summary(
    result: AssessmentResult, path: str | os.PathLike[str] | None = None, dpi: float = 100.0
) -> Figure:
    """The summary figure (see the module notes); written atomically when ``path`` is given.

    Parameters
    ----------
    result : AssessmentResult
        A finished assessment.
    path : str or os.PathLike, optional
        PNG file to write.
    dpi : float
        Resolution of the PNG (dots per inch).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> figure = plot_assessment_summary(result, "assessment/summary.png")  # doctest: +SKIP
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from rfasim.viz import SlicePlane

    grid = result.grid
    inputs = result.inputs
    metrics = result.margin.metrics
    target = metrics.target_mm
    thinnest = None if metrics.thinnest_at_mm is None else np.asarray(metrics.thinnest_at_mm)
    centre = thinnest if thinnest is not None else result.margin.tumor_centroid_mm
    pre_ct = pre_ct_on_grid(inputs, grid)
    post_ct = post_ct_on(inputs, result.registration, grid.shape, grid.affine)
    shell = ndimage.distance_transform_edt(~result.tumor, sampling=grid.spacing_mm)
    figure = _new_figure(13.5, 9.5)
    axes_grid = figure.subplots(2, 3)
    for row, (background, label) in enumerate(
        ((pre_ct, "pre-ablation CT"), (post_ct, "post-ablation CT, registered"))
    ):
        for column, name in enumerate(("axial", "coronal", "sagittal")):
            plane = SlicePlane.orthogonal(name, centre, grid)
            axes = axes_grid[row, column]
            _draw(axes, plane, grid, background, result, shell, target, thinnest)
            axes.set_title(f"{label}: {name}", color="white", fontsize=10)
    minimum = "n/a" if metrics.min_mm is None else f"{metrics.min_mm:+.1f} mm"
    figure.suptitle(
        f"coverage {metrics.coverage_pct:.1f} %  |  minimal margin {minimum} (target {target:g} mm,"
        f" star: thinnest spot)  |  {result.quality.summary_line()}",
        color="white", fontsize=10,
    )
    handles = [
        Line2D([], [], color=COLORS["uncovered"], lw=2.2, label="tumor, margin < 0 mm"),
        Line2D([], [], color=COLORS["thin"], lw=2.2, label=f"tumor, margin < {target:g} mm"),
        Line2D([], [], color=COLORS["ok"], lw=2.2, label=f"tumor, margin >= {target:g} mm"),
        Patch(facecolor=COLORS["zone"], alpha=0.6, label="achieved zone"),
        Line2D([], [], color=COLORS["shell"], ls=":", label=f"tumor + {target:g} mm"),
        Line2D([], [], color="white", marker="*", ls="", markeredgecolor="black",
               label="thinnest margin"),
    ]
    figure.legend(handles=handles, loc="lower center", ncol=6, frameon=False, labelcolor="white",
                  fontsize=9)
    figure.subplots_adjust(left=0.04, right=0.99, top=0.92, bottom=0.08, wspace=0.15, hspace=0.18)
    if path is not None:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=dpi, facecolor="black", format="png")
    return figure


def render_assessment_scene(
    result: AssessmentResult,
    path: str | os.PathLike[str],
    window_size: tuple[int, int] = (1024, 768),
) -> None:
    """3D scene: liver, tumor coloured by margin, achieved zone, a sphere at the thinnest spot.

    Parameters
    ----------
    result : AssessmentResult
        A finished assessment.
    path : str or os.PathLike
        PNG file to write (atomically).
    window_size : tuple of int
        Image width and height (pixels).

    Raises
    ------
    rfasim.viz.RenderingUnavailableError
        No OpenGL context on this machine (nothing is written).
    """
    import pyvista

    from rfasim.viz import RenderingUnavailableError, build_scene, rendering_backend

    rendering_backend()
    plotter = build_scene(as_plan_result(result), off_screen=True, window_size=window_size)
    thinnest = result.margin.metrics.thinnest_at_mm
    if thinnest is not None:
        plotter.add_mesh(
            pyvista.Sphere(radius=1.5, center=tuple(thinnest)), color="white", name="thinnest"
        )
    try:
        with atomic_path(path) as temporary:
            try:
                image = plotter.screenshot(str(temporary), return_img=True)
            except Exception as error:  # VTK reports a missing context in many ways
                raise RenderingUnavailableError(f"3D rendering failed: {error}") from error
            if image is None or np.asarray(image).std() == 0:
                raise RenderingUnavailableError("3D rendering produced a blank image")
    finally:
        plotter.close()
