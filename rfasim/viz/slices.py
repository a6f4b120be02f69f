"""2D views of a plan with matplotlib (Agg): the three-slice summary and any oblique plane.

Images are shown in radiological convention: on axial and coronal slices the patient's right is
on the viewer's left; on sagittal slices anterior is on the left.  Axes are world RAS mm.  The
figures are built without :mod:`matplotlib.pyplot`, so no display and no global figure state are
involved.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from rfasim.atomic import atomic_path
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

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from rfasim.grid import Grid
    from rfasim.plan.result import PlanResult

#: Grey level (0-1) of each tissue class when there is no CT to show.
CLASS_GREY_LEVELS = {
    TissueClass.BACKGROUND: 0.0,
    TissueClass.LIVER: 0.5,
    TissueClass.TUMOR: 0.68,
    TissueClass.VESSEL: 0.9,
    TissueClass.OTHER: 0.25,
    TissueClass.FORBIDDEN: 0.35,
    TissueClass.INSULATOR: 0.1,
}

#: Isotherms (degC) drawn by :func:`plot_slice` by default.
DEFAULT_ISOTHERMS_C = (50.0, 60.0, 100.0)

#: Most samples along one side of a slice image.
MAXIMUM_SAMPLES_PER_SIDE = 600

_WORLD_LETTERS = (("L", "R"), ("P", "A"), ("I", "S"))


def direction_letter(vector: np.ndarray) -> str:
    """Anatomical letter (R, L, A, P, S, I) of the world axis a direction mostly points along.

    Parameters
    ----------
    vector : numpy.ndarray, shape (3,)
        A world RAS+ direction (any length).

    Returns
    -------
    str
        One letter.

    Examples
    --------
    >>> direction_letter(np.array([0.1, -0.9, 0.2]))
    'P'
    """
    vector = np.asarray(vector, dtype=float)
    axis = int(np.argmax(np.abs(vector)))
    return _WORLD_LETTERS[axis][int(vector[axis] > 0)]


@dataclass(frozen=True)
class SlicePlane:
    """A sampled plane through the world: ``point = origin + a * u_axis + b * v_axis``.

    Attributes
    ----------
    name : str
        ``"axial"``, ``"coronal"``, ``"sagittal"`` or ``"oblique"``.
    origin_mm : ndarray, shape (3,)
        World point (mm) of in-plane coordinates (0, 0).
    u_axis, v_axis : ndarray, shape (3,)
        Orthonormal in-plane directions (horizontal and vertical of the image).
    u_mm, v_mm : ndarray
        In-plane sample coordinates (mm) along u and v.  For orthogonal planes they are world
        coordinates (x, y or z).
    invert_horizontal : bool
        Show u decreasing from left to right (radiological convention).
    """

    name: str
    origin_mm: np.ndarray
    u_axis: np.ndarray
    v_axis: np.ndarray
    u_mm: np.ndarray
    v_mm: np.ndarray
    invert_horizontal: bool = False

    @property
    def normal(self) -> np.ndarray:
        """Unit normal of the plane."""
        return np.cross(self.u_axis, self.v_axis)

    @property
    def extent_mm(self) -> tuple[float, float, float, float]:
        """``imshow`` extent (pixel edges, mm): left, right, bottom, top before any inversion."""
        du = self.u_mm[1] - self.u_mm[0] if len(self.u_mm) > 1 else 1.0
        dv = self.v_mm[1] - self.v_mm[0] if len(self.v_mm) > 1 else 1.0
        return (
            self.u_mm[0] - du / 2,
            self.u_mm[-1] + du / 2,
            self.v_mm[0] - dv / 2,
            self.v_mm[-1] + dv / 2,
        )

    def world_points_mm(self) -> np.ndarray:
        """World coordinates (mm) of every sample, shape ``(len(v_mm), len(u_mm), 3)``.

        Returns
        -------
        numpy.ndarray, shape (len(v_mm), len(u_mm), 3)
            World positions (mm) of the plane's samples.
        """
        return (
            self.origin_mm
            + self.u_mm[None, :, None] * self.u_axis
            + self.v_mm[:, None, None] * self.v_axis
        )

    def to_plane_mm(self, points_mm: np.ndarray) -> np.ndarray:
        """In-plane coordinates ``(a, b)`` (mm) of world points projected on the plane.

        Parameters
        ----------
        points_mm : array_like, shape (..., 3)
            World points (mm).

        Returns
        -------
        numpy.ndarray, shape (..., 2)
            Coordinates (mm) along ``u_axis`` and ``v_axis`` from the plane's origin.
        """
        offset = np.asarray(points_mm, dtype=float) - self.origin_mm
        return np.stack([offset @ self.u_axis, offset @ self.v_axis], axis=-1)

    def sample(
        self, volume: np.ndarray, grid: Grid, *, order: int = 1, fill: float = 0.0
    ) -> np.ndarray:
        """Values of a grid volume on the plane, float32, shape ``(len(v_mm), len(u_mm))``.

        Parameters
        ----------
        volume : ndarray, shape ``grid.shape``
            Any numeric or boolean field (booleans are read as 0/1 without a copy).
        grid : Grid
        order : int
            Spline order: 0 nearest (labels), 1 linear (fields, masks for smooth contours).
        fill : float
            Value outside the grid.

        Returns
        -------
        numpy.ndarray of float32, shape (len(v_mm), len(u_mm))
            The sampled values, in the volume's unit.
        """
        array = np.asarray(volume)
        if array.dtype == bool:
            array = np.ascontiguousarray(array).view(np.uint8)
        indices = grid.world_to_index(self.world_points_mm()).reshape(-1, 3).T
        values = ndimage.map_coordinates(
            array,
            indices,
            order=order,
            mode="constant",
            cval=fill,
            output=np.float32,
            prefilter=False,
        )
        return values.reshape(len(self.v_mm), len(self.u_mm))

    def sample_mask(
        self, mask: np.ndarray, grid: Grid, *, smoothing_voxels: float = 0.6
    ) -> np.ndarray:
        """A boolean mask on the plane as a smooth 0-1 field whose 0.5 level is the outline.

        Linear interpolation of a voxel mask draws staircase outlines; a Gaussian of
        ``smoothing_voxels`` voxels (standard deviation) rounds them off, as the 3D surfaces are.

        Parameters
        ----------
        mask : numpy.ndarray of bool, shape ``grid.shape``
            The voxel mask.
        grid : Grid
            The grid the mask lives on.
        smoothing_voxels : float
            Standard deviation of the Gaussian (voxels); 0 for none.

        Returns
        -------
        numpy.ndarray of float32, shape (len(v_mm), len(u_mm))
            Values in [0, 1]; contour at 0.5 for the outline.
        """
        field = self.sample(mask, grid, order=1, fill=0.0)
        if smoothing_voxels > 0 and len(self.u_mm) > 1:
            step_mm = abs(float(self.u_mm[1] - self.u_mm[0]))
            field = ndimage.gaussian_filter(
                field, smoothing_voxels * grid.spacing_mm / step_mm, mode="nearest"
            )
        return field

    @classmethod
    def orthogonal(
        cls, name: str, point_mm: npt.ArrayLike, grid: Grid, oversampling: int = 2
    ) -> SlicePlane:
        """Axial, coronal or sagittal plane through a world point, covering the grid.

        In-plane coordinates are world mm; the image axes follow the radiological convention.

        Examples
        --------
        >>> from rfasim.grid import Grid
        >>> plane = SlicePlane.orthogonal("axial", (0, 0, 5), Grid.centered(20.0, 1.0))
        >>> plane.normal.tolist(), plane.invert_horizontal
        ([0.0, 0.0, 1.0], True)

        Parameters
        ----------
        name : {"axial", "coronal", "sagittal"}
            The plane's orientation.
        point_mm : array_like, shape (3,)
            World point (mm) the plane passes through.
        grid : Grid
            The grid the plane covers.
        oversampling : int
            Samples per voxel edge: the sampling step is ``grid.spacing_mm / oversampling`` (mm).

        Returns
        -------
        SlicePlane

        Raises
        ------
        ValueError
            Unknown ``name``.
        """
        axes = {"axial": (0, 1, 2), "coronal": (0, 2, 1), "sagittal": (1, 2, 0)}
        if name not in axes:
            raise ValueError(f"plane must be one of {sorted(axes)}, got {name!r}")
        horizontal, vertical, normal_axis = axes[name]
        unit = np.eye(3)
        origin = np.zeros(3)
        origin[normal_axis] = float(np.asarray(point_mm, dtype=float)[normal_axis])
        coordinates = grid.axis_coordinates_mm()
        step = grid.spacing_mm / oversampling

        def samples(axis: int) -> np.ndarray:
            count = min(MAXIMUM_SAMPLES_PER_SIDE, (len(coordinates[axis]) - 1) * oversampling + 1)
            return (
                np.linspace(coordinates[axis][0], coordinates[axis][-1], max(count, 2))
                if count
                else np.arange(1) * step
            )

        u_axis, v_axis = unit[horizontal], unit[vertical]
        if name == "coronal":
            # (x, z) with x to the right and z up would face posterior; the normal is anterior.
            v_axis = unit[2]
        plane = cls(
            name,
            origin,
            u_axis,
            v_axis,
            samples(horizontal),
            samples(vertical),
            invert_horizontal=True,
        )
        return plane

    @classmethod
    def oblique(
        cls, point_mm: Sequence[float], normal: Sequence[float], grid: Grid, oversampling: int = 2
    ) -> SlicePlane:
        """Plane through ``point_mm`` perpendicular to ``normal``, covering the grid's box.

        The vertical image axis is superior projected on the plane (anterior for planes close to
        axial); in-plane coordinates are mm from ``point_mm``.

        Examples
        --------
        >>> from rfasim.grid import Grid
        >>> plane = SlicePlane.oblique((0, 0, 0), (1, 1, 0), Grid.centered(20.0, 1.0))
        >>> [round(float(c), 3) for c in plane.v_axis]
        [0.0, 0.0, 1.0]

        Parameters
        ----------
        point_mm : sequence of float, shape (3,)
            World point (mm) the plane passes through (its in-plane origin).
        normal : sequence of float, shape (3,)
            The plane's normal (any length but zero).
        grid : Grid
            The grid whose box the plane covers.
        oversampling : int
            Samples per voxel edge: the sampling step is ``grid.spacing_mm / oversampling`` (mm).

        Returns
        -------
        SlicePlane

        Raises
        ------
        ValueError
            A zero or non-finite ``normal``.
        """
        normal_vector = np.asarray(normal, dtype=float)
        length = float(np.linalg.norm(normal_vector))
        if not math.isfinite(length) or length < 1e-12:
            raise ValueError(f"normal must be a non-zero finite vector, got {list(normal)}")
        normal_vector = normal_vector / length
        origin = np.asarray(point_mm, dtype=float)
        v_axis = np.array([0.0, 0.0, 1.0]) - normal_vector[2] * normal_vector
        if np.linalg.norm(v_axis) < 0.3:
            v_axis = np.array([0.0, 1.0, 0.0]) - normal_vector[1] * normal_vector
        v_axis /= np.linalg.norm(v_axis)
        u_axis = np.cross(v_axis, normal_vector)
        lower, upper = grid_bounds_mm(grid)
        corners = np.array(
            [
                [c[0], c[1], c[2]]
                for c in np.stack(np.meshgrid(*zip(lower, upper, strict=True)), -1).reshape(-1, 3)
            ]
        )
        offsets = corners - origin
        step = grid.spacing_mm / oversampling

        def samples(axis: np.ndarray) -> np.ndarray:
            projection = offsets @ axis
            low, high = float(projection.min()), float(projection.max())
            count = int(min(MAXIMUM_SAMPLES_PER_SIDE, max(2, math.floor((high - low) / step) + 1)))
            return np.linspace(low, high, count)

        return cls("oblique", origin, u_axis, v_axis, samples(u_axis), samples(v_axis))


# -- drawing ------------------------------------------------------------------------------------
def _new_figure(width_in: float, height_in: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), facecolor="black")
    FigureCanvasAgg(figure)
    return figure


def _outlined(width: float = 2.5) -> list[Any]:
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=width, foreground="black")]


def _contour_lines(plane: SlicePlane, field: np.ndarray, level: float) -> list[np.ndarray]:
    import contourpy

    if not (np.nanmin(field) < level < np.nanmax(field)):
        return []
    generator = contourpy.contour_generator(plane.u_mm, plane.v_mm, field, line_type="Separate")
    return [line for line in generator.lines(level) if len(line) > 1]


def _margin_classes(margin_mm: np.ndarray, target_mm: float) -> np.ndarray:
    return np.where(margin_mm < 0.0, 0, np.where(margin_mm < target_mm, 1, 2))


def _draw_tumor_outline(axes: Axes, plan: PlanResult, plane: SlicePlane, tumor: np.ndarray) -> None:
    """Tumor outline, coloured by the local margin of the nearest margin-surface vertex."""
    from matplotlib.collections import LineCollection

    lines = _contour_lines(plane, tumor, 0.5)
    if not lines:
        return
    # One dark underlay for the whole outline keeps it readable on any background.
    axes.add_collection(
        LineCollection(lines, colors="black", linewidths=4.0, zorder=6, capstyle="round")
    )
    surface = plan.margin_surface
    if surface is None or len(surface.vertices_mm) == 0:
        axes.add_collection(LineCollection(lines, colors=COLORS["tumor"], linewidths=2.0, zorder=6))
        return
    from scipy.spatial import cKDTree

    tree = cKDTree(np.asarray(surface.vertices_mm, dtype=float))
    palette = np.array([COLORS["uncovered"], COLORS["thin_margin"], COLORS["margin_ok"]])
    target = margin_target_mm(plan)
    segments: list[np.ndarray] = []
    colors: list[np.ndarray] = []
    for line in lines:
        middles = 0.5 * (line[1:] + line[:-1])
        world = plane.origin_mm + middles[:, :1] * plane.u_axis + middles[:, 1:] * plane.v_axis
        _, nearest = tree.query(world)
        classes = _margin_classes(np.asarray(surface.margin_mm)[nearest], target)
        segments.extend(np.stack([line[:-1], line[1:]], axis=1))
        colors.extend(palette[classes])
    axes.add_collection(
        LineCollection(segments, colors=colors, linewidths=2.2, zorder=6, capstyle="round")
    )


def _distance_outside_mm(
    mask: np.ndarray, grid: Grid, reach_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Distance (mm) from ``mask`` within its box grown by ``reach_mm``; returns (field, low index)."""
    indices = np.argwhere(mask)
    pad = math.ceil(reach_mm / grid.spacing_mm) + 2
    low = np.maximum(indices.min(axis=0) - pad, 0)
    high = np.minimum(indices.max(axis=0) + pad + 1, mask.shape)
    cropped = mask[low[0] : high[0], low[1] : high[1], low[2] : high[2]]
    return ndimage.distance_transform_edt(~cropped, sampling=grid.spacing_mm).astype(
        np.float32
    ), low


