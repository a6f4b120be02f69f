"""Calibration of a few global parameters, and leave-one-experiment-out (LOO) errors.

The interface of issue 12, item 4:

- :class:`ParameterSpace` (read from ``calibration.toml``): at most five global parameters, each
  bounded by its literature range, applied to every experiment whose setting it concerns
  (:meth:`ParameterSpace.tissue_overrides`).  The optimiser works on the unit cube (log scale
  where the file says so) and never leaves the bounds.
- a *predictor* ``predict(experiment, values) -> Prediction`` (:class:`SimulationPredictor` runs
  rfasim; tests use cheap stand-ins);
- a *fit function* ``fit(training, space, predict) -> FitResult``; :func:`fit_least_squares`
  minimises the spread-normalised log errors of :func:`residuals` with
  :func:`scipy.optimize.least_squares` (bounded trust region) and estimates the parameters'
  standard errors from its Jacobian;
- :func:`leave_one_out`: each experiment predicted with parameters fitted without it.

Nothing here is per-experiment tuning: one vector is fitted on a training split and used for all.

Examples
--------
>>> space = load_parameter_space()
>>> len(space.parameters) <= 5
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from corpus import HERE, QUANTITIES, SETTINGS, Experiment
from scipy.optimize import least_squares

from rfasim.case import read_toml

#: The calibration parameter file.
CALIBRATION_FILE = HERE / "calibration.toml"
#: Most global parameters issue 12 allows.
MAX_PARAMETERS = 5
#: Relative spread assumed where a paper reports none (Lee 2009 reports CVs of 10-15 %).
DEFAULT_RELATIVE_SPREAD = 0.15
#: Quantities the fit compares (energy too, where reported).
FIT_QUANTITIES = tuple(QUANTITIES)


class CalibrationError(ValueError):
    """A malformed calibration file (names the file and field)."""


@dataclass(frozen=True)
class Parameter:
    """One global parameter with its literature bounds.

    Attributes
    ----------
    name : str
    key : str
        Case-file ``[tissue]`` key (``"liver.perfusion_rate_per_s"`` for ``[tissue.liver]``).
    settings : tuple of str
        Experiment settings the value applies to.
    default, lower, upper : float
    scale : str
        ``"linear"`` or ``"log"`` (the optimiser searches the logarithm).
    unit, source : str
    """

    name: str
    key: str
    settings: tuple[str, ...]
    default: float
    lower: float
    upper: float
    scale: str = "linear"
    unit: str = ""
    source: str = ""

    def from_unit(self, u: float) -> float:
        """Value at position ``u`` in [0, 1] of the bounds."""
        u = min(max(float(u), 0.0), 1.0)
        if self.scale == "log":
            return math.exp(math.log(self.lower) + u * (math.log(self.upper) - math.log(self.lower)))
        return self.lower + u * (self.upper - self.lower)

    def to_unit(self, value: float) -> float:
        """Inverse of :meth:`from_unit`."""
        if self.scale == "log":
            return (math.log(value) - math.log(self.lower)) / (math.log(self.upper) - math.log(self.lower))
        return (value - self.lower) / (self.upper - self.lower)

    def derivative(self, u: float) -> float:
        """d value / d u (to turn unit-cube standard errors into physical ones)."""
        if self.scale == "log":
            return self.from_unit(u) * (math.log(self.upper) - math.log(self.lower))
        return self.upper - self.lower


@dataclass(frozen=True)
class ParameterSpace:
    """The calibrated parameters (at most :data:`MAX_PARAMETERS`)."""

    parameters: tuple[Parameter, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.parameters) <= MAX_PARAMETERS:
            raise CalibrationError(f"calibration needs 1 to {MAX_PARAMETERS} parameters, got {len(self.parameters)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def defaults(self) -> dict[str, float]:
        """The current defaults, by name."""
        return {p.name: p.default for p in self.parameters}

    def from_unit(self, vector: Sequence[float]) -> dict[str, float]:
        """Values of a unit-cube vector, by name."""
        return {p.name: p.from_unit(u) for p, u in zip(self.parameters, vector, strict=True)}

    def to_unit(self, values: Mapping[str, float]) -> np.ndarray:
        """Unit-cube vector of values given by name."""
        return np.array([p.to_unit(values[p.name]) for p in self.parameters])

    def subset(self, names: Sequence[str]) -> ParameterSpace:
        """The space of some of the parameters (by name)."""
        unknown = sorted(set(names) - set(self.names))
        if unknown:
            raise CalibrationError(f"unknown parameter {unknown[0]!r} (valid: {', '.join(self.names)})")
        return ParameterSpace(tuple(p for p in self.parameters if p.name in names))

    def tissue_overrides(self, experiment: Experiment, values: Mapping[str, float]) -> dict[str, float]:
        """The ``[tissue]`` keys the values set for one experiment.

        A parameter applies when the experiment's setting is one of its ``settings`` and the
        experiment does not state the value itself (a perfused organ's measured flow wins).

        Examples
        --------
        >>> from corpus import load_corpus
        >>> space = load_parameter_space().subset(["liver perfusion (in vivo)"])
        >>> corpus = load_corpus()
        >>> space.tissue_overrides(corpus["lee2009-cooled-2cm-in-vivo"], {"liver perfusion (in vivo)": 0.01})
        {'liver.perfusion_rate_per_s': 0.01}
        >>> space.tissue_overrides(corpus["lee2009-cooled-2cm-ex-vivo"], {"liver perfusion (in vivo)": 0.01})
        {}
        """
        overrides = {}
        for parameter in self.parameters:
            if experiment.setting not in parameter.settings or _states(experiment.tissue_table, parameter.key):
                continue
            overrides[parameter.key] = float(values[parameter.name])
        return overrides


def _states(table: Mapping[str, Any], key: str) -> bool:
    if "." in key:
        section, name = key.split(".", 1)
        return isinstance(table.get(section), dict) and name in table[section]
    return key in table


def load_parameter_space(path: str | Path = CALIBRATION_FILE) -> ParameterSpace:
    """Read ``calibration.toml``.

    Raises
    ------
    CalibrationError
        Unknown or missing keys, bounds that do not hold the default, more than five parameters.
    """
    path = Path(path)
    data = read_toml(path, "calibration file")
    allowed = {"name", "key", "settings", "default", "lower", "upper", "scale", "unit", "source"}
    parameters = []
    for number, entry in enumerate(data.get("parameters", []), start=1):
        where = f"{path}: [[parameters]] #{number}"
        unknown = sorted(set(entry) - allowed)
        if unknown:
            raise CalibrationError(f"{where} {unknown[0]}: unknown key (valid: {', '.join(sorted(allowed))})")
        missing = sorted({"name", "key", "settings", "default", "lower", "upper", "source"} - set(entry))
        if missing:
            raise CalibrationError(f"{where} {missing[0]}: missing")
        lower, default, upper = (float(entry[k]) for k in ("lower", "default", "upper"))
        if not lower <= default <= upper or lower == upper:
            raise CalibrationError(f"{where}: needs lower <= default <= upper, got {lower}, {default}, {upper}")
        scale = entry.get("scale", "linear")
        if scale not in ("linear", "log") or (scale == "log" and lower <= 0):
            raise CalibrationError(f"{where} scale: 'linear', or 'log' with positive bounds, got {scale!r}")
        settings = tuple(entry["settings"])
        if not settings or any(s not in SETTINGS for s in settings):
            raise CalibrationError(f"{where} settings: expected some of {', '.join(SETTINGS)}, got {settings!r}")
        parameters.append(Parameter(
            name=str(entry["name"]), key=str(entry["key"]), settings=settings, default=default, lower=lower,
            upper=upper, scale=scale, unit=str(entry.get("unit", "")), source=str(entry["source"]),
        ))
    try:
        return ParameterSpace(tuple(parameters))
    except CalibrationError as error:
        raise CalibrationError(f"{path}: {error}") from None


class PredictionLike(Protocol):
    def value(self, quantity: str) -> float: ...


Predictor = Callable[[Experiment, Mapping[str, float]], PredictionLike]


def residuals(experiments: Sequence[Experiment], predict: Predictor, values: Mapping[str, float],
              quantities: Sequence[str] = FIT_QUANTITIES) -> np.ndarray:
    """Spread-normalised log errors ``ln(predicted / measured) / (spread / measured)``.

    One entry per experiment and measured quantity (a paper without a spread gets
    :data:`DEFAULT_RELATIVE_SPREAD`).  An empty predicted zone counts as 1/1000 of the measurement.
    """
    out = []
    for experiment in experiments:
        prediction = predict(experiment, values)
        for quantity in quantities:
            measurement = experiment.measured.get(quantity)
            if measurement is None:
                continue
            relative = measurement.relative_spread or DEFAULT_RELATIVE_SPREAD
            predicted = max(prediction.value(quantity), 1e-3 * measurement.value)
            out.append(math.log(predicted / measurement.value) / relative)
    return np.asarray(out, float)


@dataclass
class FitResult:
    """A fitted parameter vector.

    Attributes
    ----------
    values : dict
        Fitted values, by name.
    standard_errors : dict
        One-sigma uncertainty from the Jacobian at the optimum (NaN where undetermined).
    cost : float
        Half the sum of squared residuals at the optimum.
    evaluations : int
        Residual evaluations (each runs every training experiment once).
    success : bool
    message : str
    training : list of str
        Names of the experiments fitted.
    """

    values: dict[str, float]
    standard_errors: dict[str, float]
    cost: float
    evaluations: int
    success: bool
    message: str
    training: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.__dict__.items()}


FitFunction = Callable[..., FitResult]


def fit_least_squares(training: Sequence[Experiment], space: ParameterSpace, predict: Predictor,
                      start: Mapping[str, float] | None = None, max_evaluations: int = 60,
                      difference_step: float = 0.05) -> FitResult:
    """Fit the space's parameters on ``training`` with :func:`scipy.optimize.least_squares`.

    Parameters
    ----------
    training : sequence of Experiment
        Zone experiments with measurements.
    space : ParameterSpace
    predict : callable
        ``predict(experiment, values) -> prediction``.
    start : mapping, optional
        Starting values (default: the current defaults).
    max_evaluations : int
        Budget of residual evaluations (finite differences included).
    difference_step : float
        Finite-difference step on the unit cube (a coarse grid makes predictions step-like:
        too small a step sees only noise).

    Returns
    -------
    FitResult
    """
    evaluations = 0

    def objective(vector: np.ndarray) -> np.ndarray:
        nonlocal evaluations
        evaluations += 1
        return residuals(training, predict, space.from_unit(vector))

    x0 = np.clip(space.to_unit(start or space.defaults()), 0.0, 1.0)
    solution = least_squares(objective, x0, bounds=(0.0, 1.0), method="trf", diff_step=difference_step,
                             max_nfev=max_evaluations, x_scale=1.0)
    values = space.from_unit(solution.x)
    errors = dict.fromkeys(space.names, math.nan)
    jacobian = np.atleast_2d(solution.jac)
    dof = jacobian.shape[0] - jacobian.shape[1]
    if dof > 0 and np.all(np.isfinite(jacobian)):
        covariance = np.linalg.pinv(jacobian.T @ jacobian) * (2.0 * solution.cost / dof)
        for n, parameter in enumerate(space.parameters):
            if covariance[n, n] > 0:
                errors[parameter.name] = math.sqrt(covariance[n, n]) * parameter.derivative(solution.x[n])
    return FitResult(values=values, standard_errors=errors, cost=float(solution.cost), evaluations=evaluations,
                     success=bool(solution.success), message=str(solution.message),
                     training=[e.name for e in training])


@dataclass
class LeaveOneOutRow:
    """One held-out experiment: the parameters fitted without it and its errors."""

    held_out: str
    fit: FitResult
    prediction: Any
    errors_pct: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        prediction = self.prediction.to_dict() if hasattr(self.prediction, "to_dict") else None
        return {"held_out": self.held_out, "fit": self.fit.to_dict(), "errors_pct": self.errors_pct,
                "prediction": prediction}


def calibration_set(experiments: Sequence[Experiment]) -> list[Experiment]:
    """The experiments a calibration may use: zone experiments with a measurement."""
    return [e for e in experiments if e.kind == "zone" and e.measured]


def leave_one_out(experiments: Sequence[Experiment], space: ParameterSpace, predict: Predictor,
                  fit: FitFunction = fit_least_squares, **fit_options: Any) -> list[LeaveOneOutRow]:
    """Predict each experiment with parameters fitted on all the others.

    Parameters
    ----------
    experiments : sequence of Experiment
        The corpus (non-zone entries are ignored).
    space : ParameterSpace
    predict : callable
    fit : callable
        ``fit(training, space, predict, **fit_options) -> FitResult``.

    Returns
    -------
    list of LeaveOneOutRow
        One row per experiment, in the given order.
    """
    usable = calibration_set(experiments)
    if len(usable) < 2:
        raise ValueError("leave-one-out needs at least two zone experiments with measurements")
    rows = []
    for held_out in usable:
        training = [e for e in usable if e.name != held_out.name]
        result = fit(training, space, predict, **fit_options)
        prediction = predict(held_out, result.values)
        errors = {q: 100.0 * (prediction.value(q) - m.value) / m.value for q, m in held_out.measured.items()}
        rows.append(LeaveOneOutRow(held_out.name, result, prediction, errors))
    return rows


class SimulationPredictor:
    """``predict(experiment, values) -> Prediction`` by running rfasim.

    Memoised on the ``[tissue]`` overrides the values produce for the experiment (a parameter
    that does not reach an experiment costs no run), and optionally stored in a run cache.

    Parameters
    ----------
    space : ParameterSpace
    spacing_mm : float
        Grid spacing of every run (mm).
    extent_scale : float
        Factor on each experiment's block edge (a small block for quick checks).
    cache : object, optional
        ``cache.key(*parts)``, ``cache.get(name, key)`` and ``cache.put(name, key, data)``
        (``run_validation.RunCache``): runs survive between invocations.
    verbose : bool
        Print a line per simulation.
    """

    def __init__(self, space: ParameterSpace, spacing_mm: float, extent_scale: float = 1.0,
                 cache: Any = None, verbose: bool = False) -> None:
        self.space = space
        self.spacing_mm = float(spacing_mm)
        self.extent_scale = float(extent_scale)
        self.cache = cache
        self.verbose = verbose
        self.runs = 0
        self.run_wall_s = 0.0
        self._memo: dict[tuple[str, tuple[tuple[str, float], ...]], Any] = {}

    def __call__(self, experiment: Experiment, values: Mapping[str, float]) -> Any:
        from harness import Prediction, run_experiment

        overrides = self.space.tissue_overrides(experiment, values)
        key = (experiment.name, tuple(sorted((k, round(float(v), 12)) for k, v in overrides.items())))
        if key in self._memo:
            return self._memo[key]
        extent = experiment.extent_mm * self.extent_scale
        stored, cache_key = None, None
        if self.cache is not None:
            cache_key = self.cache.key("calibration", experiment.sha256, self.spacing_mm, extent, list(key[1]))
            stored = self.cache.get(f"calibration-{experiment.name}@{self.spacing_mm:g}mm-{cache_key[:12]}", cache_key)
        if stored is not None:
            prediction = Prediction.from_dict(stored)
        else:
            prediction = run_experiment(experiment, self.spacing_mm, extent_mm=extent,
                                        tissue_overrides=overrides).prediction
            self.runs += 1
            self.run_wall_s += prediction.wall_s
            if self.verbose:
                print(f"  run {self.runs}: {experiment.name} {dict(key[1])}: {prediction.volume_ml:.2f} mL "
                      f"({prediction.wall_s:.0f} s)", flush=True)
            if self.cache is not None:
                self.cache.put(f"calibration-{experiment.name}@{self.spacing_mm:g}mm-{cache_key[:12]}", cache_key,
                               prediction.to_dict())
        self._memo[key] = prediction
        return prediction
