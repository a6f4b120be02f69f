"""Safety checks of probe trajectories against a tissue-class volume.

For every placement the straight path from the entry to the tip is sampled (every quarter voxel)
and checked for: crossing a large vessel or a forbidden structure, entering the liver more than
once (crossing the capsule repeatedly), the active part lying outside the target tumor, and the
distance from the active part to the nearest large vessel (Euclidean distance transform).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from rfasim.grid import Grid
from rfasim.probes.placement import ProbeGeometry, ProbePlacement
from rfasim.tissue import TissueClass


@dataclass
class ProbeTrajectory:
    """Numbers measured along one probe's path.

    Attributes
    ----------
    label : str
        The probe's label.
    path_length_mm : float
        Entry-to-tip length inside the grid (mm).
    liver_entries : int
        Times the path enters the liver (1 is ideal; more means the capsule is crossed again).
    vessel_crossings_mm : list of list of float
        World RAS points (mm) where the path enters a vessel.
    forbidden_crossings_mm : list of list of float
        World RAS points (mm) where the path enters a forbidden structure.
    active_fraction_in_tumor : float or None
        Fraction of the active metal's sample points inside the tumor mask (None: no mask).
    distance_to_vessel_mm : float or None
        Smallest distance (mm) from the active metal to a vessel voxel (None: no vessel).
    """

    label: str
    path_length_mm: float
    liver_entries: int
    vessel_crossings_mm: list[list[float]] = field(default_factory=list)
    forbidden_crossings_mm: list[list[float]] = field(default_factory=list)
    active_fraction_in_tumor: float | None = None
    distance_to_vessel_mm: float | None = None


@dataclass
class TrajectoryReport:
    """Warnings (plain sentences) and per-probe numbers of :func:`check_trajectories`."""

    warnings: list[str]
    probes: list[ProbeTrajectory]


def _voxel_values(volume: np.ndarray, grid: Grid, points_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``volume`` at the voxels holding ``points_mm`` and which points lie on the grid."""
    index = np.round(grid.world_to_index(points_mm)).astype(int)
    on_grid = np.all((index >= 0) & (index < np.asarray(grid.shape)), axis=1)
    values = np.zeros(points_mm.shape[0], dtype=volume.dtype)
    values[on_grid] = volume[tuple(index[on_grid].T)]
    return values, on_grid


def _entries(inside: np.ndarray) -> np.ndarray:
    """Sample positions where ``inside`` switches from False to True (or starts True)."""
    previous = np.concatenate([[False], inside[:-1]])
    return np.flatnonzero(inside & ~previous)


def _format(point: np.ndarray) -> str:
    return "[" + ", ".join(f"{value:.1f}" for value in point) + "]"