def _sample_cropped(
    plane: SlicePlane, field: np.ndarray, low: np.ndarray, grid: Grid, fill: float
) -> np.ndarray:
    indices = (grid.world_to_index(plane.world_points_mm()) - low).reshape(-1, 3).T
    values = ndimage.map_coordinates(
        field, indices, order=1, mode="constant", cval=fill, output=np.float32, prefilter=False
    )
    return values.reshape(len(plane.v_mm), len(plane.u_mm))


def _draw_probes(axes: Axes, plan: PlanResult, plane: SlicePlane) -> None:
    lower, upper = grid_bounds_mm(plan.grid)
    styles = {
        "insulated": {"color": "#3a3a3a", "linewidth": 3.0, "edge": "#bfbfbf", "edge_width": 4.5},
        "active": {"color": COLORS["active"], "linewidth": 3.0, "edge": "black", "edge_width": 5.0},
        "tine": {"color": COLORS["tine"], "linewidth": 1.5, "edge": "black", "edge_width": 3.0},
    }
    from matplotlib import patheffects
    from matplotlib.collections import LineCollection

    # One collection per kind (a multi-tine array has hundreds of tine pieces: one Line2D each
    # cost most of the figure's time); path effects are drawn per segment, as for single lines.
    segments: dict[str, list[np.ndarray]] = {kind: [] for kind in styles}
    for _, piece in probe_pieces(plan.placements):
        clipped = clip_segment_to_box(piece.start_mm, piece.end_mm, lower, upper)
        if clipped is None:
            continue
        segments[piece.kind].append(plane.to_plane_mm(np.stack(clipped)))
    for kind, found in segments.items():
        if not found:
            continue
        style = styles[kind]
        axes.add_collection(
            LineCollection(
                found,
                colors=style["color"],
                linewidths=style["linewidth"],
                capstyle="butt",
                zorder=8 if kind != "insulated" else 7,
                path_effects=[
                    patheffects.withStroke(linewidth=style["edge_width"], foreground=style["edge"])
                ],
            ),
            autolim=False,
        )
    for placement in plan.placements:
        tip = plane.to_plane_mm(np.asarray(placement.tip_mm, dtype=float))
        axes.plot(
            [tip[0]],
            [tip[1]],
            marker="o",
            markersize=3.5,
            color="white",
            markeredgecolor="black",
            zorder=9,
        )


