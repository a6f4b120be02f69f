"""Run time of the automatic planner on a phantom, including the verifying simulation (JSON).

    python benchmarks/planner.py --phantom liver-25mm --devices leveen-3cm,cooltip-17g-3cm
    python benchmarks/planner.py --cold      # empty zone-library cache: library and calibration runs counted

Prints one JSON object: the timings of each step (context, zone library, search, verification),
the plan found, and the fast estimate against the verified result per criterion.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantom", default="liver-25mm")
    parser.add_argument("--devices", default="leveen-3cm,cooltip-17g-3cm")
    parser.add_argument("--criterion", choices=("isotherm", "arrhenius"), default="isotherm")
    parser.add_argument("--spacing", type=float, default=2.0)
    parser.add_argument("--cold", action="store_true", help="use an empty zone-library cache")
    parser.add_argument("--out", help="also write the JSON here")
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rfasim-planner-bench-"))
    if arguments.cold:
        os.environ["RFASIM_CACHE_DIR"] = str(folder / "cache")

    from rfasim.case import load_case
    from rfasim.phantoms import write_phantom
    from rfasim.planner import PlannerOptions, plan_automatically
    from rfasim.planner.outputs import planner_report

    paths = write_phantom(arguments.phantom, folder / "case")
    case = load_case(paths["case"])
    if arguments.criterion == "arrhenius":
        case.zone_criterion, case.zone_threshold_c = "arrhenius", None
    start = time.perf_counter()
    plan = plan_automatically(case, PlannerOptions(devices=tuple(arguments.devices.split(",")),
                                                   spacing_mm=arguments.spacing, progress=False))
    wall = time.perf_counter() - start
    report = planner_report(plan)
    result = {
        "phantom": arguments.phantom, "criterion": arguments.criterion, "devices": arguments.devices,
        "spacing_mm": arguments.spacing, "cold_cache": arguments.cold, "cpu_count": os.cpu_count(),
        "wall_s": round(wall, 1), "timings_s": report["timings_s"], "meets_target": plan.meets_target,
        "refused": plan.refused, "verdict": report["verdict"],
        "verifications": report["verifications"],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if arguments.out:
        Path(arguments.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
