"""Tables, agreement criteria, figures and the text of ``docs/validation.md``.

Everything here turns stored results (plain records) into Markdown or PNG; nothing simulates.
:func:`render_page` fills ``page_template.md``.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
from corpus import HERE, Experiment

from rfasim.atomic import write_with

TEMPLATE = HERE / "page_template.md"

#: Issue 12 targets (|error| in %), for experiments whose protocol is fully stated.
TARGETS_PCT = {"short_axis_mm": 15.0, "long_axis_mm": 20.0, "volume_ml": 35.0, "energy_j": 25.0}
#: In vivo / ex vivo (or perfused / unperfused) size ratios must match the papers within this (%).
RATIO_TARGET_PCT = 25.0
#: Grid convergence target: change between successive spacings (%).
CONVERGENCE_TARGET_PCT = 5.0

LABELS = {"long_axis_mm": "long axis (mm)", "short_axis_mm": "short axis (mm)", "volume_ml": "volume (mL)",
          "energy_j": "energy (kJ)"}


def error_key(quantity: str) -> str:
    """CSV column of a quantity's error: ``error_long_axis_pct`` for ``long_axis_mm``."""
    return f"error_{quantity.rsplit('_', 1)[0]}_pct"


def _scale(quantity: str) -> float:
    return 1e-3 if quantity == "energy_j" else 1.0


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _probe_names(experiment: Experiment) -> str:
    models = [p.model for p in experiment.probes]
    return ", ".join(f"{models.count(m)} × {m}" if models.count(m) > 1 else m for m in dict.fromkeys(models))


def _link(experiment: Experiment) -> str:
    return f"[{experiment.name}]({experiment.source.link})" if experiment.source else experiment.name


# ---------------------------------------------------------------------------------------------
# Records and tables
# ---------------------------------------------------------------------------------------------
def experiment_record(experiment: Experiment, prediction: Mapping[str, Any]) -> dict[str, Any]:
    """One flat row (JSON / CSV) of the predicted-vs-measured table."""
    row: dict[str, Any] = {
        "experiment": experiment.name, "category": experiment.category, "setting": experiment.setting,
        "species": experiment.species, "probe": _probe_names(experiment),
        "protocol_fully_stated": experiment.protocol_fully_stated, "source": experiment.source.link,
        "spacing_mm": prediction["spacing_mm"], "duration_s": prediction["simulated_s"],
        "rolloffs": prediction["rolloffs"],
        "simulated_s": prediction["simulated_s"], "wall_s": round(prediction["wall_s"], 1),
        "isotherm50_volume_ml": round(prediction["isotherm_volume_ml"], 3),
    }
    for quantity in LABELS:
        measurement = experiment.measured.get(quantity)
        predicted = float(prediction[quantity])
        row[f"predicted_{quantity}"] = round(predicted, 3 if quantity == "volume_ml" else 2)
        row[f"measured_{quantity}"] = None if measurement is None else measurement.value
        row[f"spread_{quantity}"] = None if measurement is None else measurement.spread
        row[error_key(quantity)] = (None if measurement is None
                                        else round(100.0 * (predicted - measurement.value) / measurement.value, 1))
    return row


def markdown_table(corpus: Mapping[str, Experiment], rows: Sequence[Mapping[str, Any]]) -> str:
    """Predicted against measured, one line per experiment."""
    header = ("| experiment | setting | probe, time | long axis mm | short axis mm | volume mL | energy kJ | "
              "50 °C isotherm mL | roll-offs |\n|---|---|---|---|---|---|---|---|---|")
    lines = [header]
    for row in rows:
        experiment = corpus[row["experiment"]]
        cells = []
        for quantity in LABELS:
            scale = _scale(quantity)
            predicted = row[f"predicted_{quantity}"] * scale
            measured = row[f"measured_{quantity}"]
            if measured is None:
                cells.append(f"— / {predicted:.1f}")
                continue
            spread = row[f"spread_{quantity}"]
            spread_text = "" if spread is None else f" ± {spread * scale:.1f}"
            error = row[error_key(quantity)]
            target = TARGETS_PCT[quantity]
            flag = f" **>{target:g} %**" if abs(error) > target else ""
            cells.append(f"{measured * scale:.1f}{spread_text} / {predicted:.1f} ({error:+.0f} %){flag}")
        dagger = "" if experiment.protocol_fully_stated else " †"
        minutes = row["simulated_s"] / 60.0
        lines.append(f"| {_link(experiment)}{dagger} | {experiment.setting} | {row['probe']}, {minutes:.0f} min | "
                     + " | ".join(cells) + f" | {row['isotherm50_volume_ml']:.1f} | {row['rolloffs']} |")
    return "\n".join(lines) + "\n"


