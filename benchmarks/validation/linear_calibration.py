"""A calibration two shared cores can afford: one Jacobian, linearised leave-one-out, verified.

Issue 12, item 4 asks for at most five global parameters, bounded by their literature ranges
(``calibration.toml``), fitted once for all devices on a training split, and
leave-one-experiment-out (LOO) errors.  Refitting by simulation in every fold costs folds x
evaluations x experiments runs (days at 1.5 mm).  This module does it with
``(1 + parameters that apply) x experiments`` runs for the Jacobian plus one run per held-out
experiment:

1. :func:`linearise`: every calibration experiment is simulated at the linearisation point
   ``u0`` (the documented defaults, on the unit cube of the bounds) and once more per
   parameter that changes its tissue, ``u0 + h e_k``: forward differences of the *logarithm*
   of each measured quantity (a parameter that does not apply to an experiment, such as the
   in vivo perfusion for an ex vivo block, gets an exact zero without a run).
2. :func:`fit_linearised`: a bounded :func:`scipy.optimize.least_squares` (trust region
   reflective, robust ``soft_l1`` loss by default) of the spread-normalised log residuals of
   the linear model; standard errors from its Jacobian, scaled by the reduced chi-square
   when that exceeds 1 (the model's misfit widens them).
3. :func:`calibrate`: the global fit on the training split; for every training experiment a
   fit on the others (its LOO fold) and for every test experiment the global fit; each of these
   held-out predictions is then **verified** by one real simulation at the fold's parameters.
   Linearised and verified errors are both reported: where they differ, the linear model was
   not good enough at that distance from ``u0``.

With ``iterations > 1`` the model is re-linearised at the previous global fit; that point was
fitted with every training experiment, so the folds are then only approximately out of
sample (each fold's fit still excludes its experiment).  The record says which was run.

Examples
--------
>>> settings = load_fit_settings()
>>> settings.loss in ("linear", "soft_l1", "huber", "cauchy", "arctan")
True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from calibration import (
    CALIBRATION_FILE,
    DEFAULT_RELATIVE_SPREAD,
    FIT_QUANTITIES,
    CalibrationError,
    ParameterSpace,
    calibration_set,
)
from corpus import Experiment
from scipy.optimize import least_squares

from rfasim.case import read_toml

Predictor = Callable[[Experiment, Mapping[str, float]], Any]
LOSSES = ("linear", "soft_l1", "huber", "cauchy", "arctan")


@dataclass(frozen=True)
class FitSettings:
    """The ``[fit]`` table of ``calibration.toml``.

    Attributes
    ----------
    test_experiments : tuple of str
        The test split: never fitted, predicted with the global fit.
    loss : str
        :func:`scipy.optimize.least_squares` loss.
    f_scale : float
        Residual (in spreads) where a robust loss starts to flatten.
    difference_step : float
        Finite-difference step on the unit cube.
    min_relative_spread : float
        Floor of each measurement's relative spread (one experiment reporting a small SE must
        not outweigh the reproducibility of RF ablation).
    """

    test_experiments: tuple[str, ...] = ()
    loss: str = "soft_l1"
    f_scale: float = 2.0
    difference_step: float = 0.1
    min_relative_spread: float = 0.10


def load_fit_settings(path: str | Path = CALIBRATION_FILE) -> FitSettings:
    """Read the ``[fit]`` table (defaults where it is absent).

    Raises
    ------
    CalibrationError
        Unknown keys, a loss scipy does not know, non-positive steps or scales.
    """
    table = read_toml(Path(path), "calibration file").get("fit", {})
    allowed = {"test_experiments", "loss", "f_scale", "difference_step", "min_relative_spread"}
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise CalibrationError(f"{path}: [fit] {unknown[0]}: unknown key (valid: {', '.join(sorted(allowed))})")
    settings = FitSettings(
        test_experiments=tuple(table.get("test_experiments", ())), loss=str(table.get("loss", "soft_l1")),
        f_scale=float(table.get("f_scale", 2.0)), difference_step=float(table.get("difference_step", 0.1)),
        min_relative_spread=float(table.get("min_relative_spread", 0.10)),
    )
    if settings.loss not in LOSSES:
        raise CalibrationError(f"{path}: [fit] loss: expected one of {', '.join(LOSSES)}, got {settings.loss!r}")
    if not 0 < settings.difference_step <= 0.5 or settings.f_scale <= 0 or settings.min_relative_spread < 0:
        raise CalibrationError(f"{path}: [fit]: needs 0 < difference_step <= 0.5, f_scale > 0, "
                               "min_relative_spread >= 0")
    return settings


@dataclass
class Linearisation:
    """Log predictions of every (experiment, quantity) and their derivatives on the unit cube.

    Attributes
    ----------
    rows : list of (str, str)
        (experiment name, quantity) of each entry.
    log_measured, sigma, log_base : ndarray
        ln(measured), relative spread (floored), ln(predicted at ``u0``).
    jacobian : ndarray, shape (rows, parameters)
        d ln(predicted) / d u.
    u0, steps : ndarray
        Linearisation point and the signed step used for each parameter.
    base_predictions : dict
        Prediction records at ``u0``, by experiment.
    runs : int
        Simulations this linearisation needed.
    """

    rows: list[tuple[str, str]]
    log_measured: np.ndarray
    sigma: np.ndarray
    log_base: np.ndarray
    jacobian: np.ndarray
    u0: np.ndarray
    steps: np.ndarray
    base_predictions: dict[str, Any] = field(default_factory=dict)
    runs: int = 0

    def mask(self, names: Sequence[str]) -> np.ndarray:
        """Boolean row mask of the given experiments."""
        chosen = set(names)
        return np.array([name in chosen for name, _ in self.rows], bool)

    def predicted(self, u: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, float]]:
        """Linear-model predictions at ``u`` of the given experiments, by quantity."""
        log = self.log_base + self.jacobian @ (np.asarray(u, float) - self.u0)
        out: dict[str, dict[str, float]] = {n: {} for n in names}
        for (name, quantity), value in zip(self.rows, log, strict=True):
            if name in out:
                out[name][quantity] = float(math.exp(value))
        return out


def _value(prediction: Any, quantity: str, measured: float) -> float:
    return max(float(prediction.value(quantity)), 1e-3 * measured)


def _step(u0: float, h: float) -> float:
    return h if u0 + h <= 1.0 else -h


def linearise(experiments: Sequence[Experiment], space: ParameterSpace, predict: Predictor, u0: np.ndarray,
              settings: FitSettings = FitSettings(), quantities: Sequence[str] = FIT_QUANTITIES) -> Linearisation:
    """Forward-difference Jacobian of the log predictions at ``u0`` (see the module text).

    Parameters
    ----------
    experiments : sequence of Experiment
        Calibration experiments (zone experiments with measurements).
    space : ParameterSpace
    predict : callable
        ``predict(experiment, values) -> prediction`` with ``.value(quantity)``.
    u0 : ndarray
        Linearisation point on the unit cube.
    settings : FitSettings
    quantities : sequence of str

    Returns
    -------
    Linearisation
    """
    u0 = np.clip(np.asarray(u0, float), 0.0, 1.0)
    steps = np.array([_step(u, settings.difference_step) for u in u0])
    rows, log_measured, sigma, log_base, jac_rows, base, runs = [], [], [], [], [], {}, 0
    base_values = space.from_unit(u0)
    for experiment in experiments:
        measured = [(q, experiment.measured[q]) for q in quantities if q in experiment.measured]
        prediction = predict(experiment, base_values)
        runs += 1
        base[experiment.name] = prediction
        base_log = np.array([math.log(_value(prediction, q, m.value)) for q, m in measured])
        columns = np.zeros((len(measured), len(space.parameters)))
        base_overrides = space.tissue_overrides(experiment, base_values)
        for k in range(len(space.parameters)):
            shifted = u0.copy()
            shifted[k] += steps[k]
            values = space.from_unit(shifted)
            if space.tissue_overrides(experiment, values) == base_overrides:
                continue  # the parameter does not reach this experiment: exact zero
            moved = predict(experiment, values)
            runs += 1
            columns[:, k] = (np.array([math.log(_value(moved, q, m.value)) for q, m in measured]) - base_log) / steps[k]
        for (quantity, measurement), value, column in zip(measured, base_log, columns, strict=True):
            rows.append((experiment.name, quantity))
            log_measured.append(math.log(measurement.value))
            relative = measurement.relative_spread or DEFAULT_RELATIVE_SPREAD
            sigma.append(max(relative, settings.min_relative_spread))
            log_base.append(value)
            jac_rows.append(column)
    return Linearisation(rows, np.array(log_measured), np.array(sigma), np.array(log_base),
                         np.array(jac_rows).reshape(len(rows), len(space.parameters)), u0, steps, base, runs)


@dataclass
class LinearFit:
    """A fit of the linearised model.

    Attributes
    ----------
    u : ndarray
        Fitted unit-cube vector.
    values, standard_errors : dict
        Physical values and one-sigma errors by name (NaN: not determined by these data).
    cost : float
        Half the sum of squared (robust-loss) residuals.
    chi2_per_dof : float or None
    success : bool
    message : str
    training : list of str
    """

    u: np.ndarray
    values: dict[str, float]
    standard_errors: dict[str, float]
    cost: float
    chi2_per_dof: float | None
    success: bool
    message: str
    training: list[str]

    def to_dict(self) -> dict[str, Any]:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.standard_errors.items()}
        return {"u": [float(x) for x in self.u], "values": self.values, "standard_errors": clean, "cost": self.cost,
                "chi2_per_dof": self.chi2_per_dof, "success": self.success, "message": self.message,
                "training": self.training}


def _standard_errors(space: ParameterSpace, jac: np.ndarray, residual: np.ndarray, u: np.ndarray
                     ) -> tuple[dict[str, float], float | None]:
    errors = dict.fromkeys(space.names, math.nan)
    dof = jac.shape[0] - jac.shape[1]
    chi2 = float(residual @ residual / dof) if dof > 0 else None
    determined = np.linalg.norm(jac, axis=0) > 1e-12
    if dof <= 0 or not determined.any():
        return errors, chi2
    sub = jac[:, determined]
    covariance = np.linalg.pinv(sub.T @ sub) * max(1.0, chi2 or 1.0)
    for position, k in enumerate(np.flatnonzero(determined)):
        parameter = space.parameters[k]
        if covariance[position, position] > 0:
            errors[parameter.name] = math.sqrt(covariance[position, position]) * parameter.derivative(u[k])
    return errors, chi2


def fit_linearised(model: Linearisation, space: ParameterSpace, training: Sequence[str],
                   settings: FitSettings = FitSettings()) -> LinearFit:
    """Bounded least squares of the linear model on the training experiments' rows.

    A parameter no training row depends on stays at ``u0`` and gets a NaN standard error.
    """
    mask = model.mask(training)
    jac = model.jacobian[mask] / model.sigma[mask, None]
    offset = (model.log_base[mask] - model.log_measured[mask]) / model.sigma[mask]

    def residual(u: np.ndarray) -> np.ndarray:
        return offset + jac @ (u - model.u0)

    solution = least_squares(residual, model.u0.copy(), jac=lambda u: jac, bounds=(0.0, 1.0), method="trf",
                             loss=settings.loss, f_scale=settings.f_scale, x_scale=1.0)
    errors, chi2 = _standard_errors(space, jac, residual(solution.x), solution.x)
    return LinearFit(solution.x, space.from_unit(solution.x), errors, float(solution.cost), chi2,
                     bool(solution.success), str(solution.message), list(training))


def _errors_pct(experiment: Experiment, predicted: Mapping[str, float]) -> dict[str, float]:
    return {q: 100.0 * (predicted[q] - m.value) / m.value for q, m in experiment.measured.items() if q in predicted}


def _verified(experiment: Experiment, prediction: Any) -> dict[str, float]:
    return {q: float(prediction.value(q)) for q in experiment.measured}


@dataclass
class HeldOutRow:
    """One out-of-sample prediction: a LOO fold (``role = "loo"``) or a test experiment."""

    experiment: str
    role: str
    fit: LinearFit
    linearised_errors_pct: dict[str, float]
    verified_errors_pct: dict[str, float] | None
    verified_prediction: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "role": self.role, "fit": self.fit.to_dict(),
                "linearised_errors_pct": self.linearised_errors_pct, "verified_errors_pct": self.verified_errors_pct,
                "verified_prediction": self.verified_prediction}


@dataclass
class CalibrationResult:
    """What :func:`calibrate` returns (``to_dict`` is the ``calibration.json`` record)."""

    space: ParameterSpace
    settings: FitSettings
    global_fit: LinearFit
    rows: list[HeldOutRow]
    model: Linearisation
    iterations: int
    runs: int
    wall_s: float
    cpu_s: float

    def to_dict(self) -> dict[str, Any]:
        parameters = [{"name": p.name, "key": p.key, "default": p.default, "lower": p.lower, "upper": p.upper,
                       "unit": p.unit, "fitted": self.global_fit.values[p.name],
                       "standard_error": self.global_fit.to_dict()["standard_errors"][p.name],
                       "at_bound": bool(min(self.global_fit.u[k], 1 - self.global_fit.u[k]) < 1e-6)}
                      for k, p in enumerate(self.space.parameters)]
        return {"method": "linearised-loo", "iterations": iterations_note(self.iterations),
                "settings": self.settings.__dict__, "parameters": parameters, "global_fit": self.global_fit.to_dict(),
                "linearisation_point": self.space.from_unit(self.model.u0), "steps": self.model.steps.tolist(),
                "rows": [row.to_dict() for row in self.rows], "runs": self.runs, "wall_s": self.wall_s,
                "cpu_s": self.cpu_s}


def iterations_note(iterations: int) -> dict[str, Any]:
    """How many linearisations were made, and whether the folds are strictly out of sample."""
    strict = iterations == 1
    return {"count": iterations, "strictly_out_of_sample": strict,
            "note": "linearised at the documented defaults" if strict else
            "re-linearised at the previous global fit (which used every training experiment)"}


def calibrate(experiments: Sequence[Experiment], space: ParameterSpace, predict: Predictor,
              settings: FitSettings = FitSettings(), iterations: int = 1, verify: bool = True) -> CalibrationResult:
    """Global fit on the training split, linearised LOO folds, verified held-out predictions.

    Parameters
    ----------
    experiments : sequence of Experiment
        The corpus (only zone experiments with measurements are used).
    space : ParameterSpace
    predict : callable
        ``predict(experiment, values) -> prediction`` (a simulation, or a stand-in in tests).
    settings : FitSettings
        Test split, loss, finite-difference step, spread floor.
    iterations : int
        Linearisations (1: at the defaults, strictly out of sample).
    verify : bool
        Run each held-out experiment once at its fold's parameters.

    Returns
    -------
    CalibrationResult
    """
    start, cpu = time.perf_counter(), time.process_time()
    usable = calibration_set(experiments)
    test = [e for e in usable if e.name in settings.test_experiments]
    training = [e for e in usable if e.name not in settings.test_experiments]
    if len(training) < 2:
        raise ValueError("the calibration needs at least two training experiments")
    u0, runs = np.clip(space.to_unit(space.defaults()), 0.0, 1.0), 0
    for _ in range(max(1, iterations)):
        model = linearise(usable, space, predict, u0, settings)
        runs += model.runs
        global_fit = fit_linearised(model, space, [e.name for e in training], settings)
        u0 = global_fit.u
    folds = [(e, "loo", fit_linearised(model, space, [t.name for t in training if t.name != e.name], settings))
             for e in training] + [(e, "test", global_fit) for e in test]
    rows = []
    for experiment, role, fit in folds:
        linear = model.predicted(fit.u, [experiment.name])[experiment.name]
        verified = predict(experiment, fit.values) if verify else None
        runs += int(verify)
        rows.append(HeldOutRow(
            experiment.name, role, fit, _errors_pct(experiment, linear),
            None if verified is None else _errors_pct(experiment, _verified(experiment, verified)),
            None if verified is None else (verified.to_dict() if hasattr(verified, "to_dict") else None)))
    return CalibrationResult(space, settings, global_fit, rows, model, iterations, runs,
                             time.perf_counter() - start, time.process_time() - cpu)
