"""The fast zone model's pieces: combination, heat-sink factor, interpolation in 1/N, correction."""

from __future__ import annotations

import numpy as np

from rfasim.planner.library import ZoneLibraryEntry, equivalent_level_c
from rfasim.planner.zone_model import (
    DeviceZones,
    LibraryZoneModel,
    ProbePoses,
    ProtocolWeights,
    combine_rises,
    heat_sink_factor,
)


def _entry() -> ZoneLibraryEntry:
    axis = np.arange(-10, 11, 1.0)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    rise = np.clip(70.0 - 8.0 * np.sqrt(x**2 + y**2 + z**2), 0.0, None).astype(np.float32)
    return ZoneLibraryEntry("cooltip-17g-3cm", 1.0, np.array([-10.0, -10.0, -10.0]), rise, 0.5 * rise,
                            55.0, 1.0, 720.0, 1.0)


def test_combination_is_the_single_zone_for_one_probe_and_adds_neighbours() -> None:
    peak = np.array([[10.0, 60.0], [50.0, 5.0]])
    end = 0.5 * peak
    one = combine_rises(peak[:1], end[:1], ProtocolWeights(0.9, 1.0))
    np.testing.assert_allclose(one, 0.9 * peak[0])
    two = combine_rises(peak, end, ProtocolWeights(1.0, 0.5))
    np.testing.assert_allclose(two, [50.0 + 0.5 * 5.0, 60.0 + 0.5 * 2.5])


def test_heat_sink_factor_is_zero_in_a_vessel_and_one_far_away() -> None:
    factor = heat_sink_factor(np.array([0.0, 1.0, 100.0]), 1.0)
    np.testing.assert_allclose(factor, [0.0, 1 - np.exp(-1.0), 1.0])


def test_weights_interpolate_in_inverse_probe_count() -> None:
    zones = DeviceZones(_entry(), protocols={"switched": ProtocolWeights(1.0, 0.4, 50.0, {"isotherm": 0.9}, 2)},
                        protocols_more_probes={"switched": ProtocolWeights(0.8, 0.2, 48.0, {"isotherm": 0.8}, 4)})
    three = zones.weights("switched", 3)  # 1/3 lies 2/3 of the way from 1/2 to 1/4
    assert abs(three.own_peak - (1.0 - (2 / 3) * 0.2)) < 1e-12
    assert three.agreement["isotherm"] == 0.8
    assert zones.weights("switched", 1).own_peak == 1.0
    many = zones.weights("switched", 50)
    assert many.neighbour_heat >= 0.0


def test_protocols_with_poor_calibration_are_not_offered() -> None:
    zones = DeviceZones(_entry(), protocols={
        "switched": ProtocolWeights(1.0, 0.3, 50.0, {"isotherm": 0.9, "arrhenius": 0.9}),
        "simultaneous": ProtocolWeights(1.0, 0.7, 50.0, {"isotherm": 0.5, "arrhenius": 0.9}),
    })
    model = LibraryZoneModel({"cooltip-17g-3cm": zones})
    assert model.protocols("cooltip-17g-3cm", "isotherm") == ("switched",)
    assert set(model.protocols("cooltip-17g-3cm", "arrhenius")) == {"switched", "simultaneous"}


def test_simultaneous_weights_are_not_extrapolated_to_more_probes() -> None:
    """Issue 14: four simultaneous Cool-tips were rated 100 % by 2-probe weights and covered 0 %
    in the full simulation (one generator's current limit shared by four probes)."""
    good = {"isotherm": 0.9, "arrhenius": 0.9}
    zones = DeviceZones(_entry(), protocols={
        "switched": ProtocolWeights(1.0, 0.3, 50.0, good, 2),
        "sequential": ProtocolWeights(1.0, 0.3, 50.0, good, 2),
        "simultaneous": ProtocolWeights(1.0, 0.7, 50.0, good, 2),
    })
    model = LibraryZoneModel({"cooltip-17g-3cm": zones})
    assert "simultaneous" in model.protocols("cooltip-17g-3cm", "isotherm", 2)
    four = model.protocols("cooltip-17g-3cm", "isotherm", 4)
    assert "simultaneous" not in four
    assert set(four) == {"switched", "sequential"}
    # A calibration with four simultaneous probes makes the protocol available again.
    zones.protocols_by_count["simultaneous"] = {4: ProtocolWeights(0.5, 0.2, 50.0, good, 4)}
    assert "simultaneous" in model.protocols("cooltip-17g-3cm", "isotherm", 4)


