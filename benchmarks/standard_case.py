"""The standard case: one Cool-tip 17G 3 cm needle, 12 min impedance control at 200 W.

One ``cooltip-17g-3cm`` needle along z through the centre (active part from z = -15 to +15 mm),
``ImpedanceControlled(power_w=200, duration_s=720)``, 1 mm voxels over an 80 mm cube of
perfused liver.  The parent process runs the case in child processes:

- ``cold``: a fresh process with an empty ``NUMBA_CACHE_DIR`` (JIT compilation included), then a
  second run in the same process (``warm_in_process``);
- ``warm_process``: a second fresh process sharing that (now filled) cache: with ``cache=True``
  it loads the kernels instead of compiling them.

Each run reports wall seconds, the time spent in the Pennes kernel ``heat_step`` (timed call by call, by
wrapping the module attribute the solver calls) and its voxel-updates per second, the electric
solves (count, total and per-solve seconds, CG iterations, recorded by wrapping
``ElectricProblem.solve``), the zone volume (peak >= 100 degC), the roll-offs and the child's
peak memory (``ru_maxrss``; also its increase over the resident size just before ``simulate``,
per voxel).

``--compare multigrid,amg,cg`` runs a warm process per electric solver on the same case
(use ``--duration`` to shorten it: pyamg rebuilds its hierarchy at every solve).

Electric re-solves (``--electric``): ``update`` (default) routes the loop's re-solves through
``ElectricProblem.update`` (the local box update with a global correction when its error
indicators pass their tolerances); ``solve`` makes every re-solve global.  The loop in
``rfasim.solver`` calls ``solve``; until it calls ``update`` itself the child points ``solve``
at ``update``.  Electric figures: calls, global solves, local updates, calls with an unchanged
conductivity, V-cycles, wall and CPU seconds.

Accuracy guard (``--reference``): a further warm process runs the reference -- the electric
field re-solved at every step (``electric_update_tolerance=1e-9``), global solves only,
multigrid CG to 1e-8 with a float64 V-cycle -- and the JSON compares the measured run with it:
zone volumes (peak >= 100 degC, Arrhenius Omega >= 1), delivered energy (limits 2 %) and
roll-off count (limit 1).  The reference is long: ``--reference-from FILE`` reuses the
``reference`` section of an earlier JSON instead.

Usage::

    python benchmarks/standard_case.py [--spacing 1] [--extent 80] [--duration 720]
        [--solver multigrid|amg|cg] [--electric update|solve] [--compare multigrid,amg]
        [--skip-cold] [--reference | --reference-from FILE] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(args: argparse.Namespace) -> dict:
    """Run the case ``args.runs`` times in this process; JSON-able figures."""
    start_import = time.perf_counter()
    import numba
    import numpy as np

    from rfasim.generators import ImpedanceControlled
    from rfasim.grid import Grid
    from rfasim.physics import bioheat as kernels  # PennesBioheat.step calls bioheat.heat_step
    from rfasim.physics import electric
    from rfasim.probes import ProbePlacement, rasterize_probes
    from rfasim.solver import SimulationOptions, simulate
    from rfasim.tissue import TissueClass

    import_seconds = time.perf_counter() - start_import

    heat = {"seconds": 0.0, "cpu_seconds": 0.0, "calls": 0}
    original_heat_step = kernels.heat_step

    def timed_heat_step(*a):
        t0, c0 = time.perf_counter(), time.process_time()
        out = original_heat_step(*a)
        heat["seconds"] += time.perf_counter() - t0
        heat["cpu_seconds"] += time.process_time() - c0
        heat["calls"] += 1
        return out

    kernels.heat_step = timed_heat_step  # PennesBioheat.step calls heat_step through this module
    solves: list[tuple[float, int, bool, float]] = []
    problems: list = []
    original_solve = electric.ElectricProblem.solve
    original_update = electric.ElectricProblem.update
    method = original_solve if args.reference_child or args.electric == "solve" else original_update

    def recorded(self, conductivity, **keywords):
        if not any(p is self for p in problems):
            problems.append(self)
        cpu = time.process_time()
        solution = method(self, conductivity, **keywords) if method is original_update else method(self, conductivity)
        solves.append((solution.solve_seconds, solution.iterations, solution.local, time.process_time() - cpu))
        return solution

    # The loop calls ElectricProblem.solve; both names run the chosen scheme.
    electric.ElectricProblem.solve = recorded
    electric.ElectricProblem.update = recorded
    grid = Grid.centered(args.extent, args.spacing)
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    half = 15.0
    placement = ProbePlacement(
        "cooltip-17g-3cm", tip_mm=[0.0, 0.0, -half], entry_mm=[0.0, 0.0, args.extent]
    )
    electrodes = rasterize_probes([placement], grid, material)
    if args.reference_child:
        reference_solver = electric.MultigridSolver(relative_tolerance=1e-8, precision="float64")
        options = SimulationOptions(electric_solver=reference_solver, electric_update_tolerance=1e-9)
    else:
        options = SimulationOptions(electric_solver=args.solver)

    # Memory: the resident size before anything ran, then after a tiny warm-up run (which loads
    # the compiled kernels: code, not per-voxel data), so the growth of the fields can be told
    # from the growth of the code.
    rss_process = _rss_bytes()
    small = Grid.centered(40.0, args.spacing)
    small_material = np.full(small.shape, TissueClass.LIVER, np.uint8)
    small_electrodes = rasterize_probes(
        [ProbePlacement("cooltip-17g-3cm", tip_mm=[0.0, 0.0, -15.0], entry_mm=[0.0, 0.0, 40.0])], small, small_material)
    simulate(small, small_material, ImpedanceControlled(power_w=5.0, duration_s=3.0), small_electrodes,
             options=options)
    rss_warm = _rss_bytes()
    runs = []
    for _ in range(args.runs):
        heat.update(seconds=0.0, cpu_seconds=0.0, calls=0)
        solves.clear()
        problems.clear()
        rss_before = _rss_bytes()
        generator = ImpedanceControlled(power_w=args.power, duration_s=args.duration)
        cpu_start, load_start = time.process_time(), os.getloadavg()[0]
        result = simulate(grid, material, generator, electrodes, options=options)
        cpu_seconds = time.process_time() - cpu_start
        iterations = [n for _, n, _, _ in solves]
        solve_seconds = [s for s, _, _, _ in solves]
        counts = {"global_solves": 0, "local_updates": 0, "unchanged_calls": 0, "v_cycles_global": 0,
                  "v_cycles_local": 0}
        for problem in problems:
            for key, value in problem.statistics().items():
                counts[key] = counts.get(key, 0) + value
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        runs.append(
            {
                "wall_seconds": result.wall_seconds,
                "cpu_seconds": cpu_seconds,
                "load_average_1min": [load_start, os.getloadavg()[0]],
                "heat_steps": result.heat_steps,
                "time_step_s": result.time_step_s,
                "heat_seconds": heat["seconds"],
                "heat_cpu_seconds": heat["cpu_seconds"],
                "heat_voxel_updates_per_s": grid.size * result.heat_steps / heat["seconds"]
                if heat["seconds"]
                else None,
                "heat_ms_per_step": 1e3 * heat["seconds"] / max(result.heat_steps, 1),
                "electric_solves": result.electric_solves,
                "electric_seconds": result.electric_seconds,
                "electric_cpu_seconds": float(sum(c for _, _, _, c in solves)),
                "electric_scheme": "reference" if args.reference_child else args.electric,
                "electric_calls": len(solves),
                **{f"electric_{key}": value for key, value in counts.items()},
                "electric_seconds_local": float(sum(s for s, _, local, _ in solves if local)),
                "electric_seconds_global": float(sum(s for s, n, local, _ in solves if not local and n > 0)),
                "electric_seconds_per_solve": result.electric_seconds
                / max(result.electric_solves, 1),
                "electric_seconds_first_solve": solve_seconds[0] if solve_seconds else None,
                "cg_iterations_total": int(sum(iterations)),
                "cg_iterations_mean": float(np.mean(iterations)) if iterations else None,
                "cg_iterations_max": int(max(iterations)) if iterations else None,
                "other_seconds": result.wall_seconds - heat["seconds"] - result.electric_seconds,
                "zone_volume_ml_100c": result.zone_volume_ml(100.0),
                "zone_volume_ml_60c": result.zone_volume_ml(60.0),
                "damage_volume_ml_omega1": float((result.damage >= 1.0).sum())
                * grid.voxel_volume_ml,
                "peak_temperature_c": float(result.peak_temperature_c.max()),
                "rolloffs": result.rolloffs,
                "energy_delivered_j": float(result.energy.electrical_j),
                "energy_residual_j": float(result.energy.residual_j),
                "rss_before_simulate_bytes": rss_before,
                "maxrss_after_bytes": maxrss,
            }
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    baseline = rss_process
    return {
        "solver": args.solver,
        "grid_shape": list(grid.shape),
        "voxels": grid.size,
        "import_seconds": import_seconds,
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": numba.threading_layer(),
        "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR"),
        "runs": runs,
        "peak_memory": {
            "ru_maxrss_bytes": peak,
            "ru_maxrss_bytes_per_voxel": peak / grid.size,
            "rss_before_first_simulate_bytes": baseline,
            "increase_bytes": peak - baseline,
            "increase_bytes_per_voxel": (peak - baseline) / grid.size,
            "rss_after_warmup_bytes": rss_warm,
            "increase_after_warmup_bytes_per_voxel": (peak - rss_warm) / grid.size,
        },
    }


#: The accuracy guard of the speed work (issue 13): relative limits, and roll-offs within one.
GUARD_LIMITS = {"zone_volume_ml_100c": 0.02, "damage_volume_ml_omega1": 0.02, "energy_delivered_j": 0.02}


def accuracy_guard(run: dict, reference: dict) -> dict:
    """The measured run against the reference run: relative deltas and pass flags."""
    guard: dict = {}
    for key, limit in GUARD_LIMITS.items():
        delta = (run[key] - reference[key]) / reference[key] if reference[key] else float("nan")
        guard[key] = {"run": run[key], "reference": reference[key], "relative_delta": delta,
                      "limit": limit, "passed": bool(abs(delta) <= limit)}
    rolloffs = run["rolloffs"] - reference["rolloffs"]
    guard["rolloffs"] = {"run": run["rolloffs"], "reference": reference["rolloffs"], "delta": rolloffs,
                         "limit": 1, "passed": bool(abs(rolloffs) <= 1)}
    guard["passed"] = all(entry["passed"] for entry in guard.values() if isinstance(entry, dict))
    return guard


def spawn(
    args: argparse.Namespace, cache_dir: str, runs: int, solver: str, duration: float,
    reference: bool = False,
) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        "--runs",
        str(runs),
        "--solver",
        solver,
        "--spacing",
        str(args.spacing),
        "--extent",
        str(args.extent),
        "--duration",
        str(duration),
        "--power",
        str(args.power),
        "--electric",
        args.electric,
    ] + (["--reference-child"] if reference else [])
    start = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"child failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    figures = json.loads(completed.stdout)
    figures["process_seconds"] = elapsed  # interpreter start + imports + cache load + runs
    return figures


def peers(args: argparse.Namespace, cache_dir: str, steps: int) -> dict:
    """The heat step alone, rfasim beside py-pde and the hand-fused ceiling, on the case's grid
    (``benchmarks/heat_kernel.py`` in a child process of this run, the same step count)."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "heat_kernel.py")
    command = [sys.executable, script, "--extent", str(args.extent), "--spacing", str(args.spacing),
               "--steps", str(steps), "--repeats", "1"]
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"heat_kernel.py failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout[completed.stdout.index("{"):])


def peer_summary(peer: dict, heat_in_run: float) -> dict:
    """Ratios of the issue's heat-step targets (>= 3x py-pde, >= 0.5x the ceiling)."""
    ceiling = peer["ceiling"]["voxel_updates_per_s"]
    figures = {
        "ceiling_voxel_updates_per_s": ceiling,
        "heat_in_run_to_ceiling": heat_in_run / ceiling,
        "heat_alone_voxel_updates_per_s": peer["rfasim"]["voxel_updates_per_s"],
        "heat_alone_to_ceiling": peer["ratio_rfasim_to_ceiling"],
    }
    if "pypde" in peer:
        figures["pypde_voxel_updates_per_s"] = peer["pypde"]["voxel_updates_per_s"]
        figures["heat_alone_to_pypde"] = peer["ratio_rfasim_to_pypde"]
    return figures


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacing", type=float, default=1.0, help="voxel size (mm)")
    parser.add_argument("--extent", type=float, default=80.0, help="cube edge (mm)")
    parser.add_argument("--duration", type=float, default=720.0, help="protocol length (s)")
    parser.add_argument("--power", type=float, default=200.0, help="generator power cap (W)")
    parser.add_argument("--solver", default="multigrid", choices=("multigrid", "amg", "cg"))
    parser.add_argument(
        "--compare", default="", help="comma-separated solvers to compare (warm processes)"
    )
    parser.add_argument(
        "--compare-duration", type=float, default=None, help="duration for --compare (s)"
    )
    parser.add_argument(
        "--skip-cold", action="store_true", help="only the warm process (cache filled first)"
    )
    parser.add_argument(
        "--electric", default="update", choices=("update", "solve"),
        help="electric re-solves: local update with global correction, or always global",
    )
    parser.add_argument(
        "--reference", action="store_true",
        help="also run the reference (re-solve every step, float64, global) and compare",
    )
    parser.add_argument("--reference-from", help="reuse the reference section of this JSON")
    parser.add_argument(
        "--skip-peers", action="store_true",
        help="leave out the heat-step peers (benchmarks/heat_kernel.py: py-pde and the hand-fused ceiling)",
    )
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--reference-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(child(args)))
        return {}

    report: dict = {
        "benchmark": "standard_case",
        "case": {
            "probe": "cooltip-17g-3cm along z through the centre",
            "generator": f"ImpedanceControlled(power_w={args.power:g}, duration_s={args.duration:g})",
            "extent_mm": args.extent,
            "spacing_mm": args.spacing,
            "tissue": "perfused liver",
            "solver": args.solver,
            "electric": args.electric,
        },
        "environment": {
            "cpus": os.cpu_count(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
            "numba_threading_layer": os.environ.get("NUMBA_THREADING_LAYER", "default"),
            "load_average_start": list(os.getloadavg()),
        },
    }
    with tempfile.TemporaryDirectory(prefix="rfasim-numba-cache-") as cache_dir:
        if args.skip_cold:
            # Fill the cache with a tiny case first, so the measured process is warm.
            spawn(
                argparse.Namespace(**{**vars(args), "extent": 12.0 * args.spacing + 32.0}),
                cache_dir,
                1,
                args.solver,
                2.0,
            )
        else:
            cold = spawn(args, cache_dir, 2, args.solver, args.duration)
            report["cold_process"] = cold
        warm = spawn(args, cache_dir, 1, args.solver, args.duration)
        report["warm_process"] = warm
        summary = {
            "voxels": warm["voxels"],
            "wall_seconds_warm_process": warm["runs"][0]["wall_seconds"],
            "cpu_seconds_warm_process": warm["runs"][0]["cpu_seconds"],
            "load_average_1min_during": warm["runs"][0]["load_average_1min"],
            "process_seconds_warm": warm["process_seconds"],
            "heat_seconds": warm["runs"][0]["heat_seconds"],
            "heat_cpu_seconds": warm["runs"][0]["heat_cpu_seconds"],
            "heat_voxel_updates_per_s": warm["runs"][0]["heat_voxel_updates_per_s"],
            "electric_solves": warm["runs"][0]["electric_solves"],
            "electric_seconds": warm["runs"][0]["electric_seconds"],
            "electric_cpu_seconds": warm["runs"][0]["electric_cpu_seconds"],
            "electric_global_solves": warm["runs"][0]["electric_global_solves"],
            "electric_local_updates": warm["runs"][0]["electric_local_updates"],
            "electric_unchanged_calls": warm["runs"][0]["electric_unchanged_calls"],
            "electric_v_cycles_global": warm["runs"][0]["electric_v_cycles_global"],
            "electric_v_cycles_local": warm["runs"][0]["electric_v_cycles_local"],
            **{key: value for key, value in warm["runs"][0].items() if key.startswith("electric_corrections_")},
            "zone_volume_ml_100c": warm["runs"][0]["zone_volume_ml_100c"],
            "rolloffs": warm["runs"][0]["rolloffs"],
            "peak_memory_bytes_per_voxel_total": warm["peak_memory"]["ru_maxrss_bytes_per_voxel"],
            "peak_memory_bytes_per_voxel_increase": warm["peak_memory"]["increase_bytes_per_voxel"],
            "peak_memory_bytes_per_voxel_increase_after_warmup": warm["peak_memory"][
                "increase_after_warmup_bytes_per_voxel"],
        }
        if not args.skip_cold:
            summary["wall_seconds_cold"] = cold["runs"][0]["wall_seconds"]
            summary["process_seconds_cold"] = cold["process_seconds"]
            summary["wall_seconds_warm_in_process"] = cold["runs"][1]["wall_seconds"]
            summary["jit_seconds_estimate"] = (
                cold["runs"][0]["wall_seconds"] - cold["runs"][1]["wall_seconds"]
            )
        report["summary"] = summary
        if not args.skip_peers:
            report["peers"] = peers(args, cache_dir, warm["runs"][0]["heat_steps"])
            summary.update(peer_summary(report["peers"], summary["heat_voxel_updates_per_s"]))
        if args.reference or args.reference_from:
            if args.reference_from:
                with open(args.reference_from) as handle:
                    reference = json.load(handle)["reference"]
                reference["reused_from"] = args.reference_from
            else:
                figures = spawn(args, cache_dir, 1, "multigrid", args.duration, reference=True)
                reference = {"run": figures["runs"][0], "process_seconds": figures["process_seconds"]}
            report["reference"] = reference
            report["accuracy_guard"] = accuracy_guard(warm["runs"][0], reference["run"])
        if args.compare:
            duration = args.compare_duration or args.duration
            comparison = {}
            for solver in [s.strip() for s in args.compare.split(",") if s.strip()]:
                figures = spawn(args, cache_dir, 1, solver, duration)
                run = figures["runs"][0]
                comparison[solver] = {
                    key: run[key]
                    for key in (
                        "wall_seconds",
                        "electric_solves",
                        "electric_seconds",
                        "electric_seconds_per_solve",
                        "electric_seconds_first_solve",
                        "cg_iterations_mean",
                        "cg_iterations_max",
                        "zone_volume_ml_100c",
                        "rolloffs",
                    )
                }
                comparison[solver]["ru_maxrss_bytes"] = figures["peak_memory"]["ru_maxrss_bytes"]
            report["solver_comparison"] = {"duration_s": duration, "solvers": comparison}
    report["environment"]["load_average_end"] = list(os.getloadavg())
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    return report


if __name__ == "__main__":
    main()
