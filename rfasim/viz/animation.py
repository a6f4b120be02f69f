"""Animation of the heating: the temperature on a slice and the zone growing, as GIF or MP4."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rfasim.atomic import atomic_path
from rfasim.viz._common import COLORS, target_centroid_mm
from rfasim.viz.slices import SlicePlane, _draw_orientation

if TYPE_CHECKING:
    from rfasim.grid import Grid
    from rfasim.plan.result import PlanResult
    from rfasim.trackers import SnapshotTracker

#: Temperature of the zone contour (degC): the design criterion.
ZONE_THRESHOLD_C = 100.0


def animate_heating(
    snapshots: SnapshotTracker,
    grid: Grid,
    plan: PlanResult | None = None,
    path: str | os.PathLike[str] = "heating.gif",
    plane: str = "axial",
    point_mm: npt.ArrayLike | None = None,
    *,
    frames_per_second: float = 4.0,
    temperature_range_c: tuple[float, float] = (37.0, 110.0),
    dpi: float = 90.0,
) -> Path:
    """Write an animation of the temperature on a slice, with the zone growing.

    Each frame is one snapshot: the temperature (degC) on the slice, the zone so far (where the
    running maximum reached ``ZONE_THRESHOLD_C``, white contour), and, with a plan, the tumor
    outline (cyan) and the final zone (green, dashed).  Only 2D slices are kept, so memory stays bounded by the
    slice size times the number of snapshots (which the tracker bounds).

    Parameters
    ----------
    snapshots : SnapshotTracker
        ``times_s`` (s) and ``temperatures_c`` (degC, arrays of ``grid.shape``).
    grid : Grid
        The simulation grid.
    plan : PlanResult, optional
        For the tumor outline, the final zone and the default point.
    path : str or PathLike
        ``.gif`` (Pillow) or ``.mp4`` (ffmpeg; a GIF beside it, with a warning, when ffmpeg is
        missing).  Written atomically.
    plane : str
        ``"axial"``, ``"coronal"`` or ``"sagittal"``.
    point_mm : array_like, optional
        World point (mm) the slice goes through; default the target's centroid, else the
        hottest voxel of the last snapshot.
    frames_per_second : float
        Playback speed.
    temperature_range_c : tuple of float
        Colour scale limits (degC).
    dpi : float
        Resolution of the frames.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> animate_heating(tracker, grid, plan, "plan/heating.gif")  # doctest: +SKIP
    PosixPath('plan/heating.gif')
    """
    from matplotlib import animation
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    times = list(snapshots.times_s)
    fields = list(snapshots.temperatures_c)
    if not times or len(times) != len(fields):
        raise ValueError(
            "animate_heating needs at least one snapshot, with one time per temperature field"
        )
    if point_mm is None:
        if plan is not None:
            point_mm = target_centroid_mm(plan)
        else:
            hottest = np.unravel_index(int(np.argmax(fields[-1])), grid.shape)
            point_mm = grid.index_to_world(np.asarray(hottest))
    slice_plane = SlicePlane.orthogonal(plane, point_mm, grid)
    slices = [slice_plane.sample(field, grid, order=1, fill=np.nan) for field in fields]
    running_max = np.fmax.accumulate(np.stack(slices), axis=0)

    output = Path(path)
    use_ffmpeg = output.suffix.lower() == ".mp4" and animation.writers.is_available("ffmpeg")
    if output.suffix.lower() == ".mp4" and not use_ffmpeg:
        output = output.with_suffix(".gif")
        warnings.warn(
            f"ffmpeg is not available: writing {output.name} instead of an MP4", stacklevel=2
        )

    figure = Figure(figsize=(6.0, 5.4), facecolor="black")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 1)
    left, right, bottom, top = slice_plane.extent_mm
    image = axes.imshow(
        slices[0],
        cmap="inferno",
        vmin=temperature_range_c[0],
        vmax=temperature_range_c[1],
        origin="lower",
        extent=slice_plane.extent_mm,
        interpolation="bilinear",
    )
    colorbar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.03)
    colorbar.set_label("temperature (°C)", color="white")
    colorbar.ax.tick_params(colors="white")
    u, v = slice_plane.u_mm, slice_plane.v_mm
    if plan is not None:
        tumor = slice_plane.sample_mask(plan.target_mask, grid)
        if tumor.max() > 0.5:
            axes.contour(u, v, tumor, levels=[0.5], colors=COLORS["margin_shell"], linewidths=1.5)
        if plan.zone_mask is not None:
            final = slice_plane.sample_mask(plan.zone_mask, grid)
            if final.max() > 0.5:
                axes.contour(
                    u, v, final, levels=[0.5], colors="#7cfc00", linewidths=1.2, linestyles="--"
                )
    axes.set_xlim((right, left) if slice_plane.invert_horizontal else (left, right))
    axes.set_ylim(bottom, top)
    axes.tick_params(colors="#b0b0b0", labelsize=8)
    axes.set_title(
        f"{plane} through ({', '.join(f'{c:.0f}' for c in np.asarray(point_mm, dtype=float))}) mm",
        color="white",
    )
    _draw_orientation(axes, slice_plane)
    label = axes.text(0.06, 0.9, "", transform=axes.transAxes, color="white", va="top", fontsize=11)
    zone_lines: list[Any] = []

    # matplotlib's stubs type ``fps`` as int; both writers take a fractional rate (ffmpeg's
    # ``-framerate``, Pillow's frame duration 1000 / fps), which the float parameter allows.
    writer: Any = (
        animation.FFMpegWriter(fps=frames_per_second)  # type: ignore[arg-type]
        if use_ffmpeg
        else animation.PillowWriter(fps=frames_per_second)  # type: ignore[arg-type]
    )
    with atomic_path(output) as temporary, writer.saving(figure, str(temporary), dpi=dpi):
        for index, time_s in enumerate(times):
            image.set_data(slices[index])
            for artist in zone_lines:
                artist.remove()
            zone_lines.clear()
            peak = running_max[index]
            if np.nanmax(peak) >= ZONE_THRESHOLD_C:
                contour = axes.contour(
                    u, v, peak, levels=[ZONE_THRESHOLD_C], colors="white", linewidths=1.6
                )
                zone_lines.append(contour)
            label.set_text(f"t = {time_s:.0f} s   max {np.nanmax(slices[index]):.0f} °C")
            writer.grab_frame(facecolor="black")
    return output
