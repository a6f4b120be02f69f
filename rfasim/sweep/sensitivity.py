"""Screening sensitivity: one-at-a-time swings and Morris elementary effects.

Run a sweep with ``design = "oat"`` or ``design = "morris"`` (see ``docs/sweep-file.md``), then
:func:`screen` ranks the varied parameters by how much they move each metric (zone volume,
margin...).  The Morris method is implemented here (about forty lines, in
:func:`rfasim.sweep.spec.morris_unit_trajectories`): SALib would add a dependency for the one
design and estimator this needs, and the design has to be rebuilt from the sweep file anyway to
map runs (by their id) back onto trajectories.

Morris (1991), "Factorial sampling plans for preliminary computational experiments",
Technometrics 33(2); mu* after Campolongo, Cariboni & Saltelli (2007).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rfasim.atomic import write_with
from rfasim.errors import InputError
from rfasim.sweep.spec import (
    SweepSpec,
    _plain,
    baseline_of,
    morris_unit_trajectories,
    oat_points,
    run_id_of,
)

SCREEN_COLUMNS = ("method", "metric", "parameter", "importance", "rank", "mu", "mu_star", "sigma", "effects",
                  "low", "high", "swing", "relative_swing")


def _metric_by_run(table: pd.DataFrame, metric: str) -> dict[str, float]:
    if metric not in table.columns:
        raise InputError(f"no metric {metric!r} in the sweep table")
    rows = table[table["status"] == "ok"]
    values = pd.to_numeric(rows[metric], errors="coerce")
    return {run_id: float(v) for run_id, v in zip(rows["run_id"], values, strict=False) if np.isfinite(v)}


def oat_effects(spec: SweepSpec, table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One-at-a-time swings: how far each parameter alone moves each metric from the baseline.

    Parameters
    ----------
    spec : SweepSpec
        A sweep with ``design = "oat"``.
    table : pandas.DataFrame
        Its results.
    metrics : list of str
        Flattened metric names (``zone.volume_ml``...).

    Returns
    -------
    pandas.DataFrame
        Per metric and parameter: ``low`` and ``high`` (metric extremes over the parameter's
        values, baseline included), ``swing = high - low`` (``importance``), ``relative_swing``
        (swing over the baseline metric's magnitude) and ``rank`` (1 = most influential).
    """
    points = oat_points(spec)
    baseline_id = run_id_of(_plain(points[0][1]))
    records = []
    for metric in metrics:
        values = _metric_by_run(table, metric)
        baseline = values.get(baseline_id)
        for parameter in spec.parameters:
            found = [values[i] for i in (run_id_of(_plain(p)) for varied, p in points if varied == parameter.path)
                     if i in values]
            if baseline is not None:
                found.append(baseline)
            low, high = (min(found), max(found)) if found else (np.nan, np.nan)
            swing = high - low
            relative = swing / abs(baseline) if baseline not in (None, 0.0) else np.nan
            records.append({"method": "oat", "metric": metric, "parameter": parameter.path, "importance": swing,
                            "low": low, "high": high, "swing": swing, "relative_swing": relative,
                            "effects": len(found) - (baseline is not None)})
    return _ranked(records)


