"""'Active part in tumor' warns only when it matters (issue 15, point 6)."""

from __future__ import annotations

import numpy as np

from rfasim.grid import Grid
from rfasim.probes import ProbePlacement, check_trajectories
from rfasim.probes.trajectory import _active_samples
from rfasim.tissue import TissueClass


def scene(radius_mm: float):
    grid = Grid.centered(70.0, 1.0)
    x, y, z = grid.voxel_centers_mm()
    tissue = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    tumor = (x**2 + y**2 + z**2) <= radius_mm**2
    tissue[tumor] = TissueClass.TUMOR
    return grid, tissue, tumor


def centred(model: str, **keywords) -> ProbePlacement:
    """A probe along -z whose active part is centred on the origin."""
    probe = ProbePlacement(model, tip_mm=[0, 0, 0], direction=[0, 0, -1], **keywords)
    centre = _active_samples(probe.geometry(), 0.25).mean(axis=0)
    return ProbePlacement(model, tip_mm=-centre, direction=[0, 0, -1], **keywords)


def test_a_4_cm_array_over_a_23_mm_tumor_is_an_ordinary_choice():
    grid, tissue, tumor = scene(11.5)
    for probe in (centred("leveen-4cm"), ProbePlacement("leveen-4cm", tip_mm=[0, 0, 0], direction=[0, 0, -1])):
        report = check_trajectories([probe], tissue, grid, tumor)
        assert not [w for w in report.warnings if "active part" in w]
    assert report.probes[0].active_fraction_in_tumor < 0.5  # most tines lie outside the tumor, by design


def test_a_3_cm_needle_through_a_15_mm_tumor_is_an_ordinary_choice():
    grid, tissue, tumor = scene(7.5)
    report = check_trajectories([centred("cooltip-17g-3cm")], tissue, grid, tumor)
    assert not [w for w in report.warnings if "active part" in w]


def test_an_off_centre_active_part_warns_and_a_miss_still_does():
    grid, tissue, tumor = scene(12.5)
    aside = ProbePlacement("cooltip-17g-3cm", tip_mm=[0, 0, -3], direction=[0, 0, -1])  # centre 12 mm up
    report = check_trajectories([aside], tissue, grid, tumor)
    assert any("centred 12.0 mm from the target tumor's centre" in w for w in report.warnings)
    far = ProbePlacement("leveen-4cm", tip_mm=[0, 0, -6], direction=[0, 0, -1])  # the array 13 mm too deep
    assert any("active part is centred" in w for w in check_trajectories([far], tissue, grid, tumor).warnings)
    missing = ProbePlacement("cooltip-17g-3cm", tip_mm=[20, 0, 15], direction=[0, 0, -1])
    report = check_trajectories([missing], tissue, grid, tumor)
    assert any("does not reach the target tumor" in w for w in report.warnings)