def temperature_table(corpus: Mapping[str, Experiment], predictions: Mapping[str, Mapping[str, Any]]) -> str:
    """Thermocouple readings against the predicted final temperature at the same point."""
    lines = ["| experiment | position (mm) | measured °C | predicted °C |", "|---|---|---|---|"]
    for name, experiment in corpus.items():
        if name not in predictions:
            continue
        for reading, predicted in zip(experiment.temperatures, predictions[name]["temperatures_c"], strict=True):
            spread = "" if reading.spread_c is None else f" ± {reading.spread_c:g}"
            lines.append(f"| {_link(experiment)} | {list(reading.position_mm)} ({reading.time}) | "
                         f"{reading.value_c:g}{spread} | {predicted:.1f} |")
    return "\n".join(lines) + "\n" if len(lines) > 2 else "No thermocouple readings in the corpus.\n"


def corpus_table(corpus: Mapping[str, Experiment]) -> str:
    """The sources: what was read, what was measured, what was assumed."""
    lines = ["| experiment | category | source (what we read) | n | measured | assumed |", "|---|---|---|---|---|---|"]
    for experiment in corpus.values():
        if experiment.source is None:
            continue
        measured = ", ".join(
            f"{LABELS.get(q, q).split(' (')[0]} {m.value * _scale(q):g}" + ("" if m.spread is None else f" ± {m.spread * _scale(q):g}")
            for q, m in experiment.measured.items()
        ) or "qualitative"
        lines.append(f"| {experiment.name} | {experiment.category}, {experiment.setting} | "
                     f"[{experiment.source.citation}]({experiment.source.link}) ({experiment.source.read}) | "
                     f"{experiment.samples or '—'} | {measured} | {', '.join(experiment.assumptions) or '—'} |")
    return "\n".join(lines) + "\n"


def convergence_table(records: Sequence[Mapping[str, Any]]) -> str:
    """Zone size against grid spacing, and the change from the next coarser spacing."""
    lines = ["| configuration | spacing mm | volume mL | long axis mm | short axis mm | energy kJ | "
             "change from coarser: volume / long / short |", "|---|---|---|---|---|---|---|"]
    previous: dict[str, Mapping[str, Any]] = {}
    for record in records:
        name = record["name"]
        change = "—"
        if name in previous:
            before = previous[name]
            change = " / ".join(f"{_change_pct(before[q], record[q]):+.1f} %"
                                for q in ("volume_ml", "long_axis_mm", "short_axis_mm"))
        previous[name] = record
        lines.append(f"| {name} | {record['spacing_mm']:g} | {record['volume_ml']:.2f} | {record['long_axis_mm']:.1f} | "
                     f"{record['short_axis_mm']:.1f} | {record['energy_j'] / 1000:.1f} | {change} |")
    return "\n".join(lines) + "\n"


def _change_pct(before: float, after: float) -> float:
    return 100.0 * (after - before) / before if before else math.nan


