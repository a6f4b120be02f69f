"""Summary plots of a sweep table (matplotlib, written atomically as PNG).

All functions take the table of :func:`rfasim.sweep.read_results` and use only the runs whose
status is ``ok``.  Parameters are named by their case path (``generator.power_w``) or by their
column (``input.generator.power_w``); metrics by their flattened name (``zone.volume_ml``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rfasim.atomic import write_with
from rfasim.sweep.results import INPUT_PREFIX

if TYPE_CHECKING:
    from rfasim.sweep.spec import SweepSpec

POWER = "generator.power_w"
DURATION = "generator.duration_s"
DEFAULT_METRICS = ("zone.volume_ml", "margin.min_mm", "tumor.coverage_pct")


def _column(table: pd.DataFrame, name: str) -> str:
    for candidate in (name, INPUT_PREFIX + name):
        if candidate in table.columns:
            return candidate
    raise KeyError(f"no column {name!r} in the sweep table (columns: {', '.join(map(str, table.columns))})")


def _ok(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"] == "ok"] if "status" in table.columns else table


def _save(figure: Figure, path: str | Path | None) -> None:
    if path is not None:
        write_with(path, lambda temporary: figure.savefig(temporary, dpi=120, format="png"))


def _label(name: str) -> str:
    return name.removeprefix(INPUT_PREFIX)


def plot_metric(table: pd.DataFrame, parameter: str, metric: str, path: str | Path | None = None) -> Figure:
    """Any metric against any varied parameter: a scatter with the mean per value.

    Parameters
    ----------
    table : pandas.DataFrame
        Sweep table.
    parameter : str
        Case path (``tissue.liver.perfusion_rate_per_s``) or column name.
    metric : str
        Flattened metric name (``zone.volume_ml``, in the metric's own unit).
    path : str or Path, optional
        Write the figure there (PNG, atomically).

    Returns
    -------
    matplotlib.figure.Figure
    """
    x_name, y_name = _column(table, parameter), _column(table, metric)
    data = _ok(table)[[x_name, y_name]].dropna()
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    x = data[x_name]
    if not pd.api.types.is_numeric_dtype(x):
        categories = sorted(x.astype(str).unique())
        positions = x.astype(str).map({c: n for n, c in enumerate(categories)})
        axes.set_xticks(range(len(categories)), categories, rotation=20)
        x = positions
    axes.scatter(x, data[y_name], s=18, alpha=0.7, label="runs")
    means = data.assign(_x=x).groupby("_x")[y_name].mean()
    if len(means) > 1:
        axes.plot(means.index, means.values, color="black", linewidth=1, label="mean")
        axes.legend(frameon=False)
    axes.set_xlabel(_label(x_name))
    axes.set_ylabel(y_name)
    axes.set_title(f"{y_name} vs {_label(x_name)} ({len(data)} runs)")
    axes.grid(alpha=0.3)
    _save(figure, path)
    return figure


def plot_power_duration_heatmap(table: pd.DataFrame, metric: str = "zone.volume_ml",
                                path: str | Path | None = None) -> Figure:
    """A metric over generator power (W) x duration (s): a heat map of the mean per cell.

    Parameters
    ----------
    table : pandas.DataFrame
        Sweep table where both ``generator.power_w`` and ``generator.duration_s`` vary.
    metric : str
        Flattened metric name (default: zone volume, mL).
    path : str or Path, optional
        Write the figure there (PNG, atomically).

    Returns
    -------
    matplotlib.figure.Figure
    """
    power, duration, value = _column(table, POWER), _column(table, DURATION), _column(table, metric)
    grid = _ok(table).pivot_table(index=duration, columns=power, values=value, aggfunc="mean")
    figure = Figure(figsize=(6, 4.5), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(grid.values, origin="lower", aspect="auto", cmap="viridis")
    axes.set_xticks(range(len(grid.columns)), [f"{v:g}" for v in grid.columns])
    axes.set_yticks(range(len(grid.index)), [f"{v:g}" for v in grid.index])
    for (row, col), number in np.ndenumerate(grid.values):
        if np.isfinite(number):
            axes.text(col, row, f"{number:.3g}", ha="center", va="center", color="white", fontsize=8)
    axes.set_xlabel("generator power (W)")
    axes.set_ylabel("duration (s)")
    axes.set_title(f"{metric} (mean over other parameters)")
    figure.colorbar(image, ax=axes, label=metric)
    _save(figure, path)
    return figure


def offset_values(table: pd.DataFrame, probe: int = 0) -> pd.Series:
    """Tip offset of a probe per run (mm): the number given, or the length of a vector offset.

    Parameters
    ----------
    table : pandas.DataFrame
        The results table.
    probe : int
        Index of the probe (from 0).

    Returns
    -------
    pandas.Series
        Offset (mm) per row of ``table``.
    """

    def scalar(value: object) -> float:
        if isinstance(value, str):
            value = json.loads(value)
        if isinstance(value, (int, float)):
            return float(value)
        return float(np.linalg.norm(np.asarray(value, dtype=float)))

    return table[_column(table, f"probes.{probe}.tip_offset_mm")].map(scalar).astype(float)


def plot_margin_vs_offset(table: pd.DataFrame, probe: int = 0, metric: str = "margin.min_mm",
                          path: str | Path | None = None) -> Figure:
    """Safety margin (mm) against a probe's tip offset (mm; the length of a vector offset).

    Parameters
    ----------
    table : pandas.DataFrame
        Sweep table varying ``probes.<probe>.tip_offset_mm``.
    probe : int
        Probe index.
    metric : str
        Default: the minimum margin (mm).
    path : str or Path, optional
        Write the figure there (PNG, atomically).

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = _ok(table)
    offsets = offset_values(rows, probe)
    margin = rows[_column(rows, metric)]
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    axes.scatter(offsets, margin, s=18)
    target = rows["margin.target_mm"].dropna() if "margin.target_mm" in rows.columns else pd.Series([], dtype=float)
    if len(target):
        axes.axhline(float(target.iloc[0]), color="tab:red", linestyle="--", linewidth=1, label="margin target")
        axes.legend(frameon=False)
    axes.axhline(0.0, color="grey", linewidth=0.8)
    axes.set_xlabel(f"probe {probe} tip offset (mm)")
    axes.set_ylabel(f"{metric}")
    axes.set_title(f"{metric} vs tip offset")
    axes.grid(alpha=0.3)
    _save(figure, path)
    return figure


def write_summary_plots(spec: SweepSpec, table: pd.DataFrame, folder: str | Path) -> list[Path]:
    """The sweep's summary plots in ``folder``; returns the files written.

    - ``power_duration_<metric>.png`` when both power and duration vary;
    - ``margin_vs_tip_offset_probe<n>.png`` for each probe whose tip offset varies;
    - ``<metric>_vs_<parameter>.png`` for the zone volume, margin and coverage against each
      varied parameter;
    - ``sensitivity.png`` (and ``sensitivity.csv``) for ``oat`` and ``morris`` designs.

    Parameters
    ----------
    spec : SweepSpec
        The sweep (its design and varied parameters choose the plots).
    table : pandas.DataFrame
        The results table (one row per run), as :func:`read_results` returns it.
    folder : str or pathlib.Path
        Where the files go; each is written atomically.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    folder = Path(folder)
    written: list[Path] = []
    rows = _ok(table)
    if rows.empty:
        return written
    paths = spec.parameter_paths

    def keep(figure: Figure, path: Path) -> None:
        _save(figure, path)
        written.append(path)

    if POWER in paths and DURATION in paths:
        keep(plot_power_duration_heatmap(table, "zone.volume_ml"), folder / "power_duration_zone.volume_ml.png")
    for path in paths:
        if path.endswith(".tip_offset_mm") and "margin.min_mm" in table.columns:
            probe = int(path.split(".")[1])
            keep(plot_margin_vs_offset(table, probe), folder / f"margin_vs_tip_offset_probe{probe}.png")
    for metric in DEFAULT_METRICS:
        if metric not in table.columns:
            continue
        for path in paths:
            keep(plot_metric(table, path, metric), folder / f"{metric}_vs_{path}.png")
    if spec.design in ("oat", "morris"):
        from rfasim.sweep.sensitivity import plot_sensitivity, screen

        metrics = [m for m in ("zone.volume_ml", "margin.min_mm") if m in table.columns]
        effects = screen(spec, table, metrics)
        write_with(folder / "sensitivity.csv", lambda temporary: effects.to_csv(temporary, index=False))
        written.append(folder / "sensitivity.csv")
        keep(plot_sensitivity(effects), folder / "sensitivity.png")
    return written
