"""Typed plan results: metrics.json is written from them; zone criteria and probe groups come from their registries."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rfasim.case import load_case
from rfasim.errors import CaseFileError
from rfasim.grid import Grid
from rfasim.metrics.criteria import _registry, zone_criterion
from rfasim.plan.outputs import summary_text, write_plan_folder
from rfasim.plan.pipeline import probe_groups, run_case
from rfasim.plan.result import MarginSummary, ZoneSummary
from rfasim.probes import ProbePlacement, rasterize_probes


@pytest.fixture
def isotherm_60(monkeypatch: pytest.MonkeyPatch):
    """A criterion registered for one test only (the registry is restored after it)."""
    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))

    @zone_criterion("isotherm-60", description="peak temperature >= {threshold:g} degC", threshold=60.0, unit="degC")
    def isotherm(fields):
        return fields.peak_temperature_c

    return isotherm


def set_zone(case_path, zone: str) -> None:
    """Replace the case file's ``[zone]`` table by ``zone``."""
    text = case_path.read_text()
    start = text.index("[zone]")
    end = text.index("[", start + 1)
    case_path.write_text(text[:start] + f"[zone]\n{zone}\n\n" + text[end:])


def test_a_registered_criterion_runs_from_the_case_file_and_metrics_come_from_typed_fields(
    small_case, isotherm_60, tmp_path
):
    case_path = small_case("liver-25mm")
    set_zone(case_path, 'criterion = "isotherm-60"')
    plan = run_case(load_case(case_path), progress=False)

    assert isinstance(plan.zone, ZoneSummary) and plan.zone.criterion is isotherm_60
    assert plan.zone.description == "peak temperature >= 60 degC" and plan.zone.threshold_c == 60.0
    np.testing.assert_array_equal(plan.zone_mask, plan.peak_temperature_c >= 60.0)
    np.testing.assert_array_equal(plan.arrhenius_zone_mask, plan.damage >= 1.0)
    assert plan.arrhenius_zone.criterion.name == "arrhenius" and plan.arrhenius_zone.coverage_pct is None
    assert isinstance(plan.zone.margin, MarginSummary) and plan.zone.margin.target_mm == 5.0
    assert 0.0 < plan.zone.coverage_pct <= 100.0

    write_plan_folder(plan, tmp_path / "plan")
    written = json.loads((tmp_path / "plan" / "metrics.json").read_text())
    assert written == plan.metrics  # the property is the writer's document
    assert written["zone"]["criterion"] == "peak temperature >= 60 degC" and written["zone"]["threshold_c"] == 60.0
    assert written["zone"]["volume_ml"] == round(plan.zone.volume_ml, 3)
    assert written["zone"]["axes_mm"] == [round(a, 2) for a in plan.zone.axes_mm]
    assert written["tumor"]["coverage_pct"] == round(plan.zone.coverage_pct, 2)
    assert written["margin"]["min_mm"] == round(plan.zone.margin.min_mm, 2)
    assert written["generator"]["energy_j"] == round(plan.generator.energy_j, 1)
    assert written["peak_temperature_c"] == round(float(plan.peak_temperature_c.max()), 2)
    assert written["run"]["grid_shape"] == list(plan.grid.shape) and written["run"]["simulated"] is True
    assert written["warnings"] == plan.warnings
    assert "zone (peak temperature >= 60 degC)" in summary_text(plan)


def test_case_file_takes_criterion_names_and_thresholds_from_the_registry(small_case):
    case_path = small_case("liver-25mm")
    set_zone(case_path, 'criterion = "peak_temperature"')
    case = load_case(case_path)
    assert case.zone_criterion == "peak_temperature" and case.zone_threshold_c is None

    set_zone(case_path, 'criterion = "peak_temperature"\nthreshold_c = 90.0')
    with pytest.raises(CaseFileError, match="only the isotherm criterion takes a threshold, not 'peak_temperature'"):
        load_case(case_path)
    set_zone(case_path, 'criterion = "isotherm"\nthreshold_c = 160.0')
    with pytest.raises(CaseFileError, match="must lie between 40 and 150 degC, got 160.0"):
        load_case(case_path)
    set_zone(case_path, 'criterion = "omega"')
    with pytest.raises(CaseFileError, match=r"unknown 'omega' \(valid: arrhenius, cem43, isotherm, peak_temperature\)"):
        load_case(case_path)

    set_zone(case_path, 'criterion = "cem43"')
    case_path.write_text(case_path.read_text() + '\n[options]\ndamage_models = ["arrhenius"]\n')
    with pytest.raises(CaseFileError, match=r"'cem43' needs the 'cem43' damage model; add it to \[options\] damage_models"):
        run_case(load_case(case_path), progress=False)


def test_probe_groups_follow_each_probes_electrode_count():
    grid = Grid.centered(60.0, 1.0)
    pair = ProbePlacement("bipolar-pair-17g", tip_mm=[0, 0, -12], direction=[0, 0, -1], label="pair")
    single = ProbePlacement("cooltip-17g-2cm", tip_mm=[0, 18, -8], direction=[0, 0, -1], label="single")
    electrodes = rasterize_probes([single, pair], grid)
    groups = probe_groups([single, pair], len(electrodes))
    assert groups == [[0], [1, 2]]
    assert [electrodes[i].polarity for i in groups[1]] == [0.5, -0.5]
    assert {electrodes[i].probe_label for i in groups[1]} == {"pair"}
    with pytest.raises(ValueError, match="2 probes hold 3 electrodes, not 2"):
        probe_groups([single, pair], 2)
