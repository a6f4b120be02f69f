"""Regenerate ``docs/validation.md`` and its results from the corpus, at HEAD.

Usage::

    python benchmarks/validation/run_validation.py            # full: 1.5 mm, convergence 1.5/1.0/0.75 mm
    python benchmarks/validation/run_validation.py --quick    # coarse: 3 mm, convergence 3.0/2.5/2.0 mm
    python benchmarks/validation/run_validation.py --calibration-demo --quick   # + a tiny LOO check
    python benchmarks/validation/run_validation.py --calibrate --quick   # + the linearised LOO calibration

Every simulation is cached in ``results/runs/`` under a key made of the experiment file, the
grid, the physics files (:mod:`freshness`) and the harness code, so rerunning after a change
to the page text costs seconds and after a physics change reruns exactly what changed.  The
page records the commit and the physics hash; ``tests/validation/test_validation_page_fresh.py``
fails when the committed page is older than the physics.  Prints the agreement targets of
issue 12 and writes ``results/*.json``, ``results/*.csv`` and the figures.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import calibration  # noqa: E402
import freshness  # noqa: E402
import harness  # noqa: E402
import linear_calibration  # noqa: E402
import report  # noqa: E402
import validation_errors  # noqa: E402
from corpus import Experiment, load_configuration, load_corpus  # noqa: E402

from rfasim.atomic import write_json, write_text  # noqa: E402
from rfasim.tissue import TissueClass  # noqa: E402

RESULTS = HERE / "results"
#: Code whose change invalidates cached runs (besides the physics files).
HARNESS_FILES = ("harness.py", "corpus.py", "pypde_comparison.py")  # calibration.py/linear_calibration.py: fits only
#: Configurations of the grid-convergence table.
CONVERGENCE_CASES = ("lee2009-cooled-2cm-ex-vivo", "standard-case")
HEAT_SINK_EXPERIMENT = "lu2002-heat-sink-in-vivo"
PARTS = ("experiments", "convergence", "heat-sink", "pypde")


@dataclass(frozen=True)
class Mode:
    """Grid settings of a run of this script."""

    name: str
    spacing_mm: float
    convergence_mm: tuple[float, ...]
    heat_sink_spacing_mm: float
    pypde: dict[str, float] = field(default_factory=dict)


MODES = {
    "full": Mode("full", 1.5, (1.5, 1.0, 0.75), 1.0,
                 {"extent_mm": 40.0, "spacing_mm": 1.0, "duration_s": 300.0, "total_power_w": 3.0}),
    "quick": Mode("quick", 3.0, (3.0, 2.5, 2.0), 1.5,
                  {"extent_mm": 24.0, "spacing_mm": 1.5, "duration_s": 120.0, "total_power_w": 1.5}),
}


class RunCache:
    """JSON results keyed by what produced them (``results/runs/NAME.json``)."""

    def __init__(self, folder: Path, physics_hash: str, enabled: bool = True) -> None:
        self.folder = folder
        self.enabled = enabled
        code = hashlib.sha256()
        for name in HARNESS_FILES:
            code.update((HERE / name).read_bytes())
        self.base = f"{physics_hash}:{code.hexdigest()}"
        self.hits = 0
        self.misses = 0

    def key(self, *parts: Any) -> str:
        return hashlib.sha256(json.dumps([self.base, *parts], sort_keys=True).encode()).hexdigest()

    def get(self, name: str, key: str) -> dict[str, Any] | None:
        path = self.folder / f"{name}.json"
        if self.enabled and path.is_file():
            stored = json.loads(path.read_text())
            if stored.get("key") == key:
                self.hits += 1
                return stored["data"]
        self.misses += 1
        return None

    def put(self, name: str, key: str, data: dict[str, Any]) -> None:
        write_json(self.folder / f"{name}.json", {"key": key, "base": self.base, "data": data})

    def prune(self) -> int:
        """Delete stored runs made with other physics files or harness code; returns their count."""
        removed = 0
        for path in self.folder.glob("*.json"):
            if json.loads(path.read_text()).get("base") != self.base:
                path.unlink()
                removed += 1
        return removed


def _git(*command: str) -> str:
    try:
        return subprocess.run(["git", *command], capture_output=True, text=True, check=True,
                              cwd=freshness.REPOSITORY).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def source_state() -> dict[str, Any]:
    """Commit, and hashed files that differ from it (the page would then not match the commit)."""
    paths = [p.relative_to(freshness.REPOSITORY).as_posix() for p in freshness.hashed_files()]
    dirty = [line[3:] for line in _git("status", "--porcelain", "--", *paths).splitlines() if line.strip()]
    return {"commit": _git("rev-parse", "--short=12", "HEAD"), "modified_hashed_files": dirty,
            "python": platform.python_version(), "machine": platform.machine(),
            "generated": time.strftime("%Y-%m-%d %H:%M %Z")}


def predict(experiment: Experiment, spacing_mm: float, cache: RunCache) -> dict[str, Any]:
    """A cached :func:`harness.run_experiment` prediction record."""
    name = f"{experiment.name}@{spacing_mm:g}mm"
    key = cache.key("zone", experiment.sha256, spacing_mm, experiment.extent_mm)
    stored = cache.get(name, key)
    if stored is None:
        output = harness.run_experiment(experiment, spacing_mm)
        stored = output.prediction.to_dict()
        cache.put(name, key, stored)
        print(f"  {name}: volume {stored['volume_ml']:.2f} mL, long {stored['long_axis_mm']:.1f}, short "
              f"{stored['short_axis_mm']:.1f} mm, {stored['energy_j'] / 1000:.1f} kJ ({stored['wall_s']:.0f} s)",
              flush=True)
    return stored


def run_heat_sink(experiment: Experiment, spacing_mm: float, cache: RunCache) -> list[dict[str, Any]]:
    key = cache.key("heat-sink", experiment.sha256, spacing_mm)
    name = f"heat-sink@{spacing_mm:g}mm"
    stored = cache.get(name, key)
    if stored is None:
        records = []
        for result in harness.heat_sink_study(experiment, spacing_mm):
            record = result.to_dict()
            record["slice_damage"] = result.slice_damage.round(3).tolist()
            record["slice_material"] = result.slice_material.astype(int).tolist()
            record["vessel_code"] = int(TissueClass.VESSEL)
            records.append(record)
            print(f"  heat sink {result.vessel_diameter_mm}: cuff coagulated {result.cuff_ablated_fraction:.2f}, "
                  f"radius towards / away {result.radius_toward_vessel_mm:.1f} / {result.radius_away_mm:.1f} mm",
                  flush=True)
        stored = {"runs": records}
        cache.put(name, key, stored)
    return stored["runs"]


def run_pypde(options: dict[str, float], cache: RunCache) -> dict[str, Any]:
    key = cache.key("pypde", options)
    name = f"pypde@{options['spacing_mm']:g}mm"
    stored = cache.get(name, key)
    if stored is None:
        from pypde_comparison import compare_with_py_pde

        comparison = compare_with_py_pde(**options)
        stored = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in comparison.__dict__.items()}
        cache.put(name, key, stored)
        print(f"  py-pde: max difference {comparison.max_abs_difference_c:.3f} degC", flush=True)
    return stored


def run_calibration(corpus: dict[str, Experiment], spacing_mm: float, names: list[str] | None,
                    parameters: list[str] | None, max_evaluations: int, extent_scale: float,
                    physics_hash: str) -> dict[str, Any]:
    """Leave-one-out over the corpus (or ``names``) with :func:`calibration.fit_least_squares`."""
    space = calibration.load_parameter_space()
    if parameters:
        space = space.subset(parameters)
    experiments = [corpus[n] for n in names] if names else list(corpus.values())
    predictor = calibration.SimulationPredictor(space, spacing_mm, extent_scale=extent_scale)
    start = time.perf_counter()
    rows = calibration.leave_one_out(experiments, space, predictor, max_evaluations=max_evaluations)
    return {
        "physics_hash": physics_hash, "spacing_mm": spacing_mm, "extent_scale": extent_scale,
        "parameters": list(space.names), "max_evaluations": max_evaluations, "runs": predictor.runs,
        "wall_s": time.perf_counter() - start, "rows": [row.to_dict() for row in rows],
    }


def run_linear_calibration(corpus: dict[str, Experiment], spacing_mm: float, cache: RunCache,
                           physics_hash: str, iterations: int) -> dict[str, Any]:
    """The calibration of issue 12, item 4 (:func:`linear_calibration.calibrate`), as a JSON record."""
    space = calibration.load_parameter_space()
    settings = linear_calibration.load_fit_settings()
    predictor = calibration.SimulationPredictor(space, spacing_mm, cache=cache, verbose=True)
    result = linear_calibration.calibrate(list(corpus.values()), space, predictor, settings, iterations=iterations)
    return {**result.to_dict(), "physics_hash": physics_hash, "spacing_mm": spacing_mm,
            "simulations": predictor.runs, "simulation_wall_s": predictor.run_wall_s}


def _defaults_are_calibrated(record: dict[str, Any] | None, physics_hash: str) -> bool:
    """Whether calibration.toml's defaults are the fitted values of the current calibration."""
    if record is None or record.get("physics_hash") != physics_hash or record.get("method") != "linearised-loo":
        return False
    defaults = calibration.load_parameter_space().defaults()
    return all(abs(p["fitted"] - defaults.get(p["name"], float("nan"))) <= 1e-3 * abs(p["fitted"])
               for p in record["parameters"])


