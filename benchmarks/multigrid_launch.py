"""Experiment: parallel-region launch cost on the coarse multigrid levels.

Every kernel of :mod:`rfasim.physics.multigrid` is ``parallel=True``, including on the coarse
levels (40^3 ... 3^3) and the 40 Gauss-Seidel sweeps of the coarsest solve: one V-cycle opens
~140 parallel regions of which most hold a few hundred voxels.  On a shared machine with GNU
OpenMP's default wait policy each such launch can cost a scheduler time slice (milliseconds)
instead of microseconds.  This script times, on the standard case's electric system:

- ``production``: ``MultigridPreconditioner.apply``, the Python-driven reference V-cycle (the
  production path since issue 13 is ``MultigridHierarchy``, one compiled serial call per
  V-cycle, reported as ``vcycle_seconds_compiled_float32``);
- ``serial_coarse``: a local copy of the V-cycle that runs levels below ``--serial-below``
  voxels with serial compilations of the same kernels (``numba.njit(kernel.py_func)``; prange
  becomes range) and does the coarsest sweeps in one call;

and checks that both give the same result.  The parallel-launch cost itself is measured on a
3^3 array.  Run it with and without ``OMP_WAIT_POLICY=PASSIVE`` to see the environment effect.

Usage::

    python benchmarks/multigrid_launch.py [--extent 80] [--spacing 1] [--repeats 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numba
import numpy as np

from rfasim.grid import Grid
from rfasim.physics import multigrid as mg
from rfasim.physics.electric import ElectricProblem
from rfasim.probes import ProbePlacement, rasterize_probes
from rfasim.tissue import TissueClass

smooth_serial = numba.njit(cache=True)(mg.smooth_color.py_func)
apply_serial = numba.njit(cache=True)(mg.apply_operator.py_func)
restrict_serial = numba.njit(cache=True)(mg.restrict_sum.py_func)
prolong_serial = numba.njit(cache=True)(mg.prolong_add.py_func)


@numba.njit(cache=True)
def coarsest_sweeps(u, f, gx, gy, gz, d, active, sweeps):  # pragma: no cover - compiled
    for _ in range(sweeps):
        smooth_serial(u, f, gx, gy, gz, d, active, 0)
        smooth_serial(u, f, gx, gy, gz, d, active, 1)


class SerialCoarsePreconditioner(mg.MultigridPreconditioner):
    """Same V-cycle; levels smaller than ``serial_below`` voxels use serial kernels."""

    def __init__(self, fine, serial_below: int = 32768, **kw) -> None:
        super().__init__(fine, **kw)
        self.serial_below = serial_below

    def _cycle(self, depth, rhs):
        level = self.levels[depth]
        small = level.active.size < self.serial_below
        smooth = smooth_serial if small else mg.smooth_color
        apply = apply_serial if small else mg.apply_operator
        restrict = restrict_serial if small else mg.restrict_sum
        prolong = prolong_serial if small else mg.prolong_add
        solution, residual, operator = self._work[depth]
        solution[...] = 0.0
        args = (level.gx, level.gy, level.gz, level.diagonal_extra, level.active)
        if depth == len(self.levels) - 1:
            coarsest_sweeps(solution, rhs, *args, 40)
            return solution
        for _ in range(self.smoothing_sweeps):
            smooth(solution, rhs, *args, 0)
            smooth(solution, rhs, *args, 1)
        apply(solution, *args, operator)
        np.subtract(rhs, operator, out=residual)
        coarse_rhs = np.zeros(self.levels[depth + 1].shape)
        restrict(residual, coarse_rhs)
        correction = self._cycle(depth + 1, coarse_rhs)
        prolong(correction, solution, level.active)
        for _ in range(self.smoothing_sweeps):
            smooth(solution, rhs, *args, 1)
            smooth(solution, rhs, *args, 0)
        return solution


def best_of(function, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extent", type=float, default=80.0)
    parser.add_argument("--spacing", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--serial-below", type=int, default=32768, help="voxels below which a level runs serially"
    )
    parser.add_argument("--out")
    args = parser.parse_args(argv)

    grid = Grid.centered(args.extent, args.spacing)
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    probe = ProbePlacement(
        "cooltip-17g-3cm", tip_mm=[0.0, 0.0, -15.0], entry_mm=[0.0, 0.0, args.extent]
    )
    problem = ElectricProblem(grid, rasterize_probes([probe], grid, material))
    level, rhs, _ = problem.assemble(np.full(grid.shape, 0.333))

    production = mg.MultigridPreconditioner(level)
    compiled = mg.MultigridHierarchy(level.shape, np.float32)
    compiled.update(*mg.pad_faces(level), level.diagonal_extra)
    compiled.apply(rhs)
    variant = SerialCoarsePreconditioner(level, serial_below=args.serial_below)
    reference = production.apply(rhs)
    candidate = variant.apply(rhs)
    tiny = production.levels[-1]
    u, f = np.zeros(tiny.shape), np.ones(tiny.shape)
    tiny_args = (tiny.gx, tiny.gy, tiny.gz, tiny.diagonal_extra, tiny.active)
    smooth_serial(u, f, *tiny_args, 0)

    def launches(kernel):
        def run():
            for _ in range(100):
                kernel(u, f, *tiny_args, 0)

        return run

    result = {
        "benchmark": "multigrid_launch",
        "grid_shape": list(grid.shape),
        "levels": [list(lv.shape) for lv in production.levels],
        "numba_threads": numba.get_num_threads(),
        "threading_layer": numba.threading_layer(),
        "omp_wait_policy_env": os.environ.get("OMP_WAIT_POLICY", "unset"),
        "load_average_start": list(os.getloadavg()),
        "parallel_launch_us_3cube": 1e4 * best_of(launches(mg.smooth_color), args.repeats),
        "serial_call_us_3cube": 1e4 * best_of(launches(smooth_serial), args.repeats),
        "vcycle_seconds_production": best_of(lambda: production.apply(rhs), args.repeats),
        "vcycle_seconds_serial_coarse": best_of(lambda: variant.apply(rhs), args.repeats),
        "vcycle_seconds_compiled_float32": best_of(lambda: compiled.apply(rhs), args.repeats),
        "max_abs_difference": float(np.abs(reference - candidate).max()),
        "max_abs_reference": float(np.abs(reference).max()),
    }
    result["vcycle_speedup"] = (
        result["vcycle_seconds_production"] / result["vcycle_seconds_serial_coarse"]
    )
    result["load_average_end"] = list(os.getloadavg())
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    return result


if __name__ == "__main__":
    main()
