"""The achieved margin: coverage, minimal margin, its distribution and the thinnest spot.

The measurement itself is rfasim's signed-margin code (:func:`rfasim.metrics.margin_metrics`):
the tumor surface is a marching-cubes surface of the (lightly smoothed) tumor mask, the zone
boundary is the 0.5 level of the mapped zone field, and each tumor vertex carries its exact signed
distance to that boundary (positive inside the zone).  This module adds what an assessment
reports besides: the share of the tumor surface in margin bands (area-weighted, each vertex
standing for a third of its triangles), where the thinnest spot is (world point, anatomical
direction from the tumor's centre, voxel index in the pre-ablation scan) and the volumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rfasim.grid import Grid
from rfasim.metrics import MarginMetrics, margin_metrics

#: Margin bands (mm) of the reported distribution over the tumor surface: [low, high).
DISTRIBUTION_BANDS_MM: tuple[tuple[float, float], ...] = (
    (-np.inf, 0.0),
    (0.0, 5.0),
    (5.0, 10.0),
    (10.0, 15.0),
    (15.0, np.inf),
)

_LETTERS = (("L", "R"), ("P", "A"), ("I", "S"))
_WORDS = {"R": "right", "L": "left", "A": "anterior", "P": "posterior", "S": "superior",
          "I": "inferior"}


def direction_words(vector: np.ndarray, share: float = 0.35) -> str:
    """Anatomical direction of a world RAS+ vector, e.g. ``"posterior-superior"``.

    Each world axis whose share of the unit vector is at least ``share`` contributes a word,
    strongest first.

    Parameters
    ----------
    vector : numpy.ndarray, shape (3,)
        A world RAS+ direction (any length; mm or unitless).
    share : float
        Smallest absolute component of the unit vector that names its axis (dimensionless).

    Returns
    -------
    str
        Words joined by ``-``; ``"centre"`` for the zero vector.

    Examples
    --------
    >>> direction_words(np.array([0.1, -0.8, 0.6]))
    'posterior-superior'
    """
    unit = np.asarray(vector, dtype=float)
    norm = float(np.linalg.norm(unit))
    if norm == 0:
        return "centre"
    unit = unit / norm
    order = np.argsort(-np.abs(unit))
    words = [
        _WORDS[_LETTERS[axis][int(unit[axis] > 0)]] for axis in order if abs(unit[axis]) >= share
    ]
    return "-".join(words)


def _band_label(low: float, high: float) -> str:
    if not np.isfinite(low):
        return f"< {high:g} mm (not covered)"
    if not np.isfinite(high):
        return f">= {low:g} mm"
    return f"{low:g} to {high:g} mm"


def margin_distribution(metrics: MarginMetrics) -> list[dict[str, Any]]:
    """Percentage of the tumor surface area in each band of :data:`DISTRIBUTION_BANDS_MM`.

    Parameters
    ----------
    metrics : MarginMetrics
        Margin metrics with their tumor surface (vertex margins in mm).

    Returns
    -------
    list of dict
        Per band: ``band`` (label), ``low_mm`` and ``high_mm`` (None when unbounded) and
        ``surface_pct`` (% of the surface area).
    """
    surface = metrics.surface
    margins = np.asarray(surface.margin_mm, dtype=float)
    vertices = np.asarray(surface.vertices_mm, dtype=float)
    faces = np.asarray(surface.faces, dtype=np.int64)
    corners = vertices[faces]
    areas = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    weights = np.zeros(vertices.shape[0])
    np.add.at(weights, faces.ravel(), np.repeat(areas / 3.0, 3))
    total = float(weights.sum())
    bands = []
    for low, high in DISTRIBUTION_BANDS_MM:
        inside = (margins >= low) & (margins < high) & np.isfinite(margins)
        share = 100.0 * float(weights[inside].sum()) / total if total > 0 else 0.0
        bands.append(
            {
                "band": _band_label(low, high),
                "low_mm": None if not np.isfinite(low) else float(low),
                "high_mm": None if not np.isfinite(high) else float(high),
                "surface_pct": share,
            }
        )
    return bands


@dataclass
class MarginAssessment:
    """The achieved margin of an ablation.

    Attributes
    ----------
    metrics : MarginMetrics
        rfasim's margin result (min, percentiles, coverage, thinnest point, surface).
    distribution : list of dict
        Tumor surface share per margin band (``band``, ``low_mm``, ``high_mm``, ``surface_pct``).
    tumor_centroid_mm : ndarray
        Centre of the tumor (world RAS+ mm, pre-ablation space).
    thinnest_direction : str or None
        Anatomical direction of the thinnest spot from the tumor's centre.
    thinnest_index : list of float or None
        Continuous voxel index of the thinnest spot in the pre-ablation scan.
    tumor_volume_ml, zone_volume_ml : float
        Volumes on the measurement grid (mL); the zone's in the pre-ablation space.
    """

    metrics: MarginMetrics
    distribution: list[dict[str, Any]]
    tumor_centroid_mm: np.ndarray
    thinnest_direction: str | None
    thinnest_index: list[float] | None
    tumor_volume_ml: float
    zone_volume_ml: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``assessment.json["margin"]``.

        Returns
        -------
        dict
            The margin metrics (mm, %), with the margin distribution and the tumor and zone
            volumes (mL).
        """
        content = self.metrics.to_dict()
        content.update(
            {
                "distribution": self.distribution,
                "thinnest_direction": self.thinnest_direction,
                "thinnest_index_in_pre": self.thinnest_index,
            }
        )
        return content


def measure_margin(
    tumor: np.ndarray,
    zone_field: np.ndarray,
    grid: Grid,
    pre_affine: np.ndarray,
    target_mm: float = 5.0,
) -> MarginAssessment:
    """Measure the achieved margin on the measurement grid.

    Parameters
    ----------
    tumor : ndarray of bool, shape ``grid.shape``
        The tumor (pre-ablation space).
    zone_field : ndarray of float, shape ``grid.shape``
        The mapped zone mask (0 to 1); the zone is where it is at least 0.5.
    grid : Grid
        The measurement grid.
    pre_affine : ndarray
        Voxel-to-world affine of the pre-ablation scan (for the thinnest spot's voxel index).
    target_mm : float
        Required margin (mm).

    Returns
    -------
    MarginAssessment
    """
    metrics = margin_metrics(
        tumor, grid, zone_field=zone_field, zone_threshold=0.5, target_mm=target_mm
    )
    centroid = grid.index_to_world(np.argwhere(tumor).mean(axis=0))
    direction = index = None
    if metrics.thinnest_at_mm is not None:
        point = np.asarray(metrics.thinnest_at_mm, dtype=float)
        direction = direction_words(point - centroid)
        inverse = np.linalg.inv(pre_affine)
        index = [float(v) for v in inverse[:3, :3] @ point + inverse[:3, 3]]
    return MarginAssessment(
        metrics=metrics,
        distribution=margin_distribution(metrics),
        tumor_centroid_mm=centroid,
        thinnest_direction=direction,
        thinnest_index=index,
        tumor_volume_ml=float(tumor.sum()) * grid.voxel_volume_ml,
        zone_volume_ml=float(np.count_nonzero(zone_field >= 0.5)) * grid.voxel_volume_ml,
    )