def check_trajectories(
    placements: Sequence[ProbePlacement],
    tissue: np.ndarray,
    grid: Grid,
    tumor_mask: np.ndarray | None = None,
    vessel_warning_distance_mm: float = 5.0,
    check_crossings: bool = True,
) -> TrajectoryReport:
    """Check each probe's path and active part against the tissue classes.

    Parameters
    ----------
    placements : sequence of ProbePlacement
        Probes (world RAS mm).  Without ``entry_mm`` the path starts where the shaft leaves the
        grid.
    tissue : ndarray of uint8
        :class:`~rfasim.tissue.TissueClass` codes on ``grid``.
    grid : Grid
    tumor_mask : ndarray of bool, optional
        The target tumor; warns when the active part is not inside it.
    vessel_warning_distance_mm : float
        Warn when the active metal comes closer than this to a large vessel (heat sink).
    check_crossings : bool
        Warn about vessel, forbidden and capsule crossings inside the grid (the numbers are
        measured either way).  The plan checks the whole path on the full label map instead
        (:func:`rfasim.probes.path_check.check_needle_paths`) and turns this off.

    Returns
    -------
    TrajectoryReport

    Examples
    --------
    >>> grid = Grid.centered(40.0, 1.0)
    >>> tissue = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    >>> probe = ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, 0], entry_mm=[0, 0, 19])
    >>> check_trajectories([probe], tissue, grid).warnings
    []
    """
    tissue = np.asarray(tissue)
    if tissue.shape != grid.shape:
        raise ValueError(f"tissue volume of shape {tissue.shape} does not match the grid {grid.shape}")
    vessels = tissue == TissueClass.VESSEL
    distance_to_vessel = (
        ndimage.distance_transform_edt(~vessels, sampling=grid.spacing_mm) if vessels.any() else None
    )
    step = 0.25 * grid.spacing_mm
    warnings: list[str] = []
    reports: list[ProbeTrajectory] = []
    for number, placement in enumerate(placements, start=1):
        label = placement.label
        if label == f"probe ({placement.model.name})":
            label = f"probe {number} ({placement.model.name})"
        geometry = placement.geometry()
        tip, direction = geometry.tip_mm, geometry.direction
        if placement.entry_mm is not None:
            length = float(np.linalg.norm(tip - np.asarray(placement.entry_mm)))
        else:  # to the grid's far corner: samples off the grid are dropped
            length = float(np.linalg.norm(np.asarray(grid.shape) * grid.spacing_mm))
        distances = np.arange(0.0, length + step / 2, step)[::-1]
        path = tip - distances[:, None] * direction  # from entry to tip
        classes, on_grid = _voxel_values(tissue, grid, path)
        classes = np.where(on_grid, classes, TissueClass.BACKGROUND)
        vessel_hits = path[_entries(classes == TissueClass.VESSEL)]
        forbidden_hits = path[_entries(classes == TissueClass.FORBIDDEN)]
        in_liver = np.isin(classes, (TissueClass.LIVER, TissueClass.TUMOR, TissueClass.VESSEL))
        liver_entries = int(_entries(in_liver).size)
        for point in vessel_hits if check_crossings else ():
            warnings.append(f"{label}: path crosses a large vessel at {_format(point)} mm")
        for point in forbidden_hits if check_crossings else ():
            warnings.append(f"{label}: path crosses a forbidden structure at {_format(point)} mm")
        if liver_entries > 1 and check_crossings:
            warnings.append(f"{label}: path crosses the liver capsule {liver_entries} times (enters the liver {liver_entries} times)")

        active = _active_samples(geometry, step)
        fraction_in_tumor = None
        if tumor_mask is not None:
            inside, active_on_grid = _voxel_values(np.asarray(tumor_mask, bool), grid, active)
            fraction_in_tumor = float(np.mean(inside & active_on_grid))
            # The tip itself usually sits a few mm beyond the distal tumor edge (so that the
            # active part spans the tumor): warn on the active part, not on the tip point.
            if fraction_in_tumor == 0.0:
                warnings.append(f"{label}: the active part (tip at {_format(tip)} mm) does not reach the target tumor")
            else:
                off_centre = _off_centre_warning(label, active, np.asarray(tumor_mask, bool), grid)
                if off_centre:
                    warnings.append(off_centre)
        nearest = None
        if distance_to_vessel is not None:
            values, active_on_grid = _voxel_values(distance_to_vessel, grid, active)
            if active_on_grid.any():
                nearest = float(values[active_on_grid].min())
                if nearest < vessel_warning_distance_mm:
                    warnings.append(
                        f"{label}: active part is {nearest:.1f} mm from a large vessel (heat sink; "
                        f"below {vessel_warning_distance_mm:g} mm)"
                    )
        reports.append(
            ProbeTrajectory(
                label=label,
                path_length_mm=float(on_grid.sum() * step),
                liver_entries=liver_entries,
                vessel_crossings_mm=[p.round(2).tolist() for p in vessel_hits],
                forbidden_crossings_mm=[p.round(2).tolist() for p in forbidden_hits],
                active_fraction_in_tumor=fraction_in_tumor,
                distance_to_vessel_mm=nearest,
            )
        )
    return TrajectoryReport(warnings=warnings, probes=reports)


def _active_samples(geometry: ProbeGeometry, step_mm: float) -> np.ndarray:
    """Points (n, 3) along the axes of all active segments, every ``step_mm``."""
    points = []
    for segment in geometry.active_segments:
        count = max(2, int(np.ceil(segment.length_mm / step_mm)) + 1)
        weights = np.linspace(0.0, 1.0, count)[:, None]
        points.append(segment.start_mm + weights * (segment.end_mm - segment.start_mm))
    return np.concatenate(points)


#: The active part's centre may lie this far from the tumor's centre, as a fraction of the larger
#: of the tumor's equivalent diameter and the active part's extent (at least
#: :data:`OFF_CENTRE_MINIMUM_MM`), before the plan warns.
OFF_CENTRE_FRACTION = 0.25
OFF_CENTRE_MINIMUM_MM = 5.0


def _off_centre_warning(label: str, active: np.ndarray, tumor_mask: np.ndarray, grid: Grid) -> str | None:
    """A warning when the active part is not centred on the tumor, None when it is.

    What matters is where the zone will be centred, not how much of the metal lies in the tumor:
    a 4 cm tine array over a 23 mm tumor has most of its tines outside the tumor by design, and a
    3 cm needle through a 15 mm tumor half of its length.  The zone forms around the active
    part's centre (the mean of points along it) and is about as large as the active part: the
    plan warns when that centre lies farther from the tumor's centre than a quarter of the larger
    of the tumor's equivalent diameter and the active part's extent (its largest bounding-box
    edge), and at least 5 mm.
    """
    indices = np.argwhere(tumor_mask)
    if indices.size == 0:
        return None
    tumor_centre = np.asarray(grid.origin_mm) + grid.spacing_mm * indices.mean(axis=0)
    diameter = (6.0 * indices.shape[0] * grid.spacing_mm**3 / np.pi) ** (1.0 / 3.0)
    extent = float(np.max(active.max(axis=0) - active.min(axis=0)))
    offset = float(np.linalg.norm(active.mean(axis=0) - tumor_centre))
    allowed = max(OFF_CENTRE_MINIMUM_MM, OFF_CENTRE_FRACTION * max(diameter, extent))
    if offset <= allowed:
        return None
    return (
        f"{label}: the active part is centred {offset:.1f} mm from the target tumor's centre (more than "
        f"{allowed:.1f} mm for a {diameter:.0f} mm tumor and a {extent:.0f} mm active part): the zone will be "
        "off-centre"
    )
