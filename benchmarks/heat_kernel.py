"""Pennes heat step alone: rfasim's fused kernel vs py-pde vs a hand-fused Numba stencil.

All three advance the same problem on the same grid, with the same step and number of steps
(explicit Euler):

    rho c dT/dt = k laplace(T) + S(x) - w rho_b c_b (T - 37)

liver properties, a fixed Gaussian source S at the centre (weak enough that the peak stays
below 43 degC, so rfasim's Arrhenius damage never switches the perfusion off and the three
codes solve the identical linear problem), the outer voxel layer held at 37 degC.

(a) rfasim's production step: ``PennesBioheat.step`` (material lookups, enthalpy update, peak
    temperature, energy tallies) with the Arrhenius and CEM43 doses accumulated in the same
    pass, as the simulation runs it (``Simulation._fuse_damage``).
(b) py-pde: ``pde.PDE({"T": "D*laplace(T) + S - P*(T - 37)"})`` on the interior cells with a
    ``virtual_point`` boundary at 37 degC (the ghost cell is rfasim's fixed outer voxel), the
    ``EulerSolver`` with the numba backend, fixed dt; the stepper is compiled by a one-step call
    before the timed call, so JIT time is excluded.
(c) the simplest parallel 7-point Pennes update with constant coefficients: the practical
    ceiling of the machine for this stencil.

Each is timed ``--repeats`` times (best kept); voxel-updates per second count the voxels each
code updates (rfasim and the ceiling: the whole grid; py-pde: the interior cells).  The final
fields are compared (max |dT|) so that the comparison is fair.

Usage::

    python benchmarks/heat_kernel.py [--extent 80] [--spacing 1] [--steps 720] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numba
import numpy as np

from rfasim.grid import Grid
from rfasim.physics.bioheat import PennesBioheat
from rfasim.physics.damage import damage_model
from rfasim.tissue import TissueClass, TissueModel

BODY_C = 37.0


def pennes_problem(extent_mm: float, spacing_mm: float, peak_power_w_per_m3: float):
    grid = Grid.centered(extent_mm, spacing_mm)
    tissue = TissueModel()
    table = tissue.property_table(grid.spacing_m)
    liver = int(TissueClass.LIVER)
    x, y, z = grid.voxel_centers_mm()
    r2 = x**2 + y**2 + z**2
    source = peak_power_w_per_m3 * np.exp(-r2 / (2 * 5.0**2))
    source[0, :, :] = source[-1, :, :] = 0.0
    source[:, 0, :] = source[:, -1, :] = 0.0
    source[:, :, 0] = source[:, :, -1] = 0.0
    rho_c = table.density_kg_per_m3[liver] * table.specific_heat_j_per_kg_k[liver]
    constants = {
        "h": grid.spacing_m,
        "k": float(table.thermal_conductivity_w_per_m_k[liver]),
        "rho_c": float(rho_c),
        "perfusion": float(
            table.perfusion_rate_per_s[liver] * tissue.blood_heat_capacity_j_per_m3_k
        ),
    }
    return grid, tissue, table, source, constants


# --------------------------------------------------------------------------- (a) rfasim
def run_rfasim(grid, tissue, table, source, dt, steps, repeats):
    """The production step as the simulation runs it: the Pennes kernel, then the damage models."""
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    model = PennesBioheat(tissue, grid.spacing_m)
    temperature = np.full(grid.shape, BODY_C)
    boundary = model.apply_boundary_conditions(material, temperature, [])
    damage_models = [damage_model(name, tissue) for name in ("arrhenius", "cem43")]
    zeros = np.zeros(grid.shape, np.float32)
    best = math.inf
    final = None
    doses: dict = {}
    tallies = None
    for repeat in range(repeats + 1):  # the first round compiles (or loads) the kernels
        t = np.full(grid.shape, BODY_C)
        t_new = t.copy()
        peak = t.astype(np.float32)
        doses = {m.name: m.initial_dose(grid.shape) for m in damage_models}
        constants = model.fused_damage_constants(model.constants(dt), damage_models[0].kernel_parameters(), True,
                                                 doses["arrhenius"], peak)
        rounds = 1 if repeat == 0 else steps
        start = time.perf_counter()
        for _ in range(rounds):
            tallies = model.step(t, t_new, material, boundary, doses["arrhenius"], peak, zeros, zeros, source,
                                 constants, 0.0, doses["cem43"])
            t, t_new = t_new, t
        if repeat > 0:
            best = min(best, time.perf_counter() - start)
            final = t
    return best, final, float(doses["arrhenius"].max()), np.asarray(tallies)


# --------------------------------------------------------------------------- (b) py-pde
def run_pypde(grid, source, constants, dt, steps, repeats):
    import pde
    from pde.solvers import EulerSolver

    n = [s - 2 for s in grid.shape]
    h = constants["h"]
    box = [(0.0, n_i * h) for n_i in n]
    pgrid = pde.CartesianGrid(box, n)
    interior = (slice(1, -1),) * 3
    s_field = pde.ScalarField(pgrid, source[interior] / constants["rho_c"])
    eq = pde.PDE(
        {"T": "D*laplace(T) + S - P*(T - 37)"},
        bc={"virtual_point": "37"},
        consts={
            "D": constants["k"] / constants["rho_c"],
            "P": constants["perfusion"] / constants["rho_c"],
            "S": s_field,
        },
    )
    best = math.inf
    final = None
    state = pde.ScalarField(pgrid, BODY_C)
    solver = EulerSolver(eq, backend="numba", adaptive=False)
    start = time.perf_counter()
    stepper = solver.make_stepper(state, dt=dt)
    stepper(state, 0.0, dt * 0.5)  # one step: compiles, not timed
    compile_s = time.perf_counter() - start
    for _ in range(repeats):
        state.data[...] = BODY_C  # restart from rest; the compiled stepper is kept
        start = time.perf_counter()
        t_last = stepper(state, 0.0, dt * (steps - 0.5))
        best = min(best, time.perf_counter() - start)
        final = state.data.copy()
        steps_done = round(t_last / dt)
    if steps_done != steps:
        print(f"warning: py-pde took {steps_done} steps, not {steps}", file=sys.stderr)
    full = np.full(grid.shape, BODY_C)
    full[interior] = final
    return best, full, compile_s, int(np.prod(n))


# --------------------------------------------------------------------------- (c) ceiling
@numba.njit(parallel=True, fastmath=False)
def fused_pennes(t, t_new, source, a, b, c):  # pragma: no cover - compiled
    """t_new = t + a*lap(t) + b*source - c*(t - 37) inside; outer layer copied."""
    nx, ny, nz = t.shape
    for i in numba.prange(nx):
        for j in range(ny):
            for k in range(nz):
                if i == 0 or j == 0 or k == 0 or i == nx - 1 or j == ny - 1 or k == nz - 1:
                    t_new[i, j, k] = t[i, j, k]
                else:
                    here = t[i, j, k]
                    lap = (
                        t[i - 1, j, k]
                        + t[i + 1, j, k]
                        + t[i, j - 1, k]
                        + t[i, j + 1, k]
                        + t[i, j, k - 1]
                        + t[i, j, k + 1]
                        - 6.0 * here
                    )
                    t_new[i, j, k] = here + a * lap + b * source[i, j, k] - c * (here - 37.0)


def run_ceiling(grid, source, constants, dt, steps, repeats):
    h, k, rho_c = constants["h"], constants["k"], constants["rho_c"]
    a, b, c = dt * k / (rho_c * h * h), dt / rho_c, dt * constants["perfusion"] / rho_c
    best = math.inf
    final = None
    for _ in range(repeats):
        t = np.full(grid.shape, BODY_C)
        t_new = t.copy()
        fused_pennes(t.copy(), t_new.copy(), source, a, b, c)  # JIT
        start = time.perf_counter()
        for _ in range(steps):
            fused_pennes(t, t_new, source, a, b, c)
            t, t_new = t_new, t
        best = min(best, time.perf_counter() - start)
        final = t
    return best, final


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extent", type=float, default=80.0, help="cube edge (mm)")
    parser.add_argument("--spacing", type=float, default=1.0, help="voxel size (mm)")
    parser.add_argument(
        "--steps", type=int, default=720, help="heat steps (the standard case's count)"
    )
    parser.add_argument(
        "--dt", type=float, default=1.0, help="time step (s): the standard case's step"
    )
    parser.add_argument("--source", type=float, default=4.0e4, help="peak source (W/m^3)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-pypde", action="store_true")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)

    grid, tissue, table, source, constants = pennes_problem(args.extent, args.spacing, args.source)
    steps = args.steps
    result: dict = {
        "benchmark": "heat_kernel",
        "grid_shape": list(grid.shape),
        "voxels": grid.size,
        "steps": steps,
        "dt_s": args.dt,
        "numba_threads": numba.get_num_threads(),
        "threading_layer_env": os.environ.get("NUMBA_THREADING_LAYER", "default"),
        "omp_wait_policy_env": os.environ.get("OMP_WAIT_POLICY", "unset"),
        "load_average_start": list(os.getloadavg()),
    }
    seconds, t_rfasim, damage_max, tallies = run_rfasim(
        grid, tissue, table, source, args.dt, steps, args.repeats
    )
    result["rfasim"] = {
        "seconds": seconds,
        "voxel_updates_per_s": grid.size * steps / seconds,
        "peak_temperature_c": float(t_rfasim.max()),
        "max_damage": damage_max,
    }
    seconds, t_ceiling = run_ceiling(grid, source, constants, args.dt, steps, args.repeats)
    result["ceiling"] = {
        "seconds": seconds,
        "voxel_updates_per_s": grid.size * steps / seconds,
        "max_abs_dt_vs_rfasim_c": float(np.abs(t_ceiling - t_rfasim).max()),
    }
    result["ratio_rfasim_to_ceiling"] = (
        result["rfasim"]["voxel_updates_per_s"] / result["ceiling"]["voxel_updates_per_s"]
    )
    if not args.skip_pypde:
        seconds, t_pde, compile_s, cells = run_pypde(
            grid, source, constants, args.dt, steps, args.repeats
        )
        result["pypde"] = {
            "seconds": seconds,
            "compile_seconds_excluded": compile_s,
            "cells": cells,
            "voxel_updates_per_s": cells * steps / seconds,
            "max_abs_dt_vs_rfasim_c": float(np.abs(t_pde - t_rfasim).max()),
        }
        result["ratio_rfasim_to_pypde"] = (
            result["rfasim"]["voxel_updates_per_s"] / result["pypde"]["voxel_updates_per_s"]
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