def morris_effects(spec: SweepSpec, table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Morris elementary effects per parameter and metric.

    An elementary effect is the change of the metric over one trajectory step divided by the
    step in the parameter's unit-scaled range (so it is in metric units per full range).

    Parameters
    ----------
    spec : SweepSpec
        A sweep with ``design = "morris"``.
    table : pandas.DataFrame
        Its results (steps with a failed or missing run are left out).
    metrics : list of str
        Flattened metric names.

    Returns
    -------
    pandas.DataFrame
        Per metric and parameter: ``mu`` (mean effect), ``mu_star`` (mean absolute effect, the
        ``importance``), ``sigma`` (standard deviation: non-linearity or interactions),
        ``effects`` (count) and ``rank`` (1 = most influential).
    """
    units = morris_unit_trajectories(len(spec.parameters), spec.trajectories, spec.levels, spec.seed)

    def run_of(row: np.ndarray) -> str:
        return run_id_of(_plain({p.path: p.from_unit(float(u)) for p, u in zip(spec.parameters, row, strict=False)}))

    records = []
    for metric in metrics:
        values = _metric_by_run(table, metric)
        effects: list[list[float]] = [[] for _ in spec.parameters]
        for trajectory in units:
            for before, after in itertools.pairwise(trajectory):
                factor = int(np.argmax(np.abs(after - before)))
                first, second = values.get(run_of(before)), values.get(run_of(after))
                if first is None or second is None:
                    continue
                effects[factor].append((second - first) / (after[factor] - before[factor]))
        for parameter, found in zip(spec.parameters, effects, strict=False):
            array = np.asarray(found)
            records.append({
                "method": "morris", "metric": metric, "parameter": parameter.path,
                "mu": float(array.mean()) if array.size else np.nan,
                "mu_star": float(np.abs(array).mean()) if array.size else np.nan,
                "sigma": float(array.std(ddof=1)) if array.size > 1 else np.nan,
                "effects": int(array.size),
                "importance": float(np.abs(array).mean()) if array.size else np.nan,
            })
    return _ranked(records)


def _ranked(records: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(records)
    frame["rank"] = frame.groupby("metric")["importance"].rank(ascending=False, method="min")
    for column in SCREEN_COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan
    return frame[list(SCREEN_COLUMNS)].sort_values(["metric", "rank"]).reset_index(drop=True)


def screen(spec: SweepSpec, table: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Rank the varied parameters by their effect on each metric (``oat`` or ``morris`` sweeps).

    Parameters
    ----------
    spec : SweepSpec
    table : pandas.DataFrame
    metrics : list of str, optional
        Default: zone volume (mL) and minimum margin (mm).

    Returns
    -------
    pandas.DataFrame
        See :func:`oat_effects` and :func:`morris_effects`; ``importance`` and ``rank`` in both.
    """
    metrics = list(metrics or ["zone.volume_ml", "margin.min_mm"])
    if spec.design == "morris":
        return morris_effects(spec, table, metrics)
    if spec.design == "oat":
        return oat_effects(spec, table, metrics)
    raise InputError(f"{spec.path}: sensitivity screening needs design = \"oat\" or \"morris\", not {spec.design!r}")


def plot_sensitivity(effects: pd.DataFrame, path: str | Path | None = None) -> Figure:
    """Bar chart of the screening ranking, one panel per metric (Morris: mu* with sigma bars).

    Parameters
    ----------
    effects : pandas.DataFrame
        From :func:`screen`.
    path : str or Path, optional
        Write the figure there (PNG, atomically).

    Returns
    -------
    matplotlib.figure.Figure
    """
    metrics = list(dict.fromkeys(effects["metric"]))
    figure = Figure(figsize=(7, 2.2 + 0.35 * len(effects) ), layout="constrained")
    for number, metric in enumerate(metrics, start=1):
        axes = figure.add_subplot(len(metrics), 1, number)
        rows = effects[effects["metric"] == metric].sort_values("importance", ascending=True)
        method = rows["method"].iloc[0]
        errors = rows["sigma"].to_numpy(dtype=float) if method == "morris" else None
        if errors is not None:
            errors = np.nan_to_num(errors)
        axes.barh(rows["parameter"], rows["importance"].to_numpy(dtype=float), xerr=errors, color="tab:blue",
                  alpha=0.8)
        axes.set_xlabel(f"{metric}: " + ("Morris mu* (bars: sigma), per full range" if method == "morris"
                                         else "one-at-a-time swing (max - min)"))
        axes.grid(axis="x", alpha=0.3)
    figure.suptitle("sensitivity screening")
    if path is not None:
        write_with(path, lambda temporary: figure.savefig(temporary, dpi=120, format="png"))
    return figure


__all__ = ["baseline_of", "morris_effects", "oat_effects", "plot_sensitivity", "screen"]