def _draw_orientation(axes: Axes, plane: SlicePlane) -> None:
    right = plane.u_axis if not plane.invert_horizontal else -plane.u_axis
    placements = (
        (0.015, 0.5, direction_letter(-right), "left", "center"),
        (0.985, 0.5, direction_letter(right), "right", "center"),
        (0.5, 0.985, direction_letter(plane.v_axis), "center", "top"),
        (0.5, 0.015, direction_letter(-plane.v_axis), "center", "bottom"),
    )
    for x, y, letter, horizontal, vertical in placements:
        axes.text(
            x,
            y,
            letter,
            transform=axes.transAxes,
            color="white",
            fontsize=13,
            fontweight="bold",
            ha=horizontal,
            va=vertical,
            zorder=10,
            path_effects=_outlined(3.0),
        )


def _draw_scale_bar(axes: Axes, length_mm: float = 10.0) -> None:
    left, right = axes.get_xlim()
    bottom, top = axes.get_ylim()
    sign = 1.0 if right > left else -1.0
    end_x = right - sign * 0.06 * abs(right - left)
    start_x = end_x - sign * length_mm
    y = bottom + 0.07 * (top - bottom)
    axes.plot(
        [start_x, end_x],
        [y, y],
        color="white",
        linewidth=3,
        solid_capstyle="butt",
        zorder=10,
        path_effects=_outlined(5),
    )
    axes.text(
        (start_x + end_x) / 2,
        y + 0.015 * (top - bottom),
        f"{length_mm:g} mm",
        color="white",
        ha="center",
        va="bottom",
        fontsize=9,
        zorder=10,
        path_effects=_outlined(3),
    )


