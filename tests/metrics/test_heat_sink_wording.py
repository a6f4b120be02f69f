"""The heat-sink sentence says what the signed indentation says (issue 15, point 6)."""

from __future__ import annotations

import numpy as np
import pytest

from rfasim.grid import Grid
from rfasim.metrics import heat_sink_warnings


def test_a_zone_bulging_towards_a_vessel_is_not_called_indented():
    grid = Grid.centered(56.0, 1.0)
    x, y, z = grid.voxel_centers_mm()
    lateral, radius, gap, bulge = 10.0, 3.0, 2.0, 3.0
    vessel_x = lateral + bulge + gap + radius
    prolate = x**2 + y**2 + (z / 1.25) ** 2
    bump = (x - lateral) ** 2 + y**2 + z**2 <= (bulge + 0.5) ** 2  # the zone reaches out towards the vessel
    zone = (prolate <= lateral**2) | bump
    vessel = np.broadcast_to((x - vessel_x) ** 2 + y**2 <= radius**2, grid.shape)
    [report] = heat_sink_warnings(vessel, zone, grid, probe_axis=(0, 0, 1), zone_center_mm=np.zeros(3))
    assert report.indentation_mm < -1.0
    assert "indented by" not in report.warning
    assert "potential heat sink" in report.warning
    assert "farther towards it" in report.warning
    assert f"{-report.indentation_mm:.1f} mm farther" in report.warning
    assert report.distance_mm == pytest.approx(gap - 0.5, abs=1.0)
