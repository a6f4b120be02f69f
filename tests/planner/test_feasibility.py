"""Feasibility verdicts (rfasim.planner.feasibility): the large-vessel rule and the >= 100 degC bounds."""

from __future__ import annotations

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
    large_vessel_gap,
    target_shape,
    vessel_feasibility,
)
from rfasim.tissue import TissueClass

SPACING_MM = 1.0


def _anatomy(vessel_gap_mm: float, vessel_radius_mm: float = 4.0, tumor_radius_mm: float = 6.0):
    """Liver with a spherical tumor and a straight vessel along z whose wall lies ``vessel_gap_mm`` away."""
    n = 61
    centre = (n - 1) / 2
    i, j, k = np.indices((n, n, n)) - centre
    classes = np.full((n, n, n), TissueClass.LIVER, np.uint8)
    tumor = np.sqrt(i**2 + j**2 + k**2) <= tumor_radius_mm
    classes[tumor] = TissueClass.TUMOR
    axis_x = tumor_radius_mm + vessel_gap_mm + vessel_radius_mm
    classes[np.sqrt((i - axis_x) ** 2 + j**2) <= vessel_radius_mm] = TissueClass.VESSEL
    return classes, tumor


def test_disc_covering_ratio_proven_values_and_bound():
    assert disc_covering_ratio(1) == 1.0 and disc_covering_ratio(2) == 1.0
    assert disc_covering_ratio(6) == pytest.approx(0.555905)
    assert disc_covering_ratio(7) == pytest.approx(0.5)
    assert disc_covering_ratio(12) == pytest.approx(math.sin(math.pi / 12))
    with pytest.raises(ValueError, match="at least 1"):
        disc_covering_ratio(0)


def test_large_vessel_inside_the_margin_makes_the_target_unreachable():
    classes, tumor = _anatomy(vessel_gap_mm=3.0)
    gap = large_vessel_gap(classes, tumor, SPACING_MM, margin_mm=5.0, thrombosis_threshold_mm=3.0)
    assert gap.wall_gap_mm is not None and 1.5 <= gap.wall_gap_mm <= 4.0
    assert gap.calibre_mm is not None and gap.calibre_mm >= 3.0
    verdict = vessel_feasibility(gap, 5.0, "arrhenius")
    assert verdict.unreachable and verdict.bound == "large vessel"
    assert "large vessel" in verdict.reason and "5 mm margin" in verdict.reason
    assert verdict.status(False).startswith("unreachable: ")
    assert verdict.status(True) == "met"  # a met plan would refute it; status reports what was verified


def test_vessel_beyond_the_margin_or_unmodelled_proves_nothing():
    classes, tumor = _anatomy(vessel_gap_mm=9.0)
    gap = large_vessel_gap(classes, tumor, SPACING_MM, margin_mm=5.0, thrombosis_threshold_mm=3.0)
    assert gap.wall_gap_mm is None
    assert not vessel_feasibility(gap, 5.0, "arrhenius").unreachable
    near = large_vessel_gap(*_anatomy(vessel_gap_mm=3.0), SPACING_MM, 5.0, 3.0)
    assert not vessel_feasibility(near, 5.0, "arrhenius", vessels_modelled=False).unreachable


def test_small_vessel_thromboses_and_is_no_proof():
    classes, tumor = _anatomy(vessel_gap_mm=3.0, vessel_radius_mm=1.0)  # 2 mm calibre < 3 mm threshold
    gap = large_vessel_gap(classes, tumor, SPACING_MM, margin_mm=5.0, thrombosis_threshold_mm=3.0)
    assert gap.wall_gap_mm is None
    assert not vessel_feasibility(gap, 5.0, "isotherm").unreachable


def test_target_shape_is_the_dilated_tumor():
    classes, tumor = _anatomy(vessel_gap_mm=20.0)
    shape = target_shape(classes, tumor, SPACING_MM, margin_mm=5.0)
    expected = 4.0 / 3.0 * math.pi * 11.0**3 * 1e-3  # ball of 6 + 5 mm
    assert shape.volume_ml == pytest.approx(expected, rel=0.05)
    assert shape.inscribed_radius_mm == pytest.approx(11.5, abs=1.0)


def _core(volume_ml: float, radius_mm: float) -> DeviceCore:
    return DeviceCore("cooltip-17g-3cm", 1.0, 100.0, volume_ml, radius_mm, radius_mm + 0.7, 40.0)


def test_volume_bound_with_the_multi_probe_factor():
    target = TargetShape(volume_ml=14.1, inscribed_radius_mm=15.0, spacing_mm=1.0)
    proven, words, figures = isotherm_device_bound(_core(1.0, 4.0), target, 6, "parallel", 10.0, "needle")
    assert proven and "volume: 6 x 2.00 x 1.00 mL = 12.0 mL < 14.1 mL" in words
    assert figures["volume_bound"]["cores_ml"] == pytest.approx(12.0)
    not_proven, words, _ = isotherm_device_bound(_core(1.8, 4.0), target, 6, "parallel", 10.0, "needle")
    assert not not_proven and words == ""  # 6 x 2 x 1.8 = 21.6 mL >= 14.1 mL: no proof
    one, words, _ = isotherm_device_bound(_core(20.0, 9.0), target, 1, "parallel", 10.0, "needle")
    assert one and "largest ball 9.0 < 15.0 mm" in words


def test_a_verified_plan_beyond_the_bound_withdraws_the_proof():
    target = TargetShape(volume_ml=14.1, inscribed_radius_mm=15.0, spacing_mm=1.0)
    proven, words, figures = isotherm_device_bound(_core(1.0, 4.0), target, 6, "parallel", 10.0, "needle")
    verdict = CriterionFeasibility("isotherm", proven, words, "volume / one core", {"devices": {"cooltip-17g-3cm": figures}})
    assert check_isotherm_hypothesis(verdict, "cooltip-17g-3cm", 4, zone_volume_ml=7.0)  # 7 <= 4 x 2 x 1
    assert verdict.unreachable
    assert not check_isotherm_hypothesis(verdict, "cooltip-17g-3cm", 4, zone_volume_ml=9.0)
    assert not verdict.unreachable and "withdrawn" in verdict.figures and verdict.hypothesis_held is False
