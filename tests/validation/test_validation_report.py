"""The page generator: agreement targets, tables, and the command end to end (without simulations)."""

from __future__ import annotations

import freshness
import report
import run_validation
from corpus import load_corpus

CORPUS = load_corpus()
ZONE = {name: e for name, e in CORPUS.items() if e.kind == "zone"}


def _exact_predictions(scale_in_vivo: float = 1.0) -> dict[str, dict]:
    """Predictions equal to the measurements (in vivo ones scaled)."""
    predictions = {}
    for name, experiment in ZONE.items():
        factor = scale_in_vivo if experiment.setting == "in vivo" else 1.0
        record = dict.fromkeys(("long_axis_mm", "short_axis_mm", "volume_ml", "energy_j"), 10.0)
        record.update({q: m.value * factor for q, m in experiment.measured.items()})
        record.update({"spacing_mm": 2.0, "rolloffs": 0, "simulated_s": 720.0, "wall_s": 1.0,
                       "isotherm_volume_ml": 1.0, "temperatures_c": [r.value_c for r in experiment.temperatures]})
        predictions[name] = record
    return predictions


def test_targets_are_met_by_the_measurements_themselves() -> None:
    convergence = [{"name": "x", "spacing_mm": s, "volume_ml": 10.0, "long_axis_mm": 30.0, "short_axis_mm": 20.0}
                   for s in (1.5, 1.0)]
    checks = report.criteria(ZONE, _exact_predictions(), convergence)
    assert checks
    assert all(check["met"] for check in checks), [c for c in checks if not c["met"]]
    kinds = " ".join(check["check"] for check in checks)
    assert "in vivo / ex vivo" in kinds
    assert "more / less perfused" in kinds
    assert "energy" in kinds


def test_in_vivo_over_prediction_misses_the_targets() -> None:
    checks = report.criteria(ZONE, _exact_predictions(scale_in_vivo=2.0), [])
    missed = [check["check"] for check in checks if not check["met"]]
    assert any("lee2009-cooled-2cm-in-vivo: short axis" in c for c in missed)
    assert any("in vivo / ex vivo" in c for c in missed)


def test_tables_quote_measured_spread_and_error() -> None:
    predictions = _exact_predictions(scale_in_vivo=1.5)
    rows = [report.experiment_record(ZONE[n], predictions[n]) for n in ZONE]
    table = report.markdown_table(ZONE, rows)
    assert "20.0 / 30.0 (+50 %) **>15 %**" in table  # Lee 2009 in vivo short axis
    assert "30.1 ± 3.0 / 30.1 (+0 %)" in table
    assert "97 ± 8" in report.temperature_table(ZONE, predictions)


def test_command_writes_a_page_with_the_physics_hash(tmp_path) -> None:
    page = tmp_path / "validation.md"
    assert run_validation.main(["--quick", "--skip", *run_validation.PARTS, "--page", str(page),
                                "--results", str(tmp_path / "results")]) == 0
    text = page.read_text()
    assert freshness.page_hash(page) == freshness.physics_hash()
    assert "$" not in text.replace("$$", "")  # every placeholder filled
    assert "leave-one-experiment-out" in text
    assert "lu2002-heat-sink-in-vivo" in text
