"""Linearised leave-one-out calibration: exact on a log-linear stand-in, verified by real runs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from calibration import SimulationPredictor, load_parameter_space
from corpus import load_corpus
from linear_calibration import FitSettings, calibrate, fit_linearised, linearise, load_fit_settings

CORPUS = load_corpus()
SPACE = load_parameter_space()
PERFUSION = "liver perfusion (in vivo)"
SIGMA = "liver electrical conductivity at 37 degC"
NAMES = ["lee2009-cooled-2cm-ex-vivo", "lee2009-cooled-2cm-in-vivo", "song2015-cooled-17g-in-vivo",
         "song2015-cooled-17g-ex-vivo", "goldberg1998-cluster-in-vivo", "huang2012-cooled-3cm-flow10"]
EXPERIMENTS = [CORPUS[n] for n in NAMES]
SETTINGS = FitSettings(loss="linear", difference_step=0.1, min_relative_spread=0.10)


@dataclass
class FakePrediction:
    values: dict[str, float]

    def value(self, quantity: str) -> float:
        return self.values[quantity]

    def to_dict(self) -> dict[str, float]:
        return dict(self.values)


class LogLinearModel:
    """ln(predicted / measured) = sum_k slope_k (u_k - truth_k) over the parameters reaching the tissue."""

    def __init__(self, space, truth: dict[str, float], curvature: float = 0.0) -> None:
        self.space, self.truth, self.curvature = space, space.to_unit(truth), curvature
        self.calls = 0

    def __call__(self, experiment, values):
        self.calls += 1
        u = self.space.to_unit(values)
        applied = self.space.tissue_overrides(experiment, values)
        exponent = 0.0
        for k, parameter in enumerate(self.space.parameters):
            if parameter.key in applied:
                slope = -1.5 if parameter.name == PERFUSION else 0.8
                exponent += slope * (u[k] - self.truth[k]) + self.curvature * (u[k] - self.truth[k]) ** 2
        return FakePrediction({q: m.value * math.exp(exponent) for q, m in experiment.measured.items()})


def test_fit_settings_read_the_test_split() -> None:
    settings = load_fit_settings()
    assert settings.test_experiments and all(name in CORPUS for name in settings.test_experiments)
    assert settings.loss == "soft_l1"


def test_linearisation_skips_parameters_that_do_not_apply() -> None:
    space = SPACE.subset([PERFUSION, SIGMA])
    model = LogLinearModel(space, {PERFUSION: 0.01, SIGMA: 0.3})
    lin = linearise(EXPERIMENTS, space, model, space.to_unit(space.defaults()), SETTINGS)
    in_vivo = [e for e in EXPERIMENTS if e.setting == "in vivo"]
    # base + conductivity for everyone, + perfusion for the in vivo ones (Huang states its flow)
    assert lin.runs == model.calls == 2 * len(EXPERIMENTS) + len(in_vivo)
    perfusion_column = lin.jacobian[:, 0]
    for (name, _), slope in zip(lin.rows, perfusion_column, strict=True):
        assert slope == pytest.approx(-1.5 if CORPUS[name].setting == "in vivo" else 0.0)


def test_global_fit_recovers_the_truth_and_loo_is_exact_on_a_linear_model() -> None:
    space = SPACE.subset([PERFUSION, SIGMA])
    truth = {PERFUSION: 0.009, SIGMA: 0.28}
    model = LogLinearModel(space, truth)
    result = calibrate(EXPERIMENTS, space, model, FitSettings(test_experiments=(NAMES[-1],), loss="linear"))
    assert result.global_fit.values[PERFUSION] == pytest.approx(truth[PERFUSION], rel=1e-4)
    assert result.global_fit.values[SIGMA] == pytest.approx(truth[SIGMA], rel=1e-4)
    assert NAMES[-1] not in result.global_fit.training
    roles = {row.experiment: row.role for row in result.rows}
    assert roles[NAMES[-1]] == "test" and all(roles[n] == "loo" for n in NAMES[:-1])
    for row in result.rows:
        assert row.experiment not in row.fit.training
        for quantity, error in row.linearised_errors_pct.items():
            assert error == pytest.approx(0.0, abs=1e-6)
            assert row.verified_errors_pct[quantity] == pytest.approx(0.0, abs=1e-6)
    record = result.to_dict()
    assert record["iterations"]["strictly_out_of_sample"] is True
    assert all(math.isfinite(p["standard_error"]) for p in record["parameters"])


def test_verification_runs_the_fold_and_shows_where_the_linear_model_fails() -> None:
    space = SPACE.subset([PERFUSION])
    model = LogLinearModel(space, {PERFUSION: 0.015}, curvature=3.0)
    in_vivo = [e for e in EXPERIMENTS if e.setting == "in vivo"]
    result = calibrate(in_vivo, space, model, FitSettings(loss="linear"))
    assert result.runs == 2 * len(in_vivo) + len(in_vivo)  # base + one step each, one verification per fold
    gaps = [abs(r.verified_errors_pct["volume_ml"] - r.linearised_errors_pct["volume_ml"])
            for r in result.rows if "volume_ml" in r.linearised_errors_pct]
    assert max(gaps) > 1.0  # the quadratic term the Jacobian cannot see shows up in the verified errors


def test_bounds_hold_and_an_undetermined_parameter_stays_put() -> None:
    space = SPACE.subset([PERFUSION, SIGMA])
    model = LogLinearModel(space, {PERFUSION: 0.0025, SIGMA: 0.3})
    ex_vivo = [e for e in EXPERIMENTS if e.setting == "ex vivo"]
    lin = linearise(ex_vivo, space, model, space.to_unit(space.defaults()), SETTINGS)
    fit = fit_linearised(lin, space, [e.name for e in ex_vivo], SETTINGS)
    assert fit.values[PERFUSION] == pytest.approx(space.defaults()[PERFUSION])  # no in vivo data
    assert math.isnan(fit.standard_errors[PERFUSION])
    beyond = LogLinearModel(space, {PERFUSION: 0.0025, SIGMA: 0.3})
    beyond.truth = np.array([-2.0, 0.5])  # a truth far below the lower bound
    lin = linearise(EXPERIMENTS, space, beyond, space.to_unit(space.defaults()), SETTINGS)
    fit = fit_linearised(lin, space, NAMES, SETTINGS)
    assert fit.u[0] == pytest.approx(0.0, abs=1e-9)  # stops at the literature bound


def test_a_tiny_real_calibration_runs_end_to_end() -> None:
    """Two experiments, one parameter, a 4 mm grid on a small block: the machinery, not accuracy."""
    space = SPACE.subset([PERFUSION])
    predictor = SimulationPredictor(space, spacing_mm=4.0, extent_scale=0.6)
    chosen = [CORPUS["lee2009-cooled-2cm-in-vivo"], CORPUS["song2015-cooled-17g-in-vivo"]]
    result = calibrate(chosen, space, predictor, FitSettings(loss="linear"))
    assert predictor.runs <= 2 * 2 + 2  # base and step per experiment, one verification each (memoised)
    for row in result.rows:
        assert row.verified_errors_pct is not None and set(row.verified_errors_pct) == set(row.linearised_errors_pct)
        assert all(math.isfinite(v) for v in row.verified_errors_pct.values())
