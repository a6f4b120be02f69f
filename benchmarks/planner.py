"""Run time of the automatic planner on phantoms, including the verifying simulation (JSON).

    python benchmarks/planner.py --phantom liver-25mm --devices leveen-3cm,cooltip-17g-3cm
    python benchmarks/planner.py --phantom all --out benchmarks/results/planner.json
    python benchmarks/planner.py --cold      # empty zone-library cache and no shipped library

One process per phantom (so that every run pays the same process start and Numba cache loads, as
a user's ``rfasim plan --auto`` does).  Prints one JSON object: per phantom the wall and CPU
seconds, the timings of each step (context, zone library, each search stage, verification), the
plan found and the fast estimate against the verified result per criterion; and the machine's load
average before and after (the 2 cores are shared: read the walls with it).
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
from pathlib import Path

#: The named phantoms the planner is benchmarked on (issue 14).
PHANTOMS = ("liver-25mm", "vessel-30mm", "two-tumors", "large-vessel-20mm", "dome-20mm")


def one_run(arguments: argparse.Namespace) -> dict:
    """The planner on one phantom, in this process."""
    folder = Path(tempfile.mkdtemp(prefix="rfasim-planner-bench-"))
    if arguments.cold:
        os.environ["RFASIM_CACHE_DIR"] = str(folder / "cache")
        import rfasim.planner.library as library

        library.shipped_folder = lambda: folder / "no-shipped-library"  # type: ignore[assignment]
    start = time.perf_counter()
    cpu_start = time.process_time()
    from rfasim.case import load_case
    from rfasim.phantoms import write_phantom
    from rfasim.planner import PlannerOptions, plan_automatically
    from rfasim.planner.outputs import planner_report

    paths = write_phantom(arguments.phantom, folder / "case")
    case = load_case(paths["case"])
    if arguments.criterion == "arrhenius":
        case.zone_criterion, case.zone_threshold_c = "arrhenius", None
    planning = time.perf_counter()
    plan = plan_automatically(case, PlannerOptions(
        devices=tuple(arguments.devices.split(",")), spacing_mm=arguments.spacing,
        verification_spacing_mm=arguments.verify_spacing, progress=False))
    wall = time.perf_counter() - planning
    report = planner_report(plan)
    stages = [{"device": c["device"], "probes": c["probes"], "protocol": c["protocol"],
               "fast_coverage_pct": c["fast_coverage_of_tumor_and_margin_pct"], "wall_s": c["search_wall_s"]}
              for search in report["search"] for c in search["tried"]]
    return {
        "phantom": arguments.phantom, "criterion": arguments.criterion, "devices": arguments.devices,
        "spacing_mm": arguments.spacing, "verify_spacing_mm": arguments.verify_spacing or arguments.spacing,
        "cold_cache": arguments.cold, "planner_wall_s": round(wall, 1),
        "process_wall_s": round(time.perf_counter() - start, 1),
        "process_cpu_s": round(time.process_time() - cpu_start, 1),
        "timings_s": report["timings_s"], "search_stages": stages, "meets_target": plan.meets_target,
        "refused": plan.refused, "verdict": report["verdict"],
        "verifications": [{"candidate": {k: v["candidate"][k] for k in ("device", "probes", "protocol")},
                           "verified": v["verified"], "fast_estimate": v["fast_estimate"],
                           "zone_overlap_iou": v["zone_overlap_iou"]} for v in report["verifications"]],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantom", default="liver-25mm", help="a phantom name, or 'all'")
    parser.add_argument("--devices", default="leveen-3cm,cooltip-17g-3cm")
    parser.add_argument("--criterion", choices=("isotherm", "arrhenius"), default="isotherm")
    parser.add_argument("--spacing", type=float, default=2.0, help="search spacing (mm)")
    parser.add_argument("--verify-spacing", type=float, default=None, help="verification spacing (mm)")
    parser.add_argument("--cold", action="store_true", help="empty zone-library cache, shipped library ignored")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help="also write the JSON here")
    arguments = parser.parse_args()
    if arguments.single:
        print(json.dumps(one_run(arguments)))
        return 0
    phantoms = PHANTOMS if arguments.phantom == "all" else (arguments.phantom,)
    load_before = os.getloadavg()
    runs = []
    for phantom in phantoms:
        command = [sys.executable, __file__, "--single", "--phantom", phantom, "--devices", arguments.devices,
                   "--criterion", arguments.criterion, "--spacing", str(arguments.spacing)]
        if arguments.verify_spacing:
            command += ["--verify-spacing", str(arguments.verify_spacing)]
        if arguments.cold:
            command.append("--cold")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = os.getloadavg()[0]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        run = json.loads(output.strip().splitlines()[-1])
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        run["child_cpu_s"] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1)
        run["load_average_1min_at_start"] = round(load, 2)
        runs.append(run)
        print(f"{phantom}: {run['process_wall_s']} s wall, {run['child_cpu_s']} s CPU, load {load:.1f}, "
              f"meets: {run['meets_target']}", file=sys.stderr, flush=True)
    result = {"cpu_count": os.cpu_count(), "load_average_before": [round(v, 2) for v in load_before],
              "load_average_after": [round(v, 2) for v in os.getloadavg()], "runs": runs}
    text = json.dumps(result, indent=2)
    print(text)
    if arguments.out:
        from rfasim.atomic import write_text

        write_text(Path(arguments.out), text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