def test_correction_recovers_a_known_scale() -> None:
    model = LibraryZoneModel({"cooltip-17g-3cm": DeviceZones(_entry())})
    rise = np.linspace(0.0, 80.0, 401)
    fast = 37.0 + rise
    truth = 37.0 + 0.8 * rise >= 60.0
    factor = model.correct_from("cooltip-17g-3cm", fast, truth, 60.0, "isotherm")
    assert abs(factor - 0.8) <= 0.03


def test_correction_of_one_criterion_leaves_the_other_uncorrected() -> None:
    """Issue 14: a factor fitted under the Arrhenius criterion must not shrink the >= 100 degC
    estimate (the demo's fast >= 100 degC coverage collapsed to 0 %)."""
    device = "cooltip-17g-3cm"
    model = LibraryZoneModel({device: DeviceZones(_entry())})
    rise = np.linspace(0.0, 80.0, 401)
    truth = 37.0 + 0.6 * rise >= 55.0
    assert abs(model.correct_from(device, 37.0 + rise, truth, 55.0, "arrhenius") - 0.6) <= 0.03
    points = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [4.0, 0.0, 0.0]])
    poses = ProbePoses(np.zeros((1, 1, 3)), np.array([[[0.0, 0.0, 1.0]]]))
    distance = np.full(points.shape[0], np.inf)
    plain = LibraryZoneModel({device: DeviceZones(_entry())})
    expected = plain.peak_temperatures_c(device, ("single",), poses, points, distance, None)["single"]
    isotherm = model.peak_temperatures_c(device, ("single",), poses, points, distance, "isotherm")["single"]
    arrhenius = model.peak_temperatures_c(device, ("single",), poses, points, distance, "arrhenius")["single"]
    np.testing.assert_allclose(isotherm, expected)  # its own factor: none fitted, so none applied
    assert (isotherm >= 100.0).any()
    np.testing.assert_allclose(arrhenius - 37.0, model.rise_scale[device]["arrhenius"] * (expected - 37.0),
                               rtol=1e-5)
    assert "isotherm" not in model.rise_scale[device]


def test_correction_without_a_verified_zone_keeps_the_factor() -> None:
    model = LibraryZoneModel({"cooltip-17g-3cm": DeviceZones(_entry())})
    fast = 37.0 + np.linspace(0.0, 50.0, 101)
    assert model.correct_from("cooltip-17g-3cm", fast, np.zeros(101, dtype=bool), 100.0, "isotherm") == 1.0


def test_equivalent_level_matches_the_volume() -> None:
    peak = np.linspace(40.0, 100.0, 61)
    damage = (peak >= 70.0).astype(float) * 2.0
    level, agreement = equivalent_level_c(peak, damage)
    assert level == 70.0 and agreement == 1.0


def test_spacing_correction_fits_the_finer_library_run() -> None:
    coarse = _entry()  # 1 mm, rise 70 - 8 r
    axis = np.arange(-10, 10.5, 0.5)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    fine_rise = (0.8 * np.clip(70.0 - 8.0 * np.sqrt(x**2 + y**2 + z**2), 0.0, None)).astype(np.float32)
    fine = ZoneLibraryEntry("cooltip-17g-3cm", 0.5, np.array([-10.0, -10.0, -10.0]), fine_rise, 0.5 * fine_rise,
                            55.0, 1.0, 720.0, 1.0)
    model = LibraryZoneModel({"cooltip-17g-3cm": DeviceZones(coarse)})
    factor = model.correct_for_spacing("cooltip-17g-3cm", fine, "isotherm", 60.0)
    assert abs(factor - 0.8) <= 0.03
    assert model.rise_scale["cooltip-17g-3cm"] == {"isotherm": factor}
