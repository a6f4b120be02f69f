"""Pennes heat step alone: rfasim's fused kernel vs py-pde vs a hand-fused Numba stencil.

All three advance the same problem on the same grid, with the same step and number of steps
(explicit Euler):

    rho c dT/dt = k laplace(T) + S(x) - w rho_b c_b (T - 37)

liver properties, a fixed Gaussian source S at the centre (weak enough that the peak stays
below 43 degC, so rfasim's Arrhenius damage never switches the perfusion off and the three
codes solve the identical linear problem), the outer voxel layer held at 37 degC.

(a) ``rfasim.physics.kernels.heat_step``: the production kernel with all its work (material
    lookups, enthalpy update, damage, CEM43, peak temperature, energy tallies).
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
from rfasim.physics import kernels
from rfasim.solver import half_resistances, kernel_parameters
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
def run_rfasim(grid, tissue, table, source, dt, steps, repeats, variant=False):
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    fixed = np.zeros(grid.shape, np.uint8)
    fixed[0, :, :] = fixed[-1, :, :] = fixed[:, 0, :] = fixed[:, -1, :] = fixed[:, :, 0] = fixed[
        :, :, -1
    ] = 1
    h = grid.spacing_m
    half_resistance = half_resistances(table, h)
    p = kernel_parameters(tissue, h, dt)
    p[kernels.P_V2] = 0.0
    zeros = np.zeros(grid.shape)
    step = kernels.heat_step
    resistance_or_g = half_resistance
    if variant:
        step, resistance_or_g = variant_heat_step, pair_conductances(half_resistance, h)
    best = math.inf
    final = None
    for _ in range(repeats):
        t = np.full(grid.shape, BODY_C)
        t_new = t.copy()
        damage, cem, peak = np.zeros(grid.shape), np.zeros(grid.shape), t.copy()
        args = (
            material,
            fixed,
            damage,
            cem,
            peak,
            zeros,
            zeros,
            source,
            table.density_kg_per_m3,
            table.specific_heat_j_per_kg_k,
            resistance_or_g,
            table.electrical_conductivity_s_per_m,
            table.conductivity_temperature_coefficient_per_k,
            table.perfusion_rate_per_s,
            table.metabolic_heat_w_per_m3,
            table.latent_heat_j_per_kg,
            p,
        )
        tallies = step(
            t.copy(), t_new.copy(), *args[:2], damage.copy(), cem.copy(), peak.copy(), *args[5:]
        )  # JIT
        start = time.perf_counter()
        for _ in range(steps):
            tallies = step(t, t_new, *args)
            t, t_new = t_new, t
        best = min(best, time.perf_counter() - start)
        final = t
    return best, final, float(damage.max()), np.asarray(tallies)


# --------------------------------------------------------------------------- (d) rfasim variant
# A local copy of kernels._update_slab with three changes (experiment for a suggested fix):
#  1. face conductances from a per-material-pair table ``pair_g[m, n] = area / (r_m + r_n)``
#     (0 for insulating pairs) instead of six divisions per voxel;
#  2. the six neighbours read explicitly (no ``_neighbour`` helper with its branches);
#  3. below the vaporisation onset (before and after the step) the update is the plain
#     ``t + dt*rate/(rho c)`` and the stored heat ``rho c (t_new - t) V``: the enthalpy
#     functions run only inside the latent window.
# Same results and tallies as the production kernel on the shared problem.
@numba.njit(cache=False)
def _variant_slab(
    i,
    t,
    t_new,
    material,
    fixed,
    damage,
    cem43,
    peak,
    hpc_a,
    solve_sigma,
    external_power,
    density,
    specific_heat,
    pair_g,
    sigma_reference,
    sigma_coefficient,
    perfusion,
    metabolic,
    latent,
    parameters,
    rows,
):  # pragma: no cover - compiled
    ny, nz = t.shape[1], t.shape[2]
    h = parameters[kernels.P_SPACING]
    dt = parameters[kernels.P_DT]
    volume = h * h * h
    v2 = parameters[kernels.P_V2]
    blood_rho_c = parameters[kernels.P_BLOOD_RHO_C]
    blood_t = parameters[kernels.P_BLOOD_T]
    onset = parameters[kernels.P_VAP_ONSET]
    arr_a = parameters[kernels.P_ARR_A]
    arr_theta = parameters[kernels.P_ARR_THETA]
    arr_min = parameters[kernels.P_ARR_MIN]
    has_external = external_power.size > 0
    electrical = external = metabolic_total = stored = perfusion_loss = fixed_sink = (
        deposited_fixed
    ) = 0.0
    next_conductance = drift = 0.0
    for j in range(ny):
        for k in range(nz):
            m = material[i, j, k]
            t_here = t[i, j, k]
            hpc = hpc_a[i, j, k]
            sigma_now = 0.0
            if hpc > 0.0:
                sigma_now = kernels.conductivity_at(
                    sigma_reference[m], sigma_coefficient[m], t_here, parameters
                )
            joule = hpc * sigma_now * v2
            extra = external_power[i, j, k] if has_external else 0.0
            if fixed[i, j, k] != 0:
                t_new[i, j, k] = t_here
                deposited_fixed += (joule + extra) * volume * dt
                electrical += joule * volume * dt
                external += extra * volume * dt
                if hpc > 0.0:
                    next_conductance += hpc * sigma_now * volume
                    drift += hpc * abs(sigma_now - solve_sigma[i, j, k]) * volume
                if t_here > peak[i, j, k]:
                    peak[i, j, k] = t_here
                continue
            g0 = pair_g[m, material[i - 1, j, k]]
            g1 = pair_g[m, material[i + 1, j, k]]
            g2 = pair_g[m, material[i, j - 1, k]]
            g3 = pair_g[m, material[i, j + 1, k]]
            g4 = pair_g[m, material[i, j, k - 1]]
            g5 = pair_g[m, material[i, j, k + 1]]
            q0 = g0 * (t[i - 1, j, k] - t_here)
            q1 = g1 * (t[i + 1, j, k] - t_here)
            q2 = g2 * (t[i, j - 1, k] - t_here)
            q3 = g3 * (t[i, j + 1, k] - t_here)
            q4 = g4 * (t[i, j, k - 1] - t_here)
            q5 = g5 * (t[i, j, k + 1] - t_here)
            flux = q0 + q1 + q2 + q3 + q4 + q5
            inflow_fixed = (
                q0 * fixed[i - 1, j, k]
                + q1 * fixed[i + 1, j, k]
                + q2 * fixed[i, j - 1, k]
                + q3 * fixed[i, j + 1, k]
                + q4 * fixed[i, j, k - 1]
                + q5 * fixed[i, j, k + 1]
            )
            w = perfusion[m] if damage[i, j, k] < 1.0 else 0.0
            perfusion_density = w * blood_rho_c * (t_here - blood_t)
            rate = flux + (joule + extra + metabolic[m] - perfusion_density) * volume
            rho_c = density[m] * specific_heat[m]
            t_new_value = t_here + dt * rate / (volume * rho_c)
            if t_here < onset and t_new_value < onset:
                stored += rho_c * (t_new_value - t_here) * volume
            else:
                t_new_value = kernels.heat_temperature(
                    density[m], specific_heat[m], latent[m], t_here, dt * rate / volume, parameters
                )
                stored += volume * (
                    kernels.enthalpy_density(
                        density[m], specific_heat[m], latent[m], t_new_value, parameters
                    )
                    - kernels.enthalpy_density(
                        density[m], specific_heat[m], latent[m], t_here, parameters
                    )
                )
            t_new[i, j, k] = t_new_value
            electrical += joule * volume * dt
            external += extra * volume * dt
            metabolic_total += metabolic[m] * volume * dt
            perfusion_loss += perfusion_density * volume * dt
            fixed_sink -= inflow_fixed * dt
            if t_here > arr_min:
                damage[i, j, k] += dt * arr_a * math.exp(-arr_theta / (t_here + 273.15))
            if t_here > 39.0:
                base = 0.5 if t_here >= 43.0 else 0.25
                cem43[i, j, k] += dt / 60.0 * base ** (43.0 - t_here)
            if t_new_value > peak[i, j, k]:
                peak[i, j, k] = t_new_value
            if hpc > 0.0:
                sigma_next = kernels.conductivity_at(
                    sigma_reference[m], sigma_coefficient[m], t_new_value, parameters
                )
                next_conductance += hpc * sigma_next * volume
                drift += hpc * abs(sigma_next - solve_sigma[i, j, k]) * volume
    rows[i, 0] = electrical
    rows[i, 1] = external
    rows[i, 2] = metabolic_total
    rows[i, 3] = stored
    rows[i, 4] = perfusion_loss
    rows[i, 5] = fixed_sink
    rows[i, 6] = deposited_fixed
    rows[i, 7] = next_conductance
    rows[i, 8] = drift


@numba.njit(parallel=True, cache=False)
def variant_heat_step(
    t,
    t_new,
    material,
    fixed,
    damage,
    cem43,
    peak,
    hpc,
    solve_sigma,
    external_power,
    density,
    specific_heat,
    pair_g,
    sigma_reference,
    sigma_coefficient,
    perfusion,
    metabolic,
    latent,
    parameters,
):  # pragma: no cover - compiled
    nx = t.shape[0]
    rows = np.zeros((nx, kernels.TALLY_COUNT))
    for i in numba.prange(nx):
        _variant_slab(
            i,
            t,
            t_new,
            material,
            fixed,
            damage,
            cem43,
            peak,
            hpc,
            solve_sigma,
            external_power,
            density,
            specific_heat,
            pair_g,
            sigma_reference,
            sigma_coefficient,
            perfusion,
            metabolic,
            latent,
            parameters,
            rows,
        )
    return rows.sum(axis=0)


def pair_conductances(half_resistance: np.ndarray, h: float) -> np.ndarray:
    total = half_resistance[:, None] + half_resistance[None, :]
    with np.errstate(divide="ignore"):
        return np.where(total < 1e300, h * h / total, 0.0)


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
    parser.add_argument(
        "--skip-variant", action="store_true", help="skip the local kernel experiment (d)"
    )
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
    if not args.skip_variant:
        seconds, t_variant, _, tallies_v = run_rfasim(
            grid, tissue, table, source, args.dt, steps, args.repeats, variant=True
        )
        result["rfasim_variant"] = {
            "seconds": seconds,
            "voxel_updates_per_s": grid.size * steps / seconds,
            "max_abs_dt_vs_rfasim_c": float(np.abs(t_variant - t_rfasim).max()),
            "max_rel_tally_difference": float(
                np.max(np.abs(tallies_v - tallies) / np.maximum(np.abs(tallies), 1e-300))
            ),
            "speedup_vs_rfasim": result["rfasim"]["seconds"] / seconds,
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
