"""Trajectory warnings on a synthetic volume: a vessel across the path, a forbidden block."""

from __future__ import annotations

import numpy as np
import pytest

from rfasim.grid import Grid
from rfasim.probes import ProbePlacement, check_trajectories
from rfasim.tissue import TissueClass


@pytest.fixture()
def scene():
    grid = Grid.centered(40.0, 1.0)
    x, y, z = grid.voxel_centers_mm()
    tissue = np.full(grid.shape, TissueClass.OTHER, np.uint8)
    tissue[np.broadcast_to(z < 12, grid.shape)] = TissueClass.LIVER
    tumor = (x**2 + y**2 + (z + 5) ** 2) <= 100
    tissue[tumor] = TissueClass.TUMOR
    vessel = np.broadcast_to(((x - 0) ** 2 + (z - 6) ** 2) <= 2.5**2, grid.shape)  # along y, above the tumor
    tissue[vessel] = TissueClass.VESSEL
    forbidden = np.broadcast_to((x > 8) & (x < 14) & (z > 12) & (z < 18), grid.shape) & (np.abs(y) < 5)
    tissue[forbidden] = TissueClass.FORBIDDEN
    return grid, tissue, tumor


def test_vertical_path_through_the_vessel_warns(scene):
    grid, tissue, tumor = scene
    probe = ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, -12], entry_mm=[0, 0, 19])
    report = check_trajectories([probe], tissue, grid, tumor)
    [numbers] = report.probes
    assert any("path crosses a large vessel" in w and w.startswith("probe 1 (cooltip-17g-2cm)") for w in report.warnings)
    assert len(numbers.vessel_crossings_mm) == 1
    assert numbers.vessel_crossings_mm[0][2] == pytest.approx(8.5, abs=1.0)
    assert numbers.liver_entries == 1
    assert numbers.distance_to_vessel_mm == pytest.approx(0.0)
    assert not any("forbidden" in w for w in report.warnings)


def test_oblique_path_through_forbidden_block_and_double_capsule_crossing(scene):
    grid, tissue, tumor = scene
    tissue = tissue.copy()
    x, _, z = grid.voxel_centers_mm()
    gap = np.broadcast_to((z > 7) & (z < 9) & (x > 3), grid.shape) & (tissue == TissueClass.LIVER)
    tissue[gap] = TissueClass.OTHER  # a fissure: the path leaves and re-enters the liver
    probe = ProbePlacement("cooltip-17g-2cm", tip_mm=[2, 0, -6], entry_mm=[16, 0, 19.4])
    report = check_trajectories([probe], tissue, grid, tumor, vessel_warning_distance_mm=6.0)
    [numbers] = report.probes
    assert len(numbers.forbidden_crossings_mm) == 1
    assert any("forbidden structure" in w for w in report.warnings)
    assert numbers.liver_entries == 2
    assert any("liver capsule 2 times" in w for w in report.warnings)
    assert not any("large vessel at" in w for w in report.warnings)
    assert numbers.distance_to_vessel_mm is not None and numbers.distance_to_vessel_mm < 6
    assert any("mm from a large vessel" in w for w in report.warnings)


def test_active_part_missing_the_tumor_warns_and_clean_path_is_silent(scene):
    grid, tissue, tumor = scene
    tissue = np.where(tissue == TissueClass.VESSEL, TissueClass.LIVER, tissue).astype(np.uint8)
    inside = ProbePlacement("cooltip-17g-2cm", tip_mm=[-2, 2, -13], direction=[0, 0, -1])
    outside = ProbePlacement("cooltip-17g-2cm", tip_mm=[-12, 8, -14], direction=[0, 0, -1])
    report = check_trajectories([inside, outside], tissue, grid, tumor)
    assert [w for w in report.warnings if w.startswith("probe 1")] == []
    assert any(w.startswith("probe 2") and "does not reach the target tumor" in w for w in report.warnings)
    assert report.probes[0].active_fraction_in_tumor > 0.5
    assert report.probes[1].active_fraction_in_tumor == 0.0
    assert report.probes[0].distance_to_vessel_mm is None