def _draw_plane(
    axes: Axes,
    plan: PlanResult,
    plane: SlicePlane,
    *,
    isotherms_c: Sequence[float] = (),
    margin_distance: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Everything on one plane: background, tissues, zones, margin, isotherms, probes, letters."""
    grid = plan.grid
    if plan.ct_hu is not None:
        background = plane.sample(plan.ct_hu, grid, order=1, fill=np.nan)
        half = LIVER_WINDOW_WIDTH_HU / 2.0
        limits = (LIVER_WINDOW_LEVEL_HU - half, LIVER_WINDOW_LEVEL_HU + half)
    else:
        lookup = np.zeros(256, dtype=np.float32)
        for tissue, grey in CLASS_GREY_LEVELS.items():
            lookup[int(tissue)] = grey
        classes = plane.sample(plan.tissue_classes, grid, order=0, fill=np.nan)
        background = np.where(
            np.isnan(classes), np.nan, lookup[np.nan_to_num(classes).astype(np.uint8)]
        )
        limits = (0.0, 1.0)
    axes.imshow(
        background,
        cmap="gray",
        vmin=limits[0],
        vmax=limits[1],
        origin="lower",
        extent=plane.extent_mm,
        interpolation="bilinear",
        zorder=0,
    )
    u, v = plane.u_mm, plane.v_mm
    vessels = plane.sample_mask(plan.tissue_classes == TissueClass.VESSEL, grid)
    if vessels.max() > 0.5:
        axes.contour(u, v, vessels, levels=[0.5], colors=COLORS["vessel"], linewidths=1.0, zorder=3)
    for mask in plan.other_tumor_masks:
        other = plane.sample_mask(mask, grid)
        if other.max() > 0.5:
            axes.contour(
                u,
                v,
                other,
                levels=[0.5],
                colors=COLORS["other_tumor"],
                linewidths=1.0,
                linestyles="--",
                zorder=3,
            )
    if plan.zone_mask is not None:
        zone = plane.sample_mask(plan.zone_mask, grid)
        if zone.max() > 0.5:
            axes.contourf(
                u, v, zone, levels=[0.5, 2.0], colors=[COLORS["zone"]], alpha=0.28, zorder=2
            )
            axes.contour(u, v, zone, levels=[0.5], colors=COLORS["zone"], linewidths=1.6, zorder=4)
    if plan.arrhenius_zone_mask is not None:
        arrhenius = plane.sample_mask(plan.arrhenius_zone_mask, grid)
        if arrhenius.max() > 0.5:
            axes.contour(
                u,
                v,
                arrhenius,
                levels=[0.5],
                colors=COLORS["arrhenius_zone"],
                linewidths=1.2,
                linestyles="--",
                zorder=4,
            )
    if margin_distance is not None:
        distance, low = margin_distance
        shell = _sample_cropped(plane, distance, low, grid, fill=1e6)
        target = margin_target_mm(plan)
        if shell.min() < target < shell.max():
            axes.contour(
                u,
                v,
                shell,
                levels=[target],
                colors=COLORS["margin_shell"],
                linewidths=1.3,
                linestyles=":",
                zorder=5,
            )
    if isotherms_c and plan.peak_temperature_c is not None:
        temperature = plane.sample(plan.peak_temperature_c, grid, fill=np.nan)
        for level in isotherms_c:
            if np.nanmin(temperature) < level < np.nanmax(temperature):
                color = COLORS.get(f"isotherm_{level:g}", "#ffffff")
                lines = axes.contour(
                    u, v, temperature, levels=[level], colors=color, linewidths=1.1, zorder=5
                )
                axes.clabel(lines, fmt=f"{level:g} °C", fontsize=8, inline=True)
    _draw_tumor_outline(axes, plan, plane, plane.sample_mask(plan.target_mask, grid))
    _draw_probes(axes, plan, plane)
    left, right, bottom, top = plane.extent_mm
    axes.set_xlim((right, left) if plane.invert_horizontal else (left, right))
    axes.set_ylim(bottom, top)
    axes.set_aspect("equal")
    axes.set_facecolor("black")
    axes.tick_params(colors="#b0b0b0", labelsize=8)
    for spine in axes.spines.values():
        spine.set_color("#505050")
    _draw_orientation(axes, plane)
    _draw_scale_bar(axes)


def _legend_handles(plan: PlanResult, isotherms_c: Sequence[float] = ()) -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    target = margin_target_mm(plan)
    handles: list[Any] = []
    if plan.margin_surface is not None:
        handles += [
            Line2D([], [], color=COLORS["uncovered"], linewidth=2.2, label="tumor, margin < 0 mm"),
            Line2D(
                [],
                [],
                color=COLORS["thin_margin"],
                linewidth=2.2,
                label=f"tumor, margin < {target:g} mm",
            ),
            Line2D(
                [],
                [],
                color=COLORS["margin_ok"],
                linewidth=2.2,
                label=f"tumor, margin >= {target:g} mm",
            ),
        ]
    else:
        handles.append(Line2D([], [], color=COLORS["tumor"], linewidth=2.0, label="tumor"))
    if plan.zone_mask is not None:
        criterion = zone_criterion_text(plan)
        handles.append(
            Patch(
                facecolor=COLORS["zone"],
                edgecolor=COLORS["zone"],
                alpha=0.6,
                label=f"zone ({criterion})" if criterion else "necrosis zone",
            )
        )
    if plan.arrhenius_zone_mask is not None:
        handles.append(
            Line2D([], [], color=COLORS["arrhenius_zone"], linestyle="--", label="Arrhenius zone")
        )
    handles.append(
        Line2D(
            [],
            [],
            color=COLORS["margin_shell"],
            linestyle=":",
            linewidth=1.5,
            label=f"tumor + {target:g} mm",
        )
    )
    for level in isotherms_c:
        handles.append(
            Line2D(
                [],
                [],
                color=COLORS.get(f"isotherm_{level:g}", "#ffffff"),
                label=f"{level:g} °C isotherm",
            )
        )
    if (np.asarray(plan.tissue_classes) == TissueClass.VESSEL).any():
        handles.append(Line2D([], [], color=COLORS["vessel"], label="vessel"))
    if any(np.any(mask) for mask in plan.other_tumor_masks):
        handles.append(Line2D([], [], color=COLORS["other_tumor"], linestyle="--", label="other tumor"))
    if plan.placements:
        handles.append(
            Line2D([], [], color=COLORS["active"], linewidth=3, label="probe (projected)")
        )
    return handles


def _save(figure: Figure, path: str | os.PathLike[str] | None, dpi: float) -> None:
    if path is None:
        return
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi, facecolor=figure.get_facecolor(), format="png")


def _margin_distance(plan: PlanResult) -> tuple[np.ndarray, np.ndarray] | None:
    if not plan.target_mask.any():
        return None
    return _distance_outside_mm(plan.target_mask, plan.grid, margin_target_mm(plan) + 2.0)


def plot_summary(
    plan: PlanResult, path: str | os.PathLike[str] | None = None, *, dpi: float = 110.0
) -> Figure:
    """Three orthogonal slices (axial, coronal, sagittal) through the target tumor's centroid.

    Each slice shows the CT in the liver window (W 350 / L 50 HU; the tissue classes in grey
    without a CT), the tumor outline coloured by local margin (red uncovered, yellow below the
    target, green at the target or beyond), the necrosis zone (filled, solid outline), the
    Arrhenius zone (dashed), the tumor grown by the margin target (dotted), vessels, the probes
    projected onto the slice, R/L/A/P/S/I labels and a 10 mm scale bar.  The title line holds the
    plan's key metrics.

    Parameters
    ----------
    plan : PlanResult
    path : str or PathLike, optional
        PNG to write (atomically).
    dpi : float
        Resolution of the PNG (dots per inch; the figure is 15 x 5.8 in).

    Returns
    -------
    matplotlib.figure.Figure
        Three image axes.

    Examples
    --------
    >>> figure = plot_summary(plan, "plan/summary.png")  # doctest: +SKIP
    >>> len(figure.axes)  # doctest: +SKIP
    3
    """
    figure = _new_figure(15.0, 5.8)
    centroid = target_centroid_mm(plan)
    distance = _margin_distance(plan)
    names = ("axial", "coronal", "sagittal")
    grid_axes = figure.subplots(1, 3)
    for axes, name in zip(grid_axes, names, strict=True):
        plane = SlicePlane.orthogonal(name, centroid, plan.grid)
        _draw_plane(axes, plan, plane, margin_distance=distance)
        normal_axis = int(np.argmax(np.abs(plane.normal)))
        axis_name = "xyz"[normal_axis]
        axes.set_title(
            f"{name}  {axis_name} = {centroid[normal_axis]:.1f} mm", color="white", fontsize=11
        )
        labels = {
            "axial": ("x (mm)", "y (mm)"),
            "coronal": ("x (mm)", "z (mm)"),
            "sagittal": ("y (mm)", "z (mm)"),
        }[name]
        axes.set_xlabel(labels[0], color="#b0b0b0", fontsize=9)
        axes.set_ylabel(labels[1], color="#b0b0b0", fontsize=9)
    figure.suptitle(metrics_title(plan), color="white", fontsize=12)
    handles = _legend_handles(plan)
    figure.legend(
        handles=handles,
        loc="lower center",
        ncol=min(len(handles), 5),
        frameon=False,
        labelcolor="white",
        fontsize=9,
    )
    figure.subplots_adjust(left=0.04, right=0.99, top=0.88, bottom=0.2, wspace=0.18)
    _save(figure, path, dpi)
    return figure


def plot_slice(
    plan: PlanResult,
    plane_point_mm: Sequence[float],
    normal: Sequence[float],
    path: str | os.PathLike[str] | None = None,
    *,
    isotherms_c: Sequence[float] = DEFAULT_ISOTHERMS_C,
    dpi: float = 110.0,
) -> Figure:
    """Any plane through any world point: CT, tumor, zones, margin shell, isotherms, probes.

    The fields are sampled on the oblique plane by linear interpolation
    (:func:`scipy.ndimage.map_coordinates`).  Image axes are mm from ``plane_point_mm``; the
    edge letters give the anatomical direction each side mostly faces.

    Parameters
    ----------
    plan : PlanResult
    plane_point_mm : sequence of float
        A world point (mm) on the plane.
    normal : sequence of float
        Plane normal (any non-zero length).
    path : str or PathLike, optional
        PNG to write (atomically).
    isotherms_c : sequence of float
        Peak-temperature isotherms to draw (degC).
    dpi : float
        Resolution of the PNG.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    Plane containing the first probe's shaft and the superior axis:

    >>> shaft = plan.placements[0].unit_direction  # doctest: +SKIP
    >>> figure = plot_slice(plan, plan.placements[0].tip_mm, np.cross(shaft, [0, 0, 1]))  # doctest: +SKIP
    """
    plane = SlicePlane.oblique(plane_point_mm, normal, plan.grid)
    figure = _new_figure(7.5, 7.0)
    axes = figure.subplots(1, 1)
    _draw_plane(axes, plan, plane, isotherms_c=isotherms_c, margin_distance=_margin_distance(plan))
    normal_vector = plane.normal
    point = ", ".join(f"{c:.1f}" for c in np.asarray(plane_point_mm, dtype=float))
    axes.set_title(
        f"plane through ({point}) mm, normal ({', '.join(f'{c:.2f}' for c in normal_vector)})",
        color="white",
        fontsize=10,
    )
    axes.set_xlabel(
        f"mm along ({', '.join(f'{c:.2f}' for c in plane.u_axis)})", color="#b0b0b0", fontsize=9
    )
    axes.set_ylabel(
        f"mm along ({', '.join(f'{c:.2f}' for c in plane.v_axis)})", color="#b0b0b0", fontsize=9
    )
    figure.suptitle(metrics_title(plan), color="white", fontsize=9)
    handles = _legend_handles(plan, isotherms_c if plan.peak_temperature_c is not None else ())
    figure.legend(
        handles=handles, loc="lower center", ncol=3, frameon=False, labelcolor="white", fontsize=8
    )
    figure.subplots_adjust(left=0.1, right=0.97, top=0.88, bottom=0.24)
    _save(figure, path, dpi)
    return figure
