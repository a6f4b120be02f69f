"""rfasim/data/validation_errors.toml: written per device class, read back by the plan."""

from __future__ import annotations

import report
import tomllib
from corpus import load_corpus
from linear_calibration import FitSettings, calibrate
from test_linear_calibration import EXPERIMENTS, PERFUSION, SIGMA, SPACE, LogLinearModel
from validation_errors import class_table, device_class, write_validation_errors

from rfasim.plan.uncertainty import load_validation_errors, uncertainty_for_kinds

CORPUS = load_corpus()
ERRORS = {
    "lee2009-cooled-2cm-ex-vivo": {"long_axis_mm": 20.0, "short_axis_mm": 10.0, "volume_ml": 60.0},
    "lee2009-cooled-2cm-in-vivo": {"long_axis_mm": 70.0, "short_axis_mm": 90.0, "volume_ml": 400.0},
    "song2015-cooled-17g-in-vivo": {"volume_ml": 300.0, "energy_j": -10.0},
    "bitsch2006-leveen-4cm-unperfused": {"long_axis_mm": -5.0, "short_axis_mm": -15.0},
}


def test_device_classes_are_the_catalog_kinds() -> None:
    assert device_class(CORPUS["lee2009-cooled-2cm-ex-vivo"]) == "straight"
    assert device_class(CORPUS["radiology2005-three-clusters-switched-ex-vivo"]) == "cluster"
    assert device_class(CORPUS["bitsch2006-leveen-4cm-perfused"]) == "multitine"
    assert device_class(CORPUS["rempp2014-bipolar-water-cooled-600ma-ex-vivo"]) == "bipolar"


def test_class_table_summarises_by_subset() -> None:
    classes = class_table(CORPUS, ERRORS)
    straight = classes["straight"]
    assert straight["in_vivo"]["experiments"] == ["lee2009-cooled-2cm-in-vivo", "song2015-cooled-17g-in-vivo"]
    assert straight["in_vivo"]["volume_ml"] == {"n": 2, "median_error_pct": 350.0, "median_abs_error_pct": 350.0,
                                                "max_abs_error_pct": 400.0}
    assert straight["all"]["volume_ml"]["n"] == 3
    assert "in_vivo" not in classes["multitine"] and "volume_ml" not in classes["multitine"]["all"]


def test_written_file_is_valid_toml_that_the_plan_reads(tmp_path) -> None:
    path = tmp_path / "validation_errors.toml"
    provenance = {"commit": "abc", "physics_hash": "0" * 64, "spacing_mm": 3.0, "basis": 'defaults "quoted"'}
    write_validation_errors(CORPUS, ERRORS, provenance, path)
    table = tomllib.loads(path.read_text())
    assert table["basis"] == 'defaults "quoted"' and table["spacing_mm"] == 3.0
    plan_view = uncertainty_for_kinds(["straight"], load_validation_errors(path))
    assert plan_view.status == "validated" and plan_view.errors["volume_ml"].median_error_pct == 350.0
    assert uncertainty_for_kinds(["bipolar"], table).status == "not validated"


def test_the_page_section_shows_fitted_values_and_both_errors() -> None:
    space = SPACE.subset([PERFUSION, SIGMA])
    result = calibrate(EXPERIMENTS, space, LogLinearModel(space, {PERFUSION: 0.009, SIGMA: 0.28}, curvature=1.0),
                       FitSettings(test_experiments=("huang2012-cooled-3cm-flow10",)))
    record = {**result.to_dict(), "physics_hash": "h", "spacing_mm": 3.0, "simulations": result.runs}
    text = report.loo_section(record, None, "h")
    assert "Not computed yet" not in text
    assert "standard error" in text and "verified by simulation" in text and "test split (global fit)" in text
    for name in (e.name for e in EXPERIMENTS):
        assert name in text
    assert "Not computed yet" in report.loo_section(record, None, "other physics")