# ---------------------------------------------------------------------------------------------
# Agreement criteria (issue 12, "done when")
# ---------------------------------------------------------------------------------------------
def criteria(corpus: Mapping[str, Experiment], predictions: Mapping[str, Mapping[str, Any]],
             convergence: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each target of issue 12 with the measured outcome (``met`` True/False)."""
    checks: list[dict[str, Any]] = []
    for name, experiment in corpus.items():
        if name not in predictions or not experiment.protocol_fully_stated:
            continue
        for quantity, measurement in experiment.measured.items():
            error = 100.0 * (predictions[name][quantity] - measurement.value) / measurement.value
            checks.append({"check": f"{name}: {LABELS[quantity].split(' (')[0]} within {TARGETS_PCT[quantity]:g} %",
                           "value": f"{error:+.0f} %", "met": abs(error) <= TARGETS_PCT[quantity]})
    for name, experiment in corpus.items():
        partner = experiment.compare_with
        if partner is None or name not in predictions or partner not in predictions:
            continue
        quantity = next((q for q in ("volume_ml", "short_axis_mm") if q in experiment.measured
                         and q in corpus[partner].measured), None)
        if quantity is None:
            continue
        measured = experiment.measured[quantity].value / corpus[partner].measured[quantity].value
        predicted = predictions[name][quantity] / predictions[partner][quantity] if predictions[partner][quantity] else math.nan
        off = 100.0 * (predicted - measured) / measured
        what = "in vivo / ex vivo" if experiment.setting == "in vivo" else "more / less perfused"
        checks.append({"check": f"{name} / {partner}: {what} {LABELS[quantity].split(' (')[0]} ratio within "
                                f"{RATIO_TARGET_PCT:g} %",
                       "value": f"measured {measured:.2f}, predicted {predicted:.2f} ({off:+.0f} %)",
                       "met": abs(off) <= RATIO_TARGET_PCT and predicted < 1.0})
    for name, experiment in corpus.items():
        measurement = experiment.measured.get("energy_j")
        if measurement is None or name not in predictions:
            continue
        error = 100.0 * (predictions[name]["energy_j"] - measurement.value) / measurement.value
        checks.append({"check": f"{name}: delivered energy within {TARGETS_PCT['energy_j']:g} %",
                       "value": f"{error:+.0f} %", "met": abs(error) <= TARGETS_PCT["energy_j"]})
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for record in convergence:
        by_name.setdefault(record["name"], []).append(record)
    for name, records in by_name.items():
        for before, after in itertools.pairwise(records):
            worst = max(abs(_change_pct(before[q], after[q])) for q in ("volume_ml", "long_axis_mm", "short_axis_mm"))
            checks.append({"check": f"{name}: zone changes < {CONVERGENCE_TARGET_PCT:g} % from "
                                    f"{before['spacing_mm']:g} to {after['spacing_mm']:g} mm",
                           "value": f"{worst:.1f} %", "met": worst < CONVERGENCE_TARGET_PCT})
    return checks


def criteria_table(checks: Sequence[Mapping[str, Any]]) -> str:
    met = sum(1 for c in checks if c["met"])
    lines = [f"{met} of {len(checks)} targets met.", "", "| target | outcome | met |", "|---|---|---|"]
    lines += [f"| {c['check']} | {c['value']} | {'yes' if c['met'] else '**no**'} |" for c in checks]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------
def plot_predicted_vs_measured(corpus: Mapping[str, Experiment], rows: Sequence[Mapping[str, Any]],
                               path: Path) -> None:
    """Predicted against measured per quantity, the papers' spread as horizontal error bars."""
    import matplotlib as mpl

    mpl.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 9.5), layout="constrained")
    axes = figure.subplots(2, 2).ravel()
    colours = {"ex vivo": "tab:blue", "in vivo": "tab:red", "perfused ex vivo": "tab:green"}
    for axis, quantity in zip(axes, LABELS, strict=True):
        scale = _scale(quantity)
        values = []
        for row in rows:
            measured = row[f"measured_{quantity}"]
            if measured is None:
                continue
            experiment = corpus[row["experiment"]]
            x, y = measured * scale, row[f"predicted_{quantity}"] * scale
            spread = row[f"spread_{quantity}"]
            values += [x, y]
            axis.errorbar(x, y, xerr=None if spread is None else spread * scale,
                          fmt="o" if experiment.protocol_fully_stated else "^", color=colours[experiment.setting],
                          ms=6, capsize=3, lw=1)
            axis.annotate(row["experiment"].split("-")[0], (x, y), fontsize=6, xytext=(3, 3),
                          textcoords="offset points")
        if values:
            logarithmic = quantity in ("volume_ml", "energy_j")
            low = 0.5 * min(values) if logarithmic else 0.0
            top = 1.3 * max(values)
            line = np.geomspace(max(low, 1e-3), top, 50) if logarithmic else np.linspace(0.0, top, 50)
            axis.plot(line, line, "k-", lw=0.8)
            axis.fill_between(line, 0.8 * line, 1.2 * line, color="0.88", zorder=0)
            if logarithmic:
                axis.set_xscale("log")
                axis.set_yscale("log")
            axis.set_xlim(line[0], top)
            axis.set_ylim(line[0], top)
        axis.set_xlabel(f"measured {LABELS[quantity]}")
        axis.set_ylabel(f"rfasim {LABELS[quantity]}")
    for setting, colour in colours.items():
        axes[0].errorbar([], [], fmt="o", color=colour, label=setting)
    axes[0].errorbar([], [], fmt="^", color="0.4", label="protocol partly assumed")
    axes[0].fill_between([], [], color="0.88", label="±20 %")
    axes[0].legend(fontsize=7, loc="upper left")
    spacing = rows[0]["spacing_mm"] if rows else math.nan
    figure.suptitle(f"rfasim (Arrhenius Ω ≥ 1, {spacing:g} mm grid) against published ablations; "
                    "bars: the papers' spread")
    write_with(path, lambda temporary: figure.savefig(temporary, dpi=80))


