"""The plan states the model's out-of-sample error beside its zone (issue 12, item 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rfasim.case import load_case
from rfasim.plan import uncertainty
from rfasim.plan.outputs import summary_text
from rfasim.plan.pipeline import run_case
from rfasim.plan.uncertainty import (
    load_validation_errors,
    uncertainty_for_kinds,
    uncertainty_json,
    uncertainty_line,
)

ERRORS = {"n": 2, "median_error_pct": 120.0, "median_abs_error_pct": 120.0, "max_abs_error_pct": 150.0}
TABLE = {
    "commit": "abc123", "physics_hash": "f" * 64, "spacing_mm": 3.0, "basis": "defaults (nothing fitted)",
    "classes": {
        "straight": {
            "all": {"experiments": ["a", "b", "c"], "volume_ml": {**ERRORS, "n": 3}},
            "in_vivo": {"experiments": ["a", "b"], "volume_ml": ERRORS,
                        "short_axis_mm": {"n": 1, "median_error_pct": 40.0, "median_abs_error_pct": 40.0,
                                          "max_abs_error_pct": 40.0}},
        },
        "multitine": {"all": {"experiments": ["x"], "volume_ml": {**ERRORS, "n": 1, "median_error_pct": -20.0}}},
    },
}


def test_the_in_vivo_errors_of_the_class_are_preferred() -> None:
    result = uncertainty_for_kinds(["straight"], TABLE)
    assert result.status == "validated" and result.subset == "in vivo experiments"
    assert result.errors["volume_ml"].median_error_pct == 120.0 and result.errors["volume_ml"].n == 2
    assert result.experiments == ["a", "b"] and result.commit == "abc123" and result.spacing_mm == 3.0
    fallback = uncertainty_for_kinds(["multitine", "multitine"], TABLE)
    assert fallback.status == "validated" and fallback.subset.startswith("all experiments")


def test_a_class_without_an_entry_is_not_validated() -> None:
    for kinds in (["bipolar"], ["straight", "cluster"], []):
        result = uncertainty_for_kinds(kinds, TABLE)
        assert result.status == "not validated" and result.errors == {}
        assert "not validated" in uncertainty_line(result)
    assert uncertainty_for_kinds(["straight"], {}).status == "not validated"


def test_json_and_summary_line_carry_the_figures() -> None:
    document = uncertainty_json(uncertainty_for_kinds(["straight"], TABLE))
    assert document["status"] == "validated" and document["measured_on"] == "arrhenius zone"
    assert document["errors"]["volume_ml"] == {"n": 2, "median_pct": 120.0, "median_abs_pct": 120.0,
                                               "max_abs_pct": 150.0}
    assert document["physics_hash"] == "f" * 64
    json.dumps(document)
    line = uncertainty_line(uncertainty_for_kinds(["straight"], TABLE))
    assert "+120 %" in line and "straight" in line and "3 mm grid" in line


def test_an_unreadable_file_reads_as_no_entries(tmp_path: Path) -> None:
    broken = tmp_path / "validation_errors.toml"
    broken.write_text("classes = [")
    assert load_validation_errors(broken) == {}
    assert load_validation_errors(tmp_path / "absent.toml") == {}


def test_the_shipped_file_if_any_is_well_formed() -> None:
    table = load_validation_errors()
    for kind, entry in table.get("classes", {}).items():
        result = uncertainty_for_kinds([kind], table)
        assert result.status == "validated", kind
        assert len(table["physics_hash"]) == 64 and table["commit"]
        assert set(entry) <= {"all", "in_vivo"}


def test_metrics_and_summary_state_the_error_beside_the_zone(small_case, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uncertainty, "load_validation_errors", lambda path=None: TABLE)
    plan = run_case(load_case(small_case("liver-25mm")), progress=False)
    metrics = plan.metrics
    kind = plan.placements[0].model.kind
    for key in ("zone", "zone_arrhenius"):
        assert metrics[key]["out_of_sample_error"]["device_class"] == kind
    expected = "validated" if kind in TABLE["classes"] else "not validated"
    assert metrics["zone"]["out_of_sample_error"]["status"] == expected
    assert "out-of-sample error" in summary_text(plan)
