"""Calibration machinery: bounded fit, leave-one-experiment-out, parameters reaching the simulation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from calibration import (
    DEFAULT_RELATIVE_SPREAD,
    SimulationPredictor,
    fit_least_squares,
    leave_one_out,
    load_parameter_space,
    residuals,
)
from corpus import load_corpus

CORPUS = load_corpus()
SPACE = load_parameter_space()
PERFUSION = "liver perfusion (in vivo)"
NAMES = ["lee2009-cooled-2cm-ex-vivo", "lee2009-cooled-2cm-in-vivo", "song2015-cooled-17g-in-vivo",
         "goldberg1998-cluster-in-vivo"]


@dataclass
class FakePrediction:
    values: dict[str, float]

    def value(self, quantity: str) -> float:
        return self.values[quantity]


class FakeModel:
    """In vivo sizes scale like (w_b / true)^-0.5 around the measurement; ex vivo ones are 10 % large."""

    def __init__(self, true_perfusion: float) -> None:
        self.true = true_perfusion
        self.calls = 0

    def __call__(self, experiment, values):
        self.calls += 1
        overrides = SPACE.subset([PERFUSION]).tissue_overrides(experiment, values)
        if "liver.perfusion_rate_per_s" in overrides:
            factor = (overrides["liver.perfusion_rate_per_s"] / self.true) ** -0.5
        else:
            factor = 1.1
        return FakePrediction({q: m.value * factor for q, m in experiment.measured.items()})


def test_residuals_are_log_errors_over_the_spread() -> None:
    experiment = CORPUS["lee2009-cooled-2cm-ex-vivo"]
    result = residuals([experiment], FakeModel(0.01), SPACE.subset([PERFUSION]).defaults())
    spreads = [m.relative_spread or DEFAULT_RELATIVE_SPREAD for m in experiment.measured.values()]
    assert result == pytest.approx([math.log(1.1) / s for s in spreads])


def test_fit_recovers_a_parameter_inside_its_bounds() -> None:
    space = SPACE.subset([PERFUSION])
    training = [CORPUS[n] for n in NAMES[1:]]
    fit = fit_least_squares(training, space, FakeModel(0.01), max_evaluations=40)
    assert fit.values[PERFUSION] == pytest.approx(0.01, rel=0.02)
    assert fit.success
    assert math.isfinite(fit.standard_errors[PERFUSION])
    # A truth outside the literature range: the fit stops at the bound, it does not leave it.
    beyond = fit_least_squares(training, space, FakeModel(0.05), max_evaluations=40)
    assert beyond.values[PERFUSION] == pytest.approx(space.parameters[0].upper, rel=1e-6)


def test_leave_one_out_predicts_each_experiment_without_it() -> None:
    space = SPACE.subset([PERFUSION])
    model = FakeModel(0.01)
    rows = leave_one_out([CORPUS[n] for n in NAMES], space, model, max_evaluations=30)
    assert [row.held_out for row in rows] == NAMES
    for row in rows:
        assert row.held_out not in row.fit.training
        assert len(row.fit.training) == len(NAMES) - 1
        expected = 10.0 if row.held_out.endswith("ex-vivo") else 0.0  # ex vivo: untouched by perfusion
        for error in row.errors_pct.values():
            assert error == pytest.approx(expected, abs=0.5)


def test_measured_perfusion_of_a_perfused_organ_is_kept() -> None:
    values = {p.name: p.default for p in SPACE.parameters}
    values[PERFUSION] = 0.015
    huang = SPACE.tissue_overrides(CORPUS["huang2012-cooled-3cm-flow10"], values)
    assert "liver.perfusion_rate_per_s" not in huang  # the paper's flow stands
    assert SPACE.tissue_overrides(CORPUS["lee2009-cooled-2cm-in-vivo"], values)["liver.perfusion_rate_per_s"] == 0.015
    assert "liver.perfusion_rate_per_s" not in SPACE.tissue_overrides(CORPUS["lee2009-cooled-2cm-ex-vivo"], values)


def test_parameters_reach_the_simulation() -> None:
    """More in vivo perfusion, smaller zone (a 4 mm grid: only the direction is checked)."""
    space = SPACE.subset([PERFUSION])
    predictor = SimulationPredictor(space, spacing_mm=4.0, extent_scale=0.6)
    experiment = CORPUS["lee2009-cooled-2cm-in-vivo"]
    low = predictor(experiment, {PERFUSION: 0.002})
    high = predictor(experiment, {PERFUSION: 0.02})
    assert high.volume_ml < low.volume_ml
    predictor(experiment, {PERFUSION: 0.002})
    assert predictor.runs == 2  # memoised
