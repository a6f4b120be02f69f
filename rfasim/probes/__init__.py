"""Probes: the device catalog, placement in world mm, rasterisation and trajectory checks.

Compose them as::

    from rfasim.probes import ProbePlacement, rasterize_probes, check_trajectories
    probe = ProbePlacement("cooltip-17g-3cm", tip_mm=[10, -20, 35], entry_mm=[60, -80, 90])
    electrodes = rasterize_probes([probe], grid, labels)      # list[ElectrodeRaster]
    report = check_trajectories([probe], labels, grid, tumor_mask)
"""

from __future__ import annotations

from rfasim.probes.catalog import (
    PROBE_KINDS,
    ProbeModel,
    catalog_table,
    get_probe_model,
    load_catalog,
    load_probe_file,
)
from rfasim.probes.placement import (
    ActiveSegment,
    InsulatedSegment,
    ProbeGeometry,
    ProbePlacement,
    Thermocouple,
)
from rfasim.probes.rasterize import (
    ProbeElectrodeRaster,
    check_intersections,
    raster_measures,
    rasterize_probes,
)
from rfasim.probes.trajectory import ProbeTrajectory, TrajectoryReport, check_trajectories

__all__ = [
    "PROBE_KINDS",
    "ActiveSegment",
    "InsulatedSegment",
    "ProbeElectrodeRaster",
    "ProbeGeometry",
    "ProbeModel",
    "ProbePlacement",
    "ProbeTrajectory",
    "Thermocouple",
    "TrajectoryReport",
    "catalog_table",
    "check_intersections",
    "check_trajectories",
    "get_probe_model",
    "load_catalog",
    "load_probe_file",
    "raster_measures",
    "rasterize_probes",
]