def plot_heat_sink(records: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Mid-plane coagulation maps with the vessel outlined."""
    import matplotlib as mpl

    mpl.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4 * len(records), 4), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(records)))
    for axis, record in zip(axes, records, strict=True):
        damage, material = np.asarray(record["slice_damage"]), np.asarray(record["slice_material"])
        extent = record["extent_mm"]
        axis.imshow((damage >= 1.0).T, origin="lower", extent=extent, cmap="Oranges", vmin=0, vmax=1.5)
        vessel = (material == record["vessel_code"]).astype(float)
        if vessel.any():
            x = np.linspace(extent[0], extent[1], vessel.shape[0] + 1)
            y = np.linspace(extent[2], extent[3], vessel.shape[1] + 1)
            axis.contour(0.5 * (x[1:] + x[:-1]), 0.5 * (y[1:] + y[:-1]), vessel.T, levels=[0.5], colors="tab:blue")
        axis.plot(0, 0, "k+", ms=10)
        title = "no vessel" if record["vessel_diameter_mm"] is None else f"{record['vessel_diameter_mm']:g} mm vessel"
        axis.set_title(f"{title}: radius +x {record['radius_toward_vessel_mm']:.1f}, "
                       f"-x {record['radius_away_mm']:.1f} mm", fontsize=9)
        axis.set_xlabel("x (mm)")
        axis.set_ylabel("y (mm)")
    write_with(path, lambda temporary: figure.savefig(temporary, dpi=80))


def plot_pypde(record: Mapping[str, Any], path: Path) -> None:
    """Temperature through the source centre, both codes."""
    import matplotlib as mpl

    mpl.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 5), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    x = np.asarray(record["coordinates_mm"])
    rfasim_profile, pypde_profile = np.asarray(record["rfasim_profile_c"]), np.asarray(record["pypde_profile_c"])
    top.plot(x, rfasim_profile, "o-", ms=3, label="rfasim")
    top.plot(x, pypde_profile, "-", label="py-pde (adaptive RK)")
    top.set_ylabel("temperature (°C)")
    top.legend()
    bottom.plot(x, rfasim_profile - pypde_profile, "k.-", ms=3)
    bottom.set_ylabel("difference (°C)")
    bottom.set_xlabel("x (mm)")
    write_with(path, lambda temporary: figure.savefig(temporary, dpi=80))


# ---------------------------------------------------------------------------------------------
# Page
# ---------------------------------------------------------------------------------------------
def heat_sink_table(records: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| vessel | rasterised diameter | zone volume | zone radius towards / away | cuff coagulated "
             "(without the vessel) | paper | agrees |", "|---|---|---|---|---|---|---|"]
    reference = records[0]["volume_ml"] if records else math.nan
    for record in records:
        if record["vessel_diameter_mm"] is None:
            lines.append(f"| none | — | {record['volume_ml']:.1f} mL | {record['radius_toward_vessel_mm']:.1f} / "
                         f"{record['radius_away_mm']:.1f} mm | — | — | — |")
            continue
        fraction = record["cuff_ablated_fraction"]
        viable = fraction is not None and fraction < 1.0
        expected = record["expect_viable_cuff"]
        paper = "viable perivascular tissue" if expected else "no heat sink"
        change = 100.0 * (record["volume_ml"] - reference) / reference
        lines.append(
            f"| {record['vessel_diameter_mm']:g} mm | {_fmt(record['rasterized_diameter_mm'])} mm | "
            f"{record['volume_ml']:.1f} mL ({change:+.0f} %) | {record['radius_toward_vessel_mm']:.1f} / "
            f"{record['radius_away_mm']:.1f} mm | {100 * fraction:.0f} % "
            f"({100 * (record['cuff_ablated_fraction_without_vessel'] or 0):.0f} %) | {paper} | "
            f"{'yes' if viable == expected else '**no**'} |")
    return "\n".join(lines) + "\n"


def loo_section(calibration: Mapping[str, Any] | None, demo: Mapping[str, Any] | None, current_hash: str) -> str:
    """The out-of-sample section: LOO errors of the latest calibration, if one was run."""
    parts = []
    if calibration is None or calibration.get("physics_hash") != current_hash:
        parts.append("**Not computed yet for the current physics.** No calibration has been run on these "
                     "files (`run_validation.py --calibrate`); the numbers above use the documented "
                     "defaults, with nothing fitted, so they are out-of-sample already.")
    elif calibration.get("method") == "linearised-loo":
        parts.append(linear_calibration_section(calibration))
    else:
        parts.append(_loo_table(calibration))
    if demo is not None:
        stale = "" if demo.get("physics_hash") == current_hash else " (made on other physics files: stale)"
        evaluations = " to ".join(sorted({str(row["fit"]["evaluations"]) for row in demo["rows"]}))
        parts.append(
            f"**Machinery check, not a calibration{stale}.** `--calibration-demo` fitted "
            f"{', '.join(demo['parameters'])} in {len(demo['rows'])} leave-one-out folds at {demo['spacing_mm']:g} mm "
            f"(`max_nfev = {demo['max_evaluations']}`; {evaluations} residual evaluations per fit with the finite "
            f"differences; {demo['runs']} simulations, {demo['wall_s']:.0f} s). The errors are those of a "
            f"{demo['spacing_mm']:g} mm grid and say nothing about accuracy:\n\n" + _loo_table(demo))
    return "\n\n".join(parts) + "\n"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.0f} %"


def _fitted_table(record: Mapping[str, Any]) -> str:
    lines = ["| parameter | default | bounds | fitted (global, training split) | standard error | at a bound |",
             "|---|---|---|---|---|---|"]
    for p in record["parameters"]:
        error = "not determined" if p["standard_error"] is None else f"{p['standard_error']:.3g}"
        lines.append(f"| {p['name']} | {p['default']:g} {p['unit']} | {p['lower']:g} to {p['upper']:g} | "
                     f"**{p['fitted']:.4g}** | {error} | {'yes' if p['at_bound'] else 'no'} |")
    return "\n".join(lines) + "\n"


def _held_out_table(record: Mapping[str, Any]) -> str:
    quantities = ("long_axis_mm", "short_axis_mm", "volume_ml", "energy_j")
    lines = ["| experiment | held out as | errors, linearised model (long / short / volume / energy) | "
             "errors, verified by simulation | parameters of its fold |", "|---|---|---|---|---|"]
    for row in record["rows"]:
        linear = " / ".join(_pct(row["linearised_errors_pct"].get(q)) for q in quantities)
        verified = "not run" if row["verified_errors_pct"] is None else " / ".join(
            _pct(row["verified_errors_pct"].get(q)) for q in quantities)
        fold = ", ".join(f"{v:.3g}" for v in row["fit"]["values"].values())
        role = "leave-one-out fold" if row["role"] == "loo" else "test split (global fit)"
        lines.append(f"| {row['experiment']} | {role} | {linear} | **{verified}** | {fold} |")
    return "\n".join(lines) + "\n"


def _verified_medians(record: Mapping[str, Any]) -> str:
    parts = []
    for quantity in ("long_axis_mm", "short_axis_mm", "volume_ml", "energy_j"):
        values = sorted(abs(r["verified_errors_pct"][quantity]) for r in record["rows"]
                        if r["verified_errors_pct"] and quantity in r["verified_errors_pct"])
        if values:
            median = statistics.median(values)
            parts.append(f"{LABELS[quantity].split(' (')[0]} {median:.0f} % ({len(values)})")
    return "; ".join(parts)


def linear_calibration_section(record: Mapping[str, Any]) -> str:
    """Fitted values, their standard errors, and every held-out experiment's errors."""
    fit, settings = record["global_fit"], record["settings"]
    chi2 = "n/a" if fit["chi2_per_dof"] is None else f"{fit['chi2_per_dof']:.3g}"
    iterations = record["iterations"]
    text = [
        f"Linearised leave-one-experiment-out calibration at {record['spacing_mm']:g} mm "
        f"({iterations['note']}; strictly out of sample: {'yes' if iterations['strictly_out_of_sample'] else 'no'}). "
        f"One forward-difference Jacobian of the log predictions (step {settings['difference_step']:g} of each "
        f"parameter's range), bounded `scipy.optimize.least_squares` fits of the linear model (loss "
        f"`{settings['loss']}`, f_scale {settings['f_scale']:g}, relative spreads floored at "
        f"{settings['min_relative_spread']:g}); every held-out prediction was then run once at its fold's "
        f"parameters (the *verified* errors). {record['simulations']} simulations, {record['wall_s']:.0f} s wall, "
        f"{record['cpu_s']:.0f} s CPU. Global fit on {len(fit['training'])} training experiments: "
        f"reduced chi-square {chi2}; standard errors from the Jacobian, scaled by it when above 1.",
        _fitted_table(record),
        f"Median absolute verified out-of-sample error (number): {_verified_medians(record)}.",
        _held_out_table(record),
        "The fitted values are **not** the defaults unless `calibration.toml` and `docs/parameters.md` say so; "
        "`rfasim/data/validation_errors.toml` records which errors a plan reports.",
    ]
    return "\n\n".join(text)


def _loo_table(record: Mapping[str, Any]) -> str:
    lines = ["| held out | fitted on the others | errors (long / short / volume / energy) |", "|---|---|---|"]
    for row in record["rows"]:
        fitted = ", ".join(f"{name} = {value:.4g}" for name, value in row["fit"]["values"].items())
        errors = " / ".join("—" if q not in row["errors_pct"] else f"{row['errors_pct'][q]:+.0f} %"
                            for q in ("long_axis_mm", "short_axis_mm", "volume_ml", "energy_j"))
        lines.append(f"| {row['held_out']} | {fitted} | {errors} |")
    return "\n".join(lines) + "\n"


def render_page(values: Mapping[str, str], template: Path = TEMPLATE) -> str:
    """``page_template.md`` with its ``$placeholders`` filled (a missing one raises KeyError)."""
    return Template(template.read_text(encoding="utf-8")).substitute(values)
