"""Probe placement geometry and its input validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rfasim.errors import ProbeError
from rfasim.probes import ProbePlacement


def test_straight_needle_runs_back_from_the_tip_towards_the_entry():
    placement = ProbePlacement("cooltip-17g-3cm", tip_mm=[10, 20, 30], entry_mm=[10, 20, 130])
    geometry = placement.geometry()
    [active] = geometry.active_segments
    np.testing.assert_allclose(active.end_mm, [10, 20, 30])
    np.testing.assert_allclose(active.start_mm, [10, 20, 60])
    assert active.radius_mm == pytest.approx(0.735)
    np.testing.assert_allclose(geometry.direction, [0, 0, -1])
    [shaft] = geometry.insulated_segments
    np.testing.assert_allclose(shaft.start_mm, active.start_mm)
    assert shaft.end_mm[2] > 60
    [sensor] = geometry.thermocouples
    np.testing.assert_allclose(sensor.position_mm, [10, 20, 30])


def test_direction_instead_of_entry_gives_the_same_geometry():
    by_entry = ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, 0], entry_mm=[30, 40, 0]).geometry()
    by_direction = ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 0, 0], direction=[-3, -4, 0]).geometry()
    np.testing.assert_allclose(by_entry.active_segments[0].start_mm, by_direction.active_segments[0].start_mm)
    np.testing.assert_allclose(by_entry.active_segments[0].start_mm, [12, 16, 0])


def test_cluster_needles_are_five_mm_apart_and_one_electrode():
    geometry = ProbePlacement("cooltip-cluster-2.5cm", tip_mm=[0, 0, 0], direction=[1, 1, 1]).geometry()
    tips = np.array([s.end_mm for s in geometry.active_segments])
    assert len(tips) == 3
    distances = [np.linalg.norm(tips[i] - tips[j]) for i, j in ((0, 1), (1, 2), (0, 2))]
    np.testing.assert_allclose(distances, 5.0)
    np.testing.assert_allclose(tips.mean(axis=0), 0.0, atol=1e-12)
    assert {s.electrode for s in geometry.active_segments} == {0}


def test_one_shaft_bipolar_has_two_electrodes_and_an_insulator():
    geometry = ProbePlacement("celon-prosurge-t30", tip_mm=[0, 0, 0], direction=[0, 0, 1]).geometry()
    distal, proximal = geometry.active_segments
    assert (distal.polarity, proximal.polarity) == (0.5, -0.5)
    assert distal.length_mm + proximal.length_mm + geometry.insulated_segments[0].length_mm == pytest.approx(30.0)
    assert geometry.insulated_segments[0].length_mm == pytest.approx(4.0)


def test_two_needle_bipolar_pair_spacing():
    geometry = ProbePlacement("bipolar-pair-17g", tip_mm=[0, 0, 0], direction=[0, 1, 0], rotation_deg=90).geometry()
    first, second = geometry.active_segments
    assert np.linalg.norm(first.end_mm - second.end_mm) == pytest.approx(20.0)
    assert (first.polarity, second.polarity) == (0.5, -0.5)


@pytest.mark.parametrize("diameter", [20.0, 30.0])
def test_umbrella_tines_open_to_the_deployment_diameter(diameter):
    placement = ProbePlacement("leveen-3cm", tip_mm=[0, 0, 0], direction=[0, 0, -1], deployment_diameter_mm=diameter)
    geometry = placement.geometry()
    assert len(geometry.tine_paths_mm) == 10
    radial = max(float(np.hypot(path[:, 0], path[:, 1]).max()) for path in geometry.tine_paths_mm)
    assert radial == pytest.approx(diameter / 2, rel=1e-6)
    ends = np.array([path[-1] for path in geometry.tine_paths_mm])
    assert np.all(ends[:, 2] < 0) or diameter == 30.0  # umbrella curves back at full deployment


def test_rotation_turns_the_tines_about_the_shaft():
    straight = ProbePlacement("leveen-4cm", tip_mm=[0, 0, 0], direction=[0, 0, 1]).geometry()
    turned = ProbePlacement("leveen-4cm", tip_mm=[0, 0, 0], direction=[0, 0, 1], rotation_deg=15).geometry()
    angle_straight = math.atan2(*straight.tine_paths_mm[0][-1][[1, 0]])
    angle_turned = math.atan2(*turned.tine_paths_mm[0][-1][[1, 0]])
    assert math.degrees(angle_turned - angle_straight) == pytest.approx(15.0)


def test_starburst_has_thermocouples_at_tine_tips():
    geometry = ProbePlacement("starburst-xl", tip_mm=[0, 0, 0], direction=[0, 0, 1]).geometry()
    assert len(geometry.thermocouples) == 5
    tips = [tuple(path[-1]) for path in geometry.tine_paths_mm]
    for sensor in geometry.thermocouples:
        assert tuple(sensor.position_mm) in tips


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"direction": [0, 0, 0]}, "direction has zero length"),
        ({"entry_mm": [1, 2, 3]}, "entry_mm equals tip_mm"),
        ({"entry_mm": [1, float("nan"), 3]}, "NaN"),
        ({"entry_mm": [0, 0, 9], "direction": [0, 0, 1]}, "exactly one of entry_mm and direction"),
        ({}, "exactly one of entry_mm and direction"),
        ({"direction": [0, 0, 1], "deployment_diameter_mm": 20}, "only for multi-tine"),
        ({"direction": [0, 0, 1], "rotation_deg": float("inf")}, "rotation_deg"),
        ({"direction": [1, 2]}, "three numbers"),
    ],
)
def test_bad_placements_raise_probe_errors(arguments, message):
    with pytest.raises(ProbeError, match=message):
        ProbePlacement("cooltip-17g-3cm", tip_mm=[1, 2, 3], **arguments)


def test_nan_tip_and_over_deployed_tines_raise():
    with pytest.raises(ProbeError, match="tip_mm holds NaN"):
        ProbePlacement("cooltip-17g-3cm", tip_mm=[float("nan"), 0, 0], direction=[0, 0, 1])
    with pytest.raises(ProbeError, match="beyond the maximum 40 mm"):
        ProbePlacement("leveen-4cm", tip_mm=[0, 0, 0], direction=[0, 0, 1], deployment_diameter_mm=45)
    with pytest.raises(ProbeError, match="must be positive"):
        ProbePlacement("leveen-4cm", tip_mm=[0, 0, 0], direction=[0, 0, 1], deployment_diameter_mm=0)
