"""What a plan produces in memory: :class:`PlanResult`.

Everything here lives on the *simulation grid* (isotropic, world-aligned, RAS mm); the plan
folder's NIfTI files are these fields mapped back onto the input image's own grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rfasim.grid import Grid


@dataclass
class MarginSurface:
    """The target tumor's surface coloured by its local safety margin.

    Attributes
    ----------
    vertices_mm : ndarray, shape (n, 3)
        Surface vertices in world RAS mm.
    faces : ndarray, shape (m, 3)
        Triangles (vertex indices).
    margin_mm : ndarray, shape (n,)
        Signed distance from the tumor surface to the zone boundary (mm); negative where the
        tumor surface lies outside the zone (not covered).
    """

    vertices_mm: np.ndarray
    faces: np.ndarray
    margin_mm: np.ndarray


@dataclass
class PlanResult:
    """A computed (or refused) plan.

    Attributes
    ----------
    grid : Grid
        Simulation grid.
    tissue_classes : ndarray of uint8
        :class:`~rfasim.tissue.TissueClass` per voxel of the simulation grid.
    target_mask : ndarray of bool
        The target tumor.
    other_tumor_masks : list of ndarray of bool
        The other tumors in the region (by id), for distances.
    ct_hu : ndarray or None
        CT resampled onto the simulation grid (HU).
    zone_mask : ndarray of bool or None
        Necrosis zone of the plan's criterion (None if not simulated).
    arrhenius_zone_mask : ndarray of bool or None
        Arrhenius zone (Omega >= 1), always reported beside the chosen one.
    peak_temperature_c, damage : ndarray or None
        Peak temperature (degC) and Arrhenius damage on the simulation grid.
    placements : list
        The probes (:class:`rfasim.probes.ProbePlacement`).
    margin_surface : MarginSurface or None
    metrics : dict
        The content of ``metrics.json``.
    simulation : object or None
        The :class:`rfasim.solver.SimulationResult` (time series, energy balance...).
    snapshots : object or None
        A :class:`rfasim.trackers.SnapshotTracker` with temperature snapshots, if recorded.
    input_shape, input_affine : tuple, ndarray
        Shape and affine of the input label image (where the NIfTI outputs go).
    warnings : list of str
        Everything the user should see (also in ``metrics["warnings"]``).
    """

    grid: Grid
    tissue_classes: np.ndarray
    target_mask: np.ndarray
    other_tumor_masks: list[np.ndarray] = field(default_factory=list)
    ct_hu: np.ndarray | None = None
    zone_mask: np.ndarray | None = None
    arrhenius_zone_mask: np.ndarray | None = None
    peak_temperature_c: np.ndarray | None = None
    damage: np.ndarray | None = None
    placements: list[Any] = field(default_factory=list)
    margin_surface: MarginSurface | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    simulation: Any = None
    snapshots: Any = None
    input_shape: tuple[int, int, int] | None = None
    input_affine: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def simulated(self) -> bool:
        """Whether the ablation was simulated (False when refused as not eligible)."""
        return self.zone_mask is not None