def write_plan_errors(zone: dict[str, Experiment], predictions: dict[str, dict[str, Any]],
                      record: dict[str, Any] | None, state: dict[str, Any]) -> dict[str, Any]:
    """``rfasim/data/validation_errors.toml`` for the parameters plans run with (see :mod:`validation_errors`)."""
    if _defaults_are_calibrated(record, state["physics_hash"]):
        basis, spacing = "calibrated (leave-one-out, verified by simulation)", record["spacing_mm"]
        errors = {row["experiment"]: row["verified_errors_pct"] or row["linearised_errors_pct"] for row in record["rows"]}
    else:
        basis, spacing = "defaults (nothing fitted to the corpus)", state["spacing_mm"]
        errors = {name: harness.errors_pct(zone[name], harness.Prediction.from_dict(p)) for name, p in predictions.items()}
    provenance = {"generated": state["generated"], "commit": state["commit"], "physics_hash": state["physics_hash"],
                  "modified_hashed_files": len(state["modified_hashed_files"]), "mode": state["mode"],
                  "spacing_mm": spacing, "basis": basis, "source": "benchmarks/validation/results/"}
    return validation_errors.write_validation_errors(zone, errors, provenance)


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _summary(corpus: dict[str, Experiment], rows: list[dict[str, Any]], checks: list[dict[str, Any]]) -> str:
    """Bullet points computed from the table (no hand-written numbers)."""
    lines = []
    for setting in ("ex vivo", "in vivo", "perfused ex vivo"):
        for stated, label in ((True, "protocol stated"), (False, "protocol partly assumed †")):
            chosen = [r for r in rows if corpus[r["experiment"]].setting == setting
                      and corpus[r["experiment"]].protocol_fully_stated == stated]
            if not chosen:
                continue
            parts = []
            for quantity in ("long_axis_mm", "short_axis_mm", "volume_ml", "energy_j"):
                errors = [r[report.error_key(quantity)] for r in chosen if r[report.error_key(quantity)] is not None]
                if errors:
                    errors.sort()
                    parts.append(f"{report.LABELS[quantity].split(' (')[0]} {statistics.median(errors):+.0f} % "
                                 f"({errors[0]:+.0f} to {errors[-1]:+.0f} %, {len(errors)})")
            count = f"{len(chosen)} experiment" + ("s" if len(chosen) > 1 else "")
            lines.append(f"- **{setting}, {label}** ({count}), median error (range, number): " + "; ".join(parts) + ".")
    met = sum(1 for c in checks if c["met"])
    lines.append(f"- **Targets of issue 12**: {met} of {len(checks)} met ([criteria](#agreement-targets)).")
    return "\n".join(lines)


