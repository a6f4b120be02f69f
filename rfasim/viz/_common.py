"""Helpers shared by the 2D and 3D views: colours, the target's centre, probe pieces, metric text.

Nothing here imports matplotlib or PyVista.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rfasim.grid import Grid
    from rfasim.plan.result import PlanResult

#: Default safety margin (mm) when the plan's metrics do not give one.
DEFAULT_MARGIN_TARGET_MM = 5.0

#: Liver window of the CT (Hounsfield units).
LIVER_WINDOW_WIDTH_HU = 350.0
LIVER_WINDOW_LEVEL_HU = 50.0

#: One colour per thing drawn, the same in every view.
COLORS: dict[str, str] = {
    "liver": "#b5735a",
    "tumor": "#ffd92f",
    "other_tumor": "#d9c27a",
    "zone": "#ff8c1a",
    "arrhenius_zone": "#ff5fd2",
    "margin_shell": "#00e0ff",
    "vessel": "#3d7bff",
    "active": "#d0d4d8",
    "insulated": "#2a2a2a",
    "tine": "#e6e9ec",
    "uncovered": "#e41a1c",
    "thin_margin": "#ffd92f",
    "margin_ok": "#2ca02c",
    "isotherm_50": "#7fc8ff",
    "isotherm_60": "#ffe066",
    "isotherm_100": "#ff3b30",
}


def margin_target_mm(plan: PlanResult) -> float:
    """The plan's margin target (mm), or :data:`DEFAULT_MARGIN_TARGET_MM` if it has none."""
    margin = plan.zone.margin if plan.zone is not None else None
    return float(margin.target_mm) if margin is not None else DEFAULT_MARGIN_TARGET_MM


def zone_criterion_text(plan: PlanResult) -> str | None:
    """The plan's zone criterion in words (``"peak temperature >= 100 degC"``), or None."""
    return plan.zone.description if plan.zone is not None else None


def mask_centroid_mm(mask: np.ndarray, grid: Grid) -> np.ndarray:
    """World centroid (mm) of a boolean mask; the grid's centre when the mask is empty."""
    indices = np.argwhere(mask)
    if indices.size == 0:
        return grid.index_to_world((np.asarray(grid.shape) - 1) / 2.0)
    return grid.index_to_world(indices.mean(axis=0))


def target_centroid_mm(plan: PlanResult) -> np.ndarray:
    """World centroid (mm) of the target tumor (the segmented tumor's, when the plan holds it)."""
    centroid = plan.tumor.centroid_mm if plan.tumor is not None else None
    if centroid is not None and np.all(np.isfinite(centroid)):
        return np.asarray(centroid, dtype=float)
    return mask_centroid_mm(plan.target_mask, plan.grid)


def grid_bounds_mm(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """World box (mm) of the grid, voxel faces included: ``(lower, upper)``."""
    origin = np.asarray(grid.origin_mm)
    half = 0.5 * grid.spacing_mm
    upper = origin + grid.spacing_mm * (np.asarray(grid.shape) - 1)
    return origin - half, upper + half


def clip_segment_to_box(
    start: np.ndarray, end: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """The part of segment ``start``-``end`` inside an axis-aligned box (Liang-Barsky), or None."""
    start = np.asarray(start, dtype=float)
    delta = np.asarray(end, dtype=float) - start
    low, high = 0.0, 1.0
    for axis in range(3):
        if abs(delta[axis]) < 1e-12:
            if start[axis] < lower[axis] or start[axis] > upper[axis]:
                return None
            continue
        first = (lower[axis] - start[axis]) / delta[axis]
        second = (upper[axis] - start[axis]) / delta[axis]
        low = max(low, min(first, second))
        high = min(high, max(first, second))
        if low > high:
            return None
    return start + low * delta, start + high * delta


@dataclass(frozen=True)
class ProbePiece:
    """One straight piece of a probe, for drawing: ``kind`` is active, insulated or tine."""

    kind: str
    start_mm: np.ndarray
    end_mm: np.ndarray
    radius_mm: float


def probe_pieces(placements: list[Any]) -> Iterator[tuple[int, ProbePiece]]:
    """Every drawable piece of every probe, as ``(probe index, piece)``.

    Tines come from the sampled tine paths; the active capsules that make up a tine are not
    repeated.
    """
    for index, placement in enumerate(placements):
        geometry = placement.geometry()
        for segment in geometry.active_segments:
            if segment.rounded_ends and geometry.tine_paths_mm:
                continue
            yield index, ProbePiece("active", segment.start_mm, segment.end_mm, segment.radius_mm)
        for segment in geometry.insulated_segments:
            yield (
                index,
                ProbePiece("insulated", segment.start_mm, segment.end_mm, segment.radius_mm),
            )
        tine_radius = min(
            (s.radius_mm for s in geometry.active_segments if s.rounded_ends), default=0.2
        )
        for path in geometry.tine_paths_mm:
            for start, end in itertools.pairwise(path):
                yield index, ProbePiece("tine", start, end, tine_radius)


def _number(value: Any, pattern: str) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return pattern.format(number) if np.isfinite(number) else "n/a"


def metrics_title(plan: PlanResult) -> str:
    """One line with the plan's key figures: eligibility, zone volume, coverage, minimum margin."""
    parts = []
    eligibility = plan.eligibility
    if eligibility is not None:
        diameter = _number(eligibility.tumor_max_diameter_mm, "{:.0f} mm")
        parts.append(f"{'eligible' if eligibility.eligible else 'NOT ELIGIBLE'} (tumor {diameter})")
    zone = plan.zone
    if zone is not None:
        parts.append(f"zone {_number(zone.volume_ml, '{:.1f}')} mL")
        if zone.coverage_pct is not None:
            parts.append(f"coverage {_number(zone.coverage_pct, '{:.1f}')} %")
        if zone.margin is not None and zone.margin.min_mm is not None:
            target = _number(zone.margin.target_mm, "{:g}")
            parts.append(f"min margin {_number(zone.margin.min_mm, '{:.1f}')} mm (target {target} mm)")
    if not plan.simulated:
        parts.append("not simulated")
    return "  |  ".join(parts) if parts else "rfasim plan"
