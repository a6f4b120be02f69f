"""Regenerate the validation table and figures (issue 8).

Usage::

    python benchmarks/validation/run_validation.py --out benchmarks/validation/results

Writes ``validation_table.{md,json,csv}``, ``heat_sink.json``, ``pypde_comparison.json`` and the
figures ``predicted_vs_measured.png``, ``heat_sink.png``, ``pypde_profile.png`` into ``--out``.
Every piece comes from :mod:`rfasim.validation`; nothing is tuned per experiment.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rfasim.tissue import TissueClass  # noqa: E402
from rfasim.validation import (  # noqa: E402
    EXPERIMENTS,
    ExperimentResult,
    HeatSinkResult,
    PyPdeComparison,
    compare_with_py_pde,
    in_vivo_tissue,
    run_experiment,
    run_heat_sink,
    vessel_cuff,
)

#: Liver perfusion rates (1/s) of the sensitivity study: the default's 2.5x and 4x (1.0-1.5 mL/min/g).
SENSITIVITY_PERFUSION_PER_S = (0.016, 0.025)

QUANTITIES = (
    ("long_axis", "long axis (mm)", "long_axis_mm"),
    ("short_axis", "short axis (mm)", "short_axis_mm"),
    ("volume", "volume (mL)", "volume_ml"),
)


def source_state() -> dict[str, object]:
    """Commit and locally modified rfasim files the results come from (reproducibility)."""
    def git(*command: str) -> str:
        try:
            return subprocess.run(["git", *command], capture_output=True, text=True, check=True).stdout.rstrip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    modified = [line[3:] for line in git("status", "--porcelain", "--", "rfasim").splitlines()
                if line[:2].strip() and not line.startswith("??")]
    return {"commit": git("rev-parse", "HEAD"), "modified_rfasim_files": modified}


def _format(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def experiment_rows(results: list[ExperimentResult]) -> list[dict[str, object]]:
    """One flat record per experiment (JSON / CSV)."""
    rows = []
    for result in results:
        experiment = result.experiment
        errors = result.errors_pct()
        row: dict[str, object] = {
            "experiment": experiment.name,
            "reference": experiment.reference,
            "doi": experiment.doi,
            "setting": experiment.setting,
            "probe": experiment.probe,
            "duration_s": experiment.duration_s,
            "criterion": "Arrhenius damage >= 1",
            "protocol_from_paper": experiment.protocol_from_paper,
            "spacing_mm": result.spacing_mm,
            "energy_j": round(result.energy_j, 1),
            "rolloffs": result.rolloffs,
            "wall_s": round(result.wall_s, 1),
            "notes": experiment.notes,
        }
        for key, _, attribute in QUANTITIES:
            row[f"measured_{attribute}"] = getattr(experiment.measured, attribute)
            row[f"predicted_{attribute}"] = round(getattr(result.predicted, attribute), 2)
            row[f"isotherm50_{attribute}"] = round(getattr(result.isotherm, attribute), 2)
            row[f"error_{key}_pct"] = None if errors[key] is None else round(errors[key], 1)
        rows.append(row)
    return rows


def markdown_table(rows: list[dict[str, object]]) -> str:
    """The predicted-vs-measured table in Markdown (from :func:`experiment_rows` records)."""
    lines = [
        "| experiment | setting | probe, time | long axis mm: measured / predicted (error) | "
        "short axis mm: measured / predicted (error) | volume mL: measured / predicted (error) | "
        "50 °C isotherm: long / short mm, mL | energy kJ, roll-offs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = []
        for key, _, attribute in QUANTITIES:
            measured = row[f"measured_{attribute}"]
            predicted = row[f"predicted_{attribute}"]
            error = row[f"error_{key}_pct"]
            if measured is None:
                cells.append(f"— / {predicted:.1f}")
            else:
                flag = " **>20 %**" if abs(error) > 20.0 else ""
                cells.append(f"{measured:.1f} / {predicted:.1f} ({error:+.0f} %){flag}")
        name = str(row["experiment"]) + ("" if row["protocol_from_paper"] else " †")
        lines.append(
            f"| {name} ([doi](https://doi.org/{row['doi']})) | {row['setting']} | "
            f"{row['probe']}, {float(row['duration_s']) / 60:.0f} min | " + " | ".join(cells) + " | "
            f"{row['isotherm50_long_axis_mm']:.0f} / {row['isotherm50_short_axis_mm']:.0f}, "
            f"{row['isotherm50_volume_ml']:.1f} | {float(row['energy_j']) / 1000:.1f}, {row['rolloffs']} |"
        )
    lines.append("")
    lines.append(
        "Predicted zone: Arrhenius damage Ω ≥ 1, axes along / across the probe from the voxel mask "
        f"({rows[0]['spacing_mm']:g} mm grid, 80 mm liver block). † device or protocol partly assumed "
        "(not in the source we could read): reported, but left out of the agreement summary."
    )
    return "\n".join(lines) + "\n"


def plot_predicted_vs_measured(rows: list[dict[str, object]], path: Path) -> None:
    """Scatter of predicted against measured, one panel per quantity."""
    figure, axes = plt.subplots(1, 3, figsize=(12, 4))
    for axis, (_, label, attribute) in zip(axes, QUANTITIES, strict=True):
        values = []
        for row in rows:
            measured = row[f"measured_{attribute}"]
            if measured is None:
                continue
            predicted = row[f"predicted_{attribute}"]
            values += [measured, predicted]
            marker = "o" if row["protocol_from_paper"] else "^"
            colour = "tab:red" if row["setting"] == "in vivo" else "tab:blue"
            axis.scatter(measured, predicted, marker=marker, color=colour, s=50)
            axis.annotate(str(row["experiment"]).split("-")[0], (measured, predicted), fontsize=7,
                          xytext=(3, 3), textcoords="offset points")
        if values:
            top = 1.15 * max(values)
            line = np.array([0.0, top])
            axis.plot(line, line, "k-", lw=0.8)
            axis.fill_between(line, 0.8 * line, 1.2 * line, color="0.85", zorder=0, label="±20 %")
            axis.set_xlim(0, top)
            axis.set_ylim(0, top)
        axis.set_xlabel(f"measured {label}")
        axis.set_ylabel(f"rfasim {label}")
        axis.set_aspect("equal")
    axes[0].scatter([], [], color="tab:blue", label="ex vivo")
    axes[0].scatter([], [], color="tab:red", label="in vivo")
    axes[0].scatter([], [], marker="^", color="0.4", label="protocol assumed")
    axes[0].legend(fontsize=7, loc="upper left")
    figure.suptitle("rfasim against published liver ablations (Arrhenius Ω ≥ 1)")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def plot_heat_sink(results: list[HeatSinkResult], path: Path) -> None:
    """Mid-plane damage maps with the vessel outlined."""
    figure, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 4))
    for axis, result in zip(np.atleast_1d(axes), results, strict=True):
        zone = (result.slice_damage >= 1.0) & (result.slice_material != TissueClass.VESSEL)
        axis.imshow(zone.T, origin="lower", extent=result.extent_mm, cmap="Oranges", vmin=0, vmax=1.5)
        vessel = (result.slice_material == TissueClass.VESSEL).astype(float)
        if vessel.any():
            spacing = (result.extent_mm[1] - result.extent_mm[0]) / vessel.shape[0]
            x = np.linspace(result.extent_mm[0] + spacing / 2, result.extent_mm[1] - spacing / 2, vessel.shape[0])
            y = np.linspace(result.extent_mm[2] + spacing / 2, result.extent_mm[3] - spacing / 2, vessel.shape[1])
            axis.contour(x, y, vessel.T, levels=[0.5], colors="tab:blue")
        axis.plot(0, 0, "k+", ms=10)
        title = "no vessel" if result.vessel_diameter_mm is None else f"{result.vessel_diameter_mm:g} mm vessel"
        axis.set_title(f"{title}\nradius +x {result.radius_toward_vessel_mm:.1f} mm, "
                       f"-x {result.radius_away_mm:.1f} mm", fontsize=9)
        axis.set_xlim(-20, 25)
        axis.set_ylim(-20, 20)
        axis.set_xlabel("x (mm)")
        axis.set_ylabel("y (mm)")
    figure.suptitle("Coagulation (Ω ≥ 1) across the needle, mid-plane of the active tip, in vivo")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def plot_pypde(comparison: PyPdeComparison, path: Path) -> None:
    """Temperature profiles through the source centre."""
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(6, 5), sharex=True, height_ratios=[3, 1])
    x = comparison.coordinates_mm
    top.plot(x, comparison.rfasim_profile_c, "o-", ms=3, label="rfasim")
    top.plot(x, comparison.pypde_profile_c, "-", label="py-pde (adaptive RK)")
    top.axhline(comparison.isotherm_c, color="0.6", lw=0.8, ls="--")
    top.set_ylabel("temperature (°C)")
    top.legend()
    bottom.plot(x, comparison.rfasim_profile_c - comparison.pypde_profile_c, "k.-", ms=3)
    bottom.set_ylabel("rfasim − py-pde (°C)")
    bottom.set_xlabel("x (mm)")
    top.set_title("Gaussian source in perfused liver: rfasim against py-pde")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/validation/results"))
    parser.add_argument("--spacing", type=float, default=1.5, help="grid spacing of the experiments (mm)")
    parser.add_argument("--heat-sink-spacing", type=float, default=1.5, help="grid spacing of the heat-sink runs (mm)")
    parser.add_argument("--only", nargs="*", default=None, help="experiment names (default: all)")
    parser.add_argument("--skip", nargs="*", default=(), choices=("experiments", "heat-sink", "pypde", "sensitivity"))
    parser.add_argument("--reuse", action="store_true",
                        help="keep experiment runs already stored under OUT/runs (slow machines)")
    parser.add_argument("--threads", type=int, default=None,
                        help="Numba threads (1 is much faster on a machine shared with other jobs)")
    arguments = parser.parse_args(argv)
    if arguments.threads:
        import numba

        numba.set_num_threads(arguments.threads)
    out: Path = arguments.out
    out.mkdir(parents=True, exist_ok=True)
    environment = {"python": sys.version.split()[0], "machine": platform.machine(),
                   "generated": time.strftime("%Y-%m-%d %H:%M:%S"), **source_state()}

    if "experiments" not in arguments.skip:
        runs = out / "runs"
        runs.mkdir(exist_ok=True)
        names = arguments.only or list(EXPERIMENTS)
        for name in names:
            cached = runs / f"{name}.json"
            if arguments.reuse and cached.exists():
                continue
            result = run_experiment(name, spacing_mm=arguments.spacing)
            print(f"{name}: {result.predicted} ({result.wall_s:.0f} s)", flush=True)
            cached.write_text(json.dumps(experiment_rows([result])[0], indent=1))
        # The table holds every experiment with a stored run, in the order of EXPERIMENTS.
        rows = [json.loads((runs / f"{name}.json").read_text()) for name in EXPERIMENTS
                if (runs / f"{name}.json").exists()]
        (out / "validation_table.json").write_text(json.dumps({"environment": environment, "rows": rows}, indent=1))
        with open(out / "validation_table.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        (out / "validation_table.md").write_text(markdown_table(rows))
        plot_predicted_vs_measured(rows, out / "predicted_vs_measured.png")

    if "heat-sink" not in arguments.skip:
        sinks = []
        for diameter in (None, 8.0, 2.0):
            sink = run_heat_sink(diameter, spacing_mm=arguments.heat_sink_spacing)
            print(f"heat sink {diameter}: toward {sink.radius_toward_vessel_mm:.1f} mm, away "
                  f"{sink.radius_away_mm:.1f} mm, {sink.zone.volume_ml:.2f} mL, cuff ablated "
                  f"{sink.cuff_ablated_fraction:.2f}", flush=True)
            sinks.append(sink)
        reference = sinks[0]
        records = [
            {
                "vessel_diameter_mm": sink.vessel_diameter_mm,
                "cuff_ablated_fraction": None if np.isnan(sink.cuff_ablated_fraction) else sink.cuff_ablated_fraction,
                # The same cuff pixels in the run without a vessel: what the sink took away.
                "cuff_ablated_fraction_without_vessel": float(
                    (reference.slice_damage[vessel_cuff(sink.slice_material)] >= 1.0).mean()
                ) if sink.vessel_diameter_mm is not None else None,
                "rasterized_diameter_mm": float(2.0 * np.sqrt(
                    (sink.slice_material == TissueClass.VESSEL).sum() / np.pi) * arguments.heat_sink_spacing),
                "vessel_axis_offset_mm": sink.vessel_axis_offset_mm,
                "radius_toward_vessel_mm": sink.radius_toward_vessel_mm,
                "radius_away_mm": sink.radius_away_mm,
                "indentation_mm": sink.indentation_mm,
                "volume_ml": sink.zone.volume_ml,
                "long_axis_mm": sink.zone.long_axis_mm,
                "short_axis_mm": sink.zone.short_axis_mm,
            }
            for sink in sinks
        ]
        (out / "heat_sink.json").write_text(json.dumps({"environment": environment,
                                                        "spacing_mm": arguments.heat_sink_spacing,
                                                        "runs": records}, indent=1))
        plot_heat_sink(sinks, out / "heat_sink.png")

    if "pypde" not in arguments.skip:
        comparison = compare_with_py_pde()
        record = {
            key: getattr(comparison, key)
            for key in ("max_abs_difference_c", "core_max_abs_difference_c", "same_step_max_abs_difference_c",
                        "rfasim_time_step_s", "peak_temperature_c", "rfasim_volume_ml", "pypde_volume_ml",
                        "volume_difference_pct", "isotherm_c", "rfasim_wall_s", "pypde_wall_s")
        }
        print(f"py-pde: {record}", flush=True)
        (out / "pypde_comparison.json").write_text(json.dumps({"environment": environment, **record}, indent=1))
        plot_pypde(comparison, out / "pypde_profile.png")
    if "sensitivity" not in arguments.skip:
        # Not part of the validation: how far the in vivo zones move with perfusion alone.
        records = []
        for perfusion in SENSITIVITY_PERFUSION_PER_S:
            for name in ("lee2009-cooled-2cm-in-vivo",):
                tissue = in_vivo_tissue().with_class(TissueClass.LIVER, perfusion_rate_per_s=perfusion)
                result = run_experiment(name, spacing_mm=arguments.spacing, tissue=tissue)
                print(f"sensitivity {name} w_b={perfusion}: {result.predicted}", flush=True)
                records.append({"experiment": name, "perfusion_rate_per_s": perfusion,
                                **experiment_rows([result])[0]})
        (out / "sensitivity_perfusion.json").write_text(json.dumps({"environment": environment, "runs": records},
                                                                   indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
