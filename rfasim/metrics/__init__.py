"""Measurements of a plan on the simulation grid: zone size, safety margin, heat sinks, distances.

Zone criteria (which dose field, which threshold) are registered in :mod:`rfasim.metrics.criteria`.
Pure geometry in world RAS mm, accurate below the voxel size: surfaces are marching-cubes
iso-surfaces (of a continuous field at its threshold, or of a lightly smoothed binary mask at
0.5), and distances are exact point-to-triangle distances.
"""

from __future__ import annotations

from rfasim.metrics.criteria import (
    ZoneCriterion,
    ZoneFields,
    get_zone_criterion,
    zone_criterion_names,
)
from rfasim.metrics.distances import distance_to_zone_mm
from rfasim.metrics.heat_sink import VesselReport, heat_sink_warnings
from rfasim.metrics.margin import (
    MARGIN_PERCENTILES,
    PALLIATIVE_COVERAGE_PCT,
    MarginMetrics,
    MarginSurface,
    margin_metrics,
)
from rfasim.metrics.zone import ZoneMetrics, zone_metrics, zone_metrics_from_field

__all__ = [
    "MARGIN_PERCENTILES",
    "PALLIATIVE_COVERAGE_PCT",
    "MarginMetrics",
    "MarginSurface",
    "VesselReport",
    "ZoneCriterion",
    "ZoneFields",
    "ZoneMetrics",
    "distance_to_zone_mm",
    "get_zone_criterion",
    "heat_sink_warnings",
    "margin_metrics",
    "zone_criterion_names",
    "zone_metrics",
    "zone_metrics_from_field",
]
