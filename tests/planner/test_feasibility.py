"""Feasibility rules: a large vessel inside the margin, the covering constants, the core bounds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from rfasim.planner.feasibility import (
    CriterionFeasibility,
    DeviceCore,
    TargetShape,
    check_isotherm_hypothesis,
    disc_covering_ratio,
    isotherm_device_bound,
    isotherm_feasibility,
    large_vessel_gap,
    vessel_feasibility,
)
from rfasim.tissue import TissueClass


def _ball_case(gap_mm: float, vessel_diameter_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """A 10 mm-radius tumor and a straight vessel along z whose wall is ``gap_mm`` from it (1 mm grid)."""
    shape = (80, 80, 40)
    x, y, z = np.meshgrid(*(np.arange(n) - n // 2 for n in shape), indexing="ij")
    classes = np.full(shape, TissueClass.LIVER, np.uint8)
    tumor = x**2 + y**2 + z**2 <= 10**2
    classes[tumor] = TissueClass.TUMOR
    offset = 10 + gap_mm + 0.5 * vessel_diameter_mm
    lumen = (x - offset) ** 2 + y**2 <= (0.5 * vessel_diameter_mm) ** 2
    classes[lumen] = TissueClass.VESSEL
    return classes, tumor


def test_a_large_vessel_inside_the_margin_makes_it_unreachable() -> None:
    classes, tumor = _ball_case(gap_mm=3.0, vessel_diameter_mm=8.0)
    gap = large_vessel_gap(classes, tumor, 1.0, 5.0, 3.0)
    # A distance in mm (tumor surface to the vessel's wall), built as 3 mm on a 1 mm grid.
    distance_to_vessel_mm = gap.wall_gap_mm
    assert distance_to_vessel_mm is not None
    assert 2.0 <= distance_to_vessel_mm <= 4.0
    assert gap.calibre_mm >= 7.0
    verdict = vessel_feasibility(gap, 5.0, "arrhenius")
    assert verdict.unreachable
    assert verdict.bound == "large vessel"
    assert "large vessel" in verdict.status(False)
    assert verdict.status(True) == "met"


def test_a_far_or_small_vessel_does_not() -> None:
    classes, tumor = _ball_case(gap_mm=12.0, vessel_diameter_mm=8.0)
    assert not vessel_feasibility(large_vessel_gap(classes, tumor, 1.0, 5.0, 3.0), 5.0, "isotherm").unreachable
    classes, tumor = _ball_case(gap_mm=2.0, vessel_diameter_mm=2.0)  # thromboses: not a permanent sink
    assert not vessel_feasibility(large_vessel_gap(classes, tumor, 1.0, 5.0, 3.0), 5.0, "isotherm").unreachable
    # The vessel model "none": vessels are tissue, nothing to prove.
    classes, tumor = _ball_case(gap_mm=3.0, vessel_diameter_mm=8.0)
    assert not vessel_feasibility(large_vessel_gap(classes, tumor, 1.0, 5.0, 3.0), 5.0, "isotherm",
                                  vessels_modelled=False).unreachable


def test_disc_covering_ratios() -> None:
    assert disc_covering_ratio(1) == disc_covering_ratio(2) == 1.0
    assert disc_covering_ratio(3) == pytest.approx(math.sqrt(3) / 2, abs=1e-6)
    assert disc_covering_ratio(4) == pytest.approx(math.sqrt(2) / 2, abs=1e-6)
    assert disc_covering_ratio(6) == pytest.approx(0.5559, abs=1e-4)
    assert disc_covering_ratio(7) == 0.5
    # Beyond the proven values a lower bound (sin(pi/n)), which must stay below the best
    # covering known for n = 8 (radius ratio 0.445041, a geometric constant, not a measurement).
    best_known_covering_ratio_8 = 0.445041
    assert disc_covering_ratio(8) == pytest.approx(math.sin(math.pi / 8))
    assert disc_covering_ratio(8) < best_known_covering_ratio_8
    ratios = [disc_covering_ratio(n) for n in range(1, 13)]
    assert all(a >= b for a, b in itertools.pairwise(ratios))
    with pytest.raises(ValueError, match="count must be at least 1"):
        disc_covering_ratio(0)


def _core(volume_ml: float, inscribed_mm: float, axis_mm: float, diameter_mm: float) -> DeviceCore:
    return DeviceCore("device", 1.0, 100.0, volume_ml, inscribed_mm, axis_mm, diameter_mm)


def test_core_bounds_with_their_numbers() -> None:
    target = TargetShape(volume_ml=14.1, inscribed_radius_mm=15.0, spacing_mm=1.0)
    # Six cores of 1 mL, even doubled by interaction (12 mL), cannot hold 14.1 mL.
    proven, words, figures = isotherm_device_bound(_core(1.0, 4.0, 5.0, 30.0), target, 6, "parallel", 10.0, "straight")
    assert proven
    assert "volume" in words
    assert figures["volume_bound"]["cores_ml"] == pytest.approx(12.0)
    # Larger cores: the volume bound no longer proves it; the covering bound would (5 < 0.5559 x 15
    # = 8.34 mm) but is not used while multi-probe zones exceed single cores (factor 2).
    proven, _, figures = isotherm_device_bound(_core(1.62, 4.1, 5.2, 33.9), target, 6, "parallel", 10.0, "straight")
    assert not proven
    assert figures["disc_covering_bound"]["would_prove"]
    assert not figures["disc_covering_bound"]["used"]
    assert figures["disc_covering_bound"]["needed_radius_mm"] == pytest.approx(0.555905 * 15.0, abs=0.01)
    # With cores no larger than single ones (factor 1) the covering bound proves it.
    proven, words, _ = isotherm_device_bound(_core(1.62, 4.1, 5.2, 33.9), target, 6, "parallel", 10.0, "straight",
                                             multi_probe_factor=1.0)
    assert proven
    assert "disc covering" in words
    # One probe: a core whose largest ball is smaller than the target's cannot contain it.
    proven, words, _ = isotherm_device_bound(_core(20.0, 9.0, 17.0, 35.0), target, 1, "parallel", 32.0, "multitine")
    assert proven
    assert "largest ball" in words


def test_the_criterion_is_unreachable_only_when_every_device_is() -> None:
    target = TargetShape(14.1, 15.0, 1.0)
    small, large = _core(1.0, 4.0, 5.0, 30.0), _core(5.2, 6.8, 17.2, 34.8)
    rules = {"small": (10.0, "straight"), "large": (32.0, "multitine")}
    verdict = isotherm_feasibility({"small": small}, target, 6, "parallel", {"small": rules["small"]})
    assert verdict.unreachable
    assert "small" in verdict.reason
    both = isotherm_feasibility({"small": small, "large": large}, target, 6, "parallel", rules)
    assert not both.unreachable
    assert both.figures["not_proven_for"] == ["large"]


def test_a_verified_zone_beyond_the_bound_withdraws_the_proof() -> None:
    target = TargetShape(14.1, 15.0, 1.0)
    verdict = isotherm_feasibility({"small": _core(1.0, 4.0, 5.0, 30.0)}, target, 6, "parallel",
                                   {"small": (10.0, "straight")})
    assert check_isotherm_hypothesis(verdict, "small", 4, 7.9)  # 7.9 <= 4 x 2 x 1 mL
    assert verdict.unreachable
    assert not check_isotherm_hypothesis(verdict, "small", 4, 8.5)
    assert not verdict.unreachable
    assert "withdrawn" in verdict.figures
    assert CriterionFeasibility("isotherm", False).status(False) == "not met"
