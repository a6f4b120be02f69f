"""Sweep throughput (runs per minute): sequential, local Dask processes/threads, and a scheduler address.

The case is the ``liver-25mm`` phantom's standard case (one cooltip-17g-3cm, impedance-controlled
200 W, isotherm 100 degC, 20 mm region margin) with a shorter ablation (``--duration-s``, default
60 s instead of 720 s) so that a benchmark fits in minutes; each sweep varies the power over
``--runs`` values.  Layouts:

- ``sequential``: a plain loop in this process (no Dask), the baseline;
- ``local-1proc``: ``run_sweep(workers=1)``: one worker process, one Numba thread;
- ``local-2proc``: ``run_sweep(workers=2)``: two worker processes, one Numba thread each;
- ``local-1proc-2threads``: one worker process whose Numba kernels use two threads;
- ``scheduler-2proc``: a separately started ``LocalCluster`` (2 processes) reached by its
  address, as a remote cluster would be (its start-up is not timed).

The local layouts' times include starting their cluster (a few seconds), as a user sees it.
Per-run overhead (issue 13: below 10 % of a run's own time): a run's own time is its
simulation (``run.wall_s`` of its metrics); the overhead is what the sweep spends per run
beyond it, ``(sweep wall x workers / runs - mean own time) / mean own time`` (worker start,
imports, loading the compiled kernels, case set-up, outputs), and, inside the runs,
``row wall_s - run.wall_s`` (case set-up and metrics of each run).  Prints one JSON document.

Usage::

    python benchmarks/sweep_throughput.py [--spacings 2 1] [--runs 4] [--duration-s 60] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

LAYOUTS = ("sequential", "local-1proc", "local-2proc", "local-1proc-2threads", "scheduler-2proc")


def _sweep_file(folder: Path, spacing_mm: float, duration_s: float, runs: int) -> Path:
    from rfasim.phantoms import write_phantom

    paths = write_phantom("liver-25mm", folder / "case")
    text = paths["case"].read_text()
    text = text.replace("duration_s = 720.0", f"duration_s = {duration_s}")
    text = text.replace("spacing_mm = 1.0", f"spacing_mm = {spacing_mm}")
    paths["case"].write_text(text)
    powers = ", ".join(f"{150.0 + 50.0 * n / max(runs - 1, 1):.1f}" for n in range(runs))
    sweep = folder / "sweep.toml"
    sweep.write_text(
        f'[sweep]\ncase = "case/case.toml"\ndesign = "grid"\n\n'
        f'[[parameter]]\npath = "generator.power_w"\nvalues = [{powers}]\n'
    )
    return sweep


def _sequential(spec) -> tuple[float, list[dict]]:
    from rfasim.sweep import execute_run

    start = time.perf_counter()
    rows = []
    for run in spec.runs:
        row = execute_run(run.run_id, run.index, run.inputs, run.case_data, str(spec.case_path), None, False)
        assert row["status"] == "ok", row["error"]
        rows.append(row)
    return time.perf_counter() - start, rows


def _overhead(seconds: float, workers: int, rows: list[dict]) -> dict:
    """Per-run overhead against the runs' own simulation time."""
    own = [float(row["run.wall_s"]) for row in rows if "run.wall_s" in row]
    totals = [float(row["wall_s"]) for row in rows]
    if not own:
        return {}
    mean_own = sum(own) / len(own)
    per_run = seconds * workers / len(rows)
    return {
        "mean_run_simulation_s": round(mean_own, 3),
        "sweep_wall_per_run_s": round(per_run, 3),
        "overhead_per_run_s": round(per_run - mean_own, 3),
        "overhead_fraction": round((per_run - mean_own) / mean_own, 4),
        "in_run_overhead_fraction": round((sum(totals) - sum(own)) / sum(own), 4),
    }


def measure(layout: str, spacing_mm: float, duration_s: float, runs: int) -> dict:
    """Time one sweep of ``runs`` runs in one layout; returns runs per minute and details."""
    from rfasim.sweep import load_sweep, run_sweep

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        spec = load_sweep(_sweep_file(folder, spacing_mm, duration_s, runs))
        options = {"progress": False, "plots": False}
        cluster = None
        workers = 1
        if layout == "sequential":
            seconds, rows = _sequential(spec)
            per_run = None
        else:
            if layout == "local-1proc":
                options.update(workers=1)
            elif layout == "local-2proc":
                options.update(workers=2)
                workers = 2
            elif layout == "local-1proc-2threads":
                options.update(workers=1, numba_threads=2)
            elif layout == "scheduler-2proc":
                import dask
                from dask.distributed import LocalCluster

                from rfasim.sweep.execute import UNSET_BEFORE_SPAWN

                environment = {name: "1" for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
                # Configured as docs/sweep-file.md advises for a cluster of one's own.
                unset = {f"distributed.nanny.pre-spawn-environ.{name}": None for name in UNSET_BEFORE_SPAWN}
                with dask.config.set(unset):
                    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, env=environment,
                                           dashboard_address=None, silence_logs=logging.ERROR)
                options.update(scheduler=cluster.scheduler_address)
                workers = 2
            start = time.perf_counter()
            result = run_sweep(spec, folder / "out", **options)
            seconds = time.perf_counter() - start
            if cluster is not None:
                cluster.close()
            assert result.counts["ok"] == runs, result.table[["status", "error"]]
            per_run = float(result.table["wall_s"].mean())
            rows = result.table.to_dict("records")
    return {
        "layout": layout, "spacing_mm": spacing_mm, "duration_s": duration_s, "runs": runs,
        "wall_s": round(seconds, 2), "runs_per_minute": round(60.0 * runs / seconds, 2),
        "mean_run_wall_s": None if per_run is None else round(per_run, 2),
        "load_average": list(os.getloadavg()),
        **_overhead(seconds, workers, rows),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacings", type=float, nargs="+", default=[2.0, 1.0], help="grid spacings (mm)")
    parser.add_argument("--runs", type=int, default=4, help="runs per sweep")
    parser.add_argument("--duration-s", type=float, default=60.0, help="ablation duration per run (s)")
    parser.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS)
    parser.add_argument("--json", help="also write the JSON here")
    arguments = parser.parse_args(argv)
    results = []
    for spacing in arguments.spacings:
        for layout in arguments.layouts:
            entry = measure(layout, spacing, arguments.duration_s, arguments.runs)
            print(json.dumps(entry), file=sys.stderr)
            results.append(entry)
    document = {
        "benchmark": "sweep_throughput",
        "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                    "platform": platform.platform()},
        "results": results,
    }
    text = json.dumps(document, indent=2)
    print(text)
    if arguments.json:
        Path(arguments.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
