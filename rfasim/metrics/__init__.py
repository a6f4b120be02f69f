"""Measurements of a plan on the simulation grid: zone size, safety margin, heat sinks, distances.

Pure geometry in world RAS mm, accurate below the voxel size: surfaces are marching-cubes
iso-surfaces (of a continuous field at its threshold, or of a lightly smoothed binary mask at
0.5), and distances are exact point-to-triangle distances.
"""

from __future__ import annotations

from rfasim.metrics.distances import distance_to_zone_mm
from rfasim.metrics.heat_sink import VesselReport, heat_sink_warnings
from rfasim.metrics.margin import (
    MARGIN_PERCENTILES,
    PALLIATIVE_COVERAGE_PCT,
    MarginMetrics,
    margin_metrics,
)
from rfasim.metrics.zone import ZoneMetrics, zone_metrics, zone_metrics_from_field

__all__ = [
    "MARGIN_PERCENTILES",
    "PALLIATIVE_COVERAGE_PCT",
    "MarginMetrics",
    "VesselReport",
    "ZoneMetrics",
    "distance_to_zone_mm",
    "heat_sink_warnings",
    "margin_metrics",
    "zone_metrics",
    "zone_metrics_from_field",
]