def _parameters_table() -> str:
    space = calibration.load_parameter_space()
    lines = ["| parameter | `[tissue]` key | applies to | default | bounds | source |", "|---|---|---|---|---|---|"]
    lines += [f"| {p.name} | `{p.key}` | {', '.join(p.settings)} | {p.default:g} {p.unit} | "
              f"{p.lower:g} to {p.upper:g} ({p.scale}) | {p.source} |" for p in space.parameters]
    return "\n".join(lines) + "\n"


def _pypde_table(record: dict[str, Any] | None) -> str:
    if record is None:
        return "Not run (`--skip pypde`).\n"
    return "\n".join([
        "| quantity | value |", "|---|---|",
        f"| peak temperature (rfasim) | {record['peak_temperature_c']:.2f} °C |",
        f"| max \\|T_rfasim − T_py-pde\\| over the grid | **{record['max_abs_difference_c']:.3f} °C** |",
        f"| same, central half of the box | {record['core_max_abs_difference_c']:.3f} °C |",
        f"| same, py-pde forward Euler at rfasim's step ({record['rfasim_time_step_s']:.2g} s) | "
        f"{record['same_step_max_abs_difference_c']:.3f} °C |",
        f"| {record['isotherm_c']:g} °C isotherm volume, rfasim / py-pde | {record['rfasim_volume_ml']:.3f} / "
        f"{record['pypde_volume_ml']:.3f} mL ({record['volume_difference_pct']:+.1f} %) |",
    ]) + "\n"


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="coarse grids (minutes instead of hours)")
    parser.add_argument("--spacing", type=float, default=None, help="grid spacing of the experiment table (mm)")
    parser.add_argument("--skip", nargs="*", default=(), choices=PARTS, help="parts to leave out")
    parser.add_argument("--no-cache", action="store_true", help="recompute every run")
    parser.add_argument("--threads", type=int, default=None, help="Numba threads (1 on a shared machine)")
    parser.add_argument("--calibration-demo", action="store_true",
                        help="a tiny leave-one-out on two experiments at 4 mm (proves the machinery)")
    parser.add_argument("--calibrate", action="store_true",
                        help="linearised leave-one-out calibration (about 5 corpus passes; use with --quick)")
    parser.add_argument("--calibration-iterations", type=int, default=1,
                        help="linearisations (1: at the defaults, strictly out of sample)")
    parser.add_argument("--page", type=Path, default=freshness.PAGE, help="page to write")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the results and the run cache")
    arguments = parser.parse_args(argv)
    if arguments.threads:
        import numba

        numba.set_num_threads(arguments.threads)
    mode = MODES["quick" if arguments.quick else "full"]
    spacing = arguments.spacing or mode.spacing_mm
    physics_hash = freshness.physics_hash()
    results = arguments.results
    cache = RunCache(results / "runs", physics_hash, enabled=not arguments.no_cache)
    corpus = load_corpus()
    zone = {name: e for name, e in corpus.items() if e.kind == "zone"}
    state = {**source_state(), "mode": mode.name, "spacing_mm": spacing, "physics_hash": physics_hash}
    start = time.perf_counter()

    predictions: dict[str, dict[str, Any]] = {}
    if "experiments" not in arguments.skip:
        print(f"experiments at {spacing:g} mm", flush=True)
        for name, experiment in zone.items():
            predictions[name] = predict(experiment, spacing, cache)
    rows = [report.experiment_record(zone[n], predictions[n]) for n in zone if n in predictions]

    convergence: list[dict[str, Any]] = []
    if "convergence" not in arguments.skip:
        print(f"grid convergence at {', '.join(f'{s:g}' for s in mode.convergence_mm)} mm", flush=True)
        for case in CONVERGENCE_CASES:
            experiment = corpus[case] if case in corpus else load_configuration(case)
            convergence += [{**predict(experiment, step, cache), "name": case} for step in mode.convergence_mm]

    heat_sink = None
    if "heat-sink" not in arguments.skip:
        print(f"heat sink at {mode.heat_sink_spacing_mm:g} mm", flush=True)
        heat_sink = run_heat_sink(corpus[HEAT_SINK_EXPERIMENT], mode.heat_sink_spacing_mm, cache)
    pypde = None
    if "pypde" not in arguments.skip:
        print("py-pde comparison", flush=True)
        pypde = run_pypde(mode.pypde, cache)

    if arguments.calibration_demo:
        print("calibration demo (leave-one-out, 4 mm, one parameter)", flush=True)
        demo = run_calibration(corpus, 4.0, ["lee2009-cooled-2cm-in-vivo", "song2015-cooled-17g-in-vivo"],
                               ["liver perfusion (in vivo)"], max_evaluations=6, extent_scale=1.0,
                               physics_hash=physics_hash)
        write_json(results / "calibration_demo.json", {**demo, "environment": state})
    if arguments.calibrate:
        print(f"calibration (linearised leave-one-out at {spacing:g} mm)", flush=True)
        full = run_linear_calibration(zone, spacing, cache, physics_hash, arguments.calibration_iterations)
        write_json(results / "calibration.json", {**full, "environment": state})
        print(f"  {full['simulations']} simulations, {full['wall_s']:.0f} s wall, {full['cpu_s']:.0f} s CPU", flush=True)
    calibration_record = _load(results / "calibration.json")
    if predictions:
        classes = write_plan_errors(zone, predictions, calibration_record, state)
        print(f"wrote {validation_errors.ERRORS_FILE.relative_to(freshness.REPOSITORY)} ({', '.join(classes)})")

    checks = report.criteria(zone, predictions, convergence)
    print("\nagreement targets (issue 12):")
    for check in checks:
        print(f"  [{'met' if check['met'] else 'MISSED'}] {check['check']}: {check['value']}")

    if rows:
        write_json(results / "validation_table.json", {"environment": state, "rows": rows})
        write_text(results / "validation_table.csv", _csv(rows))
        report.plot_predicted_vs_measured(zone, rows, results / "predicted_vs_measured.png")
    if convergence:
        write_json(results / "grid_convergence.json", {"environment": state, "runs": convergence})
    if heat_sink is not None:
        write_json(results / "heat_sink.json", {"environment": state, "spacing_mm": mode.heat_sink_spacing_mm,
                                                "runs": [{k: v for k, v in r.items() if not k.startswith("slice_")}
                                                         for r in heat_sink]})
        report.plot_heat_sink(heat_sink, results / "heat_sink.png")
    if pypde is not None:
        write_json(results / "pypde_comparison.json", {"environment": state,
                                                       **{k: v for k, v in pypde.items() if "profile" not in k
                                                          and k != "coordinates_mm"}})
        report.plot_pypde(pypde, results / "pypde_profile.png")
    write_json(results / "criteria.json", {"environment": state, "checks": checks})

    modified = state["modified_hashed_files"]
    listed = ", ".join(f"`{m}`" for m in modified[:3]) + (", ..." if len(modified) > 3 else "")
    commit_note = f"commit `{state['commit']}`" + (
        f" with uncommitted changes to {len(modified)} hashed file(s) ({listed})" if modified else "")
    command = "python benchmarks/validation/run_validation.py" + (" --quick" if arguments.quick else "")
    values = {
        "hash_marker": freshness.hash_marker(physics_hash),
        "generated_note": (f"Generated by `{command}` on {commit_note}, {state['generated']}; "
                           f"{mode.name} mode, experiments on a {spacing:g} mm grid."),
        "physics_hash": physics_hash,
        "summary": _summary(zone, rows, checks) if rows else "Experiments not run.",
        "corpus_table": report.corpus_table(corpus),
        "results_table": report.markdown_table(zone, rows) if rows else "Not run.\n",
        "temperature_table": report.temperature_table(zone, predictions),
        "criteria_table": report.criteria_table(checks),
        "convergence_table": report.convergence_table(convergence) if convergence else "Not run.\n",
        "convergence_spacings": ", ".join(f"{s:g}" for s in mode.convergence_mm),
        "loo_section": report.loo_section(calibration_record, _load(results / "calibration_demo.json"), physics_hash),
        "parameters_table": _parameters_table(),
        "heat_sink_table": report.heat_sink_table(heat_sink) if heat_sink else "Not run.\n",
        "heat_sink_spacing": f"{mode.heat_sink_spacing_mm:g}",
        "pypde_table": _pypde_table(pypde),
        "pypde_setup": ", ".join(f"{k} {v:g}" for k, v in mode.pypde.items()),
        "hashed_files": ", ".join(f"`{p}`" for p in freshness.PHYSICS_FILES),
        "experiment_count": str(len(zone)),
        "source_count": str(len({e.source.citation for e in corpus.values() if e.source})),
    }
    write_text(arguments.page, report.render_page(values))
    pruned = cache.prune() if cache.enabled else 0
    print(f"\nwrote {arguments.page} and {results}/ ({cache.hits} cached runs, {cache.misses} computed, {pruned} stale removed, "
          f"{time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
