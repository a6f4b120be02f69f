"""The local electric update on the coarse regression runs, against global solves.

Runs the phantoms of ``tests/regression/reference_runs.py`` (3 mm, 150 s) with the loop's
re-solves done globally and with local-update variants, and prints JSON: per phantom and
variant the largest relative metric difference, the largest peak-temperature difference (degC),
zone voxels flipped, and the electric statistics.

    python benchmarks/local_update_coarse.py [--variants reference,global,local] [--against reference]
        [--phantoms liver-25mm,...] [--spacing 3] [--out FILE]

A variant is ``reference`` (the field re-solved at every step, CG to 1e-8 with a float64
V-cycle: the accuracy guard's reference), ``global`` (the loop's re-solves global),
``local`` (the defaults of LocalUpdateOptions) or ``local:key=value;key=value``
(LocalUpdateOptions fields, e.g. ``local:margin_mm=20``; ``tolerance=`` sets the loop's
sigma-drift tolerance).  ``--against`` names the variant the others are compared with.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "regression"))
import reference_runs  # noqa: E402

#: Figures of the issue's accuracy guard: relative deltas, the roll-off count as a difference.
GUARD_KEYS = ("zone.volume_ml", "zone_arrhenius.volume_ml", "generator.energy_j", "generator.rolloffs",
              "peak_temperature_c")


def _parse(variant: str) -> tuple[str, dict[str, float]]:
    mode, _, rest = variant.partition(":")
    values: dict[str, float] = {}
    for item in filter(None, rest.split(";")):
        key, _, value = item.partition("=")
        values[key] = float(value) if "." in value or "e" in value else int(value)
    return mode, values


def _install(mode: str, values: dict[str, float], statistics: list[dict]) -> None:
    """Route the loop's re-solves: global, or local with the given LocalUpdateOptions."""
    from rfasim.physics.local_update import LocalUpdateOptions
    from rfasim.simulation import electric_coupling

    original = electric_coupling.ElectricCoupling.__original_init__ if hasattr(
        electric_coupling.ElectricCoupling, "__original_init__") else electric_coupling.ElectricCoupling.__init__
    electric_coupling.ElectricCoupling.__original_init__ = original

    from rfasim.physics.electric import MultigridSolver

    values = dict(values)
    tolerance = values.pop("tolerance", None)

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.local_updates = mode == "local"
        if mode == "reference":
            self.tolerance = 1e-9
        elif tolerance is not None:
            self.tolerance = float(tolerance)
        for configuration in self.configurations:
            configuration.problem.local_options = dataclasses.replace(LocalUpdateOptions(), **values)
            if mode == "reference":
                configuration.problem.solver = MultigridSolver(relative_tolerance=1e-8, precision="float64")
            statistics.append(configuration.problem)

    electric_coupling.ElectricCoupling.__init__ = init


def _compare(run: dict[str, np.ndarray], base: dict[str, np.ndarray], name: str) -> dict[str, float]:
    keys = [str(k) for k in base[f"{name}/metric_keys"]]
    ignored = reference_runs.IGNORED_KEYS
    now = dict(zip(map(str, run[f"{name}/metric_keys"]), run[f"{name}/metric_values"], strict=True))
    worst, worst_key, worst_abs = 0.0, "", 0.0
    for key, value in zip(keys, base[f"{name}/metric_values"], strict=True):
        if key.split(".")[-1] in ignored or key not in now:
            continue
        delta = abs(now[key] - value)
        relative = delta / max(abs(value), 1e-9)
        if delta > 0.011 and relative > worst:
            worst, worst_key, worst_abs = relative, key, delta
    out = {"worst_metric_relative": worst, "worst_metric": worst_key, "worst_metric_abs": worst_abs}
    reference = dict(zip(keys, base[f"{name}/metric_values"], strict=True))
    for key in GUARD_KEYS:  # the accuracy guard's figures
        if key in reference and key in now:
            delta = now[key] - reference[key]
            out[key] = delta if key == "generator.rolloffs" else delta / reference[key] if reference[key] else delta
    if f"{name}/box" in base:
        if np.array_equal(run[f"{name}/box"], base[f"{name}/box"]):
            out["peak_temperature_max_abs_c"] = float(np.max(np.abs(run[f"{name}/temperature_max"]
                                                                    - base[f"{name}/temperature_max"])))
            out["zone_voxels_flipped"] = int(np.sum(run[f"{name}/zone"] != base[f"{name}/zone"]))
        else:
            out["box_changed"] = True
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="global,local")
    parser.add_argument("--phantoms", default=",".join(reference_runs.PHANTOMS))
    parser.add_argument("--against", default="global", help="variant compared against (first run)")
    parser.add_argument("--spacing", type=float, default=reference_runs.SPACING_MM, help="simulation spacing (mm)")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    reference_runs.SPACING_MM = args.spacing
    variants = [v for v in args.variants.split(",") if v]
    if args.against not in variants:
        variants.insert(0, args.against)
    results: dict[str, dict] = {}
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for variant in variants:
        mode, values = _parse(variant)
        for name in args.phantoms.split(","):
            problems: list = []
            _install(mode, values, problems)
            with tempfile.TemporaryDirectory() as folder:
                wall, cpu = time.perf_counter(), time.process_time()
                arrays.setdefault(variant, {}).update(reference_runs.run_phantom(name, Path(folder)))
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            entry = {"wall_s": wall, "cpu_s": cpu}
            for problem in problems:
                for key, value in problem.statistics().items():
                    entry[key] = entry.get(key, 0) + value
            results.setdefault(variant, {})[name] = entry
    for variant in variants:
        for name in args.phantoms.split(","):
            results[variant][name].update(_compare(arrays[variant], arrays[args.against], name))
    text = json.dumps({"benchmark": "local_update_coarse", "spacing_mm": args.spacing, "against": args.against,
                       "duration_s": reference_runs.DURATION_S, "results": results}, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
