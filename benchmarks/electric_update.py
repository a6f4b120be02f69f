"""Electric re-solves of the standard case: the old solve, the compiled global solve, the local update.

The conductivities are those of the real run: the standard case (one ``cooltip-17g-3cm``
needle, impedance control at 200 W, 80 mm cube at 1 mm by default) is simulated for
``--duration`` seconds and every conductivity the loop hands to the electric problem (changed
ones only) is kept; the last ``--samples`` of them are replayed, in order, through:

- ``legacy``: the implementation before issue 13 (Python-driven multigrid V-cycle, hierarchy
  rebuilt per solve, NumPy assembly of the couplings, CG to 1e-6), kept here as a copy;
- ``global_float64`` / ``global_float32``: ``ElectricProblem.solve`` (fused assembly and Joule
  passes, the whole CG in compiled code) with a float64 / float32 V-cycle;
- ``update``: ``ElectricProblem.update`` with default options (a box around the electrodes,
  the far field scaled, a global correction when an error indicator trips).

Each is warm-started from its own previous solution, as in the loop.  Per configuration: wall
and CPU seconds per call, CG iterations, V-cycles, global solves and local updates, and the
error against a tight global solve (CG to 1e-10, float64) of the same conductivity: the L1
error of the heating (``sum |q - q_exact| / sum q_exact``) and of the conductance.  Also the
V-cycle alone (old Python-driven vs compiled, float64 and float32) against the machine's
memory-bandwidth ceiling, measured here with a streaming triad, as bytes per voxel.

Usage::

    python benchmarks/electric_update.py [--extent 80] [--spacing 1] [--duration 240]
        [--samples 40] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numba
import numpy as np

from rfasim.generators import ImpedanceControlled
from rfasim.grid import Grid
from rfasim.physics import electric
from rfasim.physics import multigrid as mg
from rfasim.probes import ProbePlacement, rasterize_probes
from rfasim.solver import simulate
from rfasim.tissue import TissueClass


def standard_case(extent_mm: float, spacing_mm: float):
    grid = Grid.centered(extent_mm, spacing_mm)
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    placement = ProbePlacement("cooltip-17g-3cm", tip_mm=[0.0, 0.0, -15.0], entry_mm=[0.0, 0.0, extent_mm])
    return grid, material, rasterize_probes([placement], grid, material)


def record_conductivities(grid, material, electrodes, duration_s: float, samples: int) -> list[np.ndarray]:
    """The last ``samples`` changed conductivities the loop passes to the electric problem."""
    kept: list[np.ndarray] = []
    original = electric.ElectricProblem.solve

    def recording(self, conductivity):
        sigma = np.array(conductivity, dtype=float)
        if not kept or not np.array_equal(sigma, kept[-1]):
            kept.append(sigma)
            del kept[:-samples]
        return original(self, conductivity)

    electric.ElectricProblem.solve = recording
    try:
        simulate(grid, material, ImpedanceControlled(power_w=200.0, duration_s=duration_s), electrodes)
    finally:
        electric.ElectricProblem.solve = original
    return kept


class LegacySolve:
    """The electric solve as it was before issue 13 (a copy of its code, for the figures)."""

    def __init__(self, grid, electrodes) -> None:
        self.problem = electric.ElectricProblem(grid, electrodes)
        self.guess = None
        self.v_cycles = 0

    def assemble(self, sigma):
        problem, grid = self.problem, self.problem.grid
        h = grid.spacing_m
        is_metal = ~np.isnan(problem.metal_potential).reshape(grid.shape)
        unknown = (sigma > 0) & ~is_metal
        metal_potential = np.nan_to_num(problem.metal_potential.reshape(grid.shape))
        shape = grid.shape
        gx = np.zeros((shape[0] - 1, shape[1], shape[2]))
        gy = np.zeros((shape[0], shape[1] - 1, shape[2]))
        gz = np.zeros((shape[0], shape[1], shape[2] - 1))
        diagonal_extra, rhs = np.empty(shape), np.empty(shape)
        electric.assemble_faces(sigma, unknown.view(np.uint8), is_metal.view(np.uint8), metal_potential, h,
                                gx, gy, gz, diagonal_extra, rhs)
        boundary = np.zeros(shape)
        for face in problem.grounded_faces:
            axis = "xyz".index(face[0])
            index = [slice(None)] * 3
            index[axis] = 0 if face[1] == "-" else -1
            index_t = tuple(index)
            boundary[index_t] += np.where(unknown[index_t], 2.0 * sigma[index_t] * h, 0.0)
        diagonal_extra += boundary
        coupling = np.zeros(grid.size)
        coupling_weighted = np.zeros(grid.size)
        sigma_flat, unknown_flat = sigma.ravel(), unknown.ravel()
        for electrode in problem.electrodes:
            keep = unknown_flat[electrode.coupling_index]
            index = electrode.coupling_index[keep]
            g = sigma_flat[index] * electrode.coupling_factor_m[keep]
            np.add.at(coupling, index, g)
            np.add.at(coupling_weighted, index, g * electrode.polarity)
        diagonal_extra += coupling.reshape(shape)
        rhs += coupling_weighted.reshape(shape)
        level = mg.Level(gx, gy, gz, diagonal_extra, unknown.astype(np.uint8))
        pieces = {"unknown": unknown, "is_metal": is_metal, "metal_potential": metal_potential,
                  "boundary": boundary, "coupling": coupling.reshape(shape),
                  "coupling_weighted": coupling_weighted.reshape(shape)}
        return level, rhs, pieces

    def __call__(self, sigma):
        problem, grid = self.problem, self.problem.grid
        level, rhs, pieces = self.assemble(sigma)
        preconditioner = mg.MultigridPreconditioner(level)
        calls = [0]
        apply = preconditioner.apply

        def counted(residual):
            calls[0] += 1
            return apply(residual)

        preconditioner.apply = counted
        potential, iterations = mg.conjugate_gradient(level, rhs, self.guess, 1e-6, preconditioner=preconditioner)
        self.v_cycles += calls[0]
        self.guess = potential
        unknown, is_metal = pieces["unknown"], pieces["is_metal"]
        potential = np.where(unknown, potential, 0.0)
        potential[is_metal] = pieces["metal_potential"][is_metal]
        heat = np.empty(grid.shape)
        electric.face_joule_heat(potential, sigma, unknown.view(np.uint8), is_metal.view(np.uint8),
                                 pieces["metal_potential"], grid.spacing_m, level.gx, level.gy, level.gz, heat)
        heat += pieces["boundary"] * potential**2
        coupling_square = np.zeros(grid.size)
        for electrode in problem.electrodes:
            keep = unknown.ravel()[electrode.coupling_index]
            index = electrode.coupling_index[keep]
            g = sigma.ravel()[index] * electrode.coupling_factor_m[keep]
            np.add.at(coupling_square, index, g * electrode.polarity**2)
        heat += np.where(unknown, pieces["coupling"] * potential**2 - 2.0 * potential * pieces["coupling_weighted"]
                         + coupling_square.reshape(grid.shape), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            heating = np.where(sigma > 0, heat / (grid.voxel_volume_m3 * sigma), 0.0)
        heating[is_metal] = 0.0
        return heating, float(heat.sum()), iterations


def replay(name, call, sequence, exact, voxel_volume):
    rows = []
    wall = cpu = 0.0
    for sigma, (heating_exact, conductance_exact) in zip(sequence, exact, strict=True):
        start, start_cpu = time.perf_counter(), time.process_time()
        heating, conductance, iterations, local = call(sigma)
        wall += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
        q, q_exact = heating * sigma, heating_exact * sigma
        rows.append((float(np.abs(q - q_exact).sum() / q_exact.sum()), abs(conductance / conductance_exact - 1),
                     iterations, local))
    errors = np.array(rows)
    return {
        "calls": len(rows),
        "wall_seconds_per_call": wall / len(rows),
        "cpu_seconds_per_call": cpu / len(rows),
        "cg_iterations_mean": float(errors[:, 2].mean()),
        "local_updates": int(errors[:, 3].sum()),
        "global_solves": int(len(rows) - errors[:, 3].sum()),
        "heating_l1_error_mean": float(errors[:, 0].mean()),
        "heating_l1_error_max": float(errors[:, 0].max()),
        "conductance_error_max": float(errors[:, 1].max()),
    }


@numba.njit(parallel=True, cache=True)
def _triad(a, b, c, scale):  # pragma: no cover - compiled
    for i in numba.prange(a.size):
        a[i] = b[i] + scale * c[i]


def best_of(function, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def v_cycle_figures(problem, sigma, repeats: int) -> dict:
    """V-cycle alone (old and compiled), bytes it moves and the streaming ceiling."""
    level, rhs, _ = problem.assemble(sigma)
    voxels = int(np.prod(level.shape))
    old = mg.MultigridPreconditioner(level)
    figures = {"legacy_python_driven_float64_seconds": best_of(lambda: old.apply(rhs), repeats)}
    for precision in ("float64", "float32"):
        hierarchy = mg.MultigridHierarchy(level.shape, np.dtype(precision))
        hierarchy.update(*mg.pad_faces(level), level.diagonal_extra)
        hierarchy.apply(rhs)
        figures[f"compiled_{precision}_seconds"] = best_of(lambda h=hierarchy: h.apply(rhs), repeats)
    # Fine-level traffic of one compiled V(2,2) cycle, per voxel (bytes of the V-cycle's type):
    # 4 sweeps reading u, f, gx, gy, gz, d and writing u (the first sweep does not read u), the
    # fused residual-restriction reading u, f, faces, d, the prolongation reading and writing u.
    words = 4 * 7 - 1 + 6 + 2
    size = 1 << 23
    a, b, c = np.zeros(size), np.ones(size), np.ones(size)
    _triad(a, b, c, 0.5)
    triad_seconds = best_of(lambda: _triad(a, b, c, 0.5), repeats)
    figures["stream_triad_gigabytes_per_s"] = 3 * 8 * size / triad_seconds / 1e9
    for precision, width in (("float64", 8), ("float32", 4)):
        moved = words * width * voxels * 8 / 7  # the coarse levels add about 1/7
        seconds = figures[f"compiled_{precision}_seconds"]
        figures[f"compiled_{precision}_bytes_per_voxel"] = words * width * 8 / 7
        figures[f"compiled_{precision}_gigabytes_per_s"] = moved / seconds / 1e9
        figures[f"compiled_{precision}_fraction_of_triad"] = (moved / seconds / 1e9) / figures[
            "stream_triad_gigabytes_per_s"]
    return figures


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extent", type=float, default=80.0, help="cube edge (mm)")
    parser.add_argument("--spacing", type=float, default=1.0, help="voxel size (mm)")
    parser.add_argument("--duration", type=float, default=240.0, help="simulated time to record (s)")
    parser.add_argument("--samples", type=int, default=40, help="conductivities replayed")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the V-cycle timings")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)

    report: dict = {
        "benchmark": "electric_update",
        "case": {"extent_mm": args.extent, "spacing_mm": args.spacing, "recorded_s": args.duration,
                 "samples": args.samples},
        "environment": {"cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
                        "load_average_start": list(os.getloadavg())},
    }
    grid, material, electrodes = standard_case(args.extent, args.spacing)
    sequence = record_conductivities(grid, material, electrodes, args.duration, args.samples)
    report["case"]["voxels"] = grid.size
    report["case"]["samples"] = len(sequence)

    tight = electric.ElectricProblem(grid, electrodes, solver=electric.MultigridSolver(1e-10, "float64"))
    exact = []
    for sigma in sequence:
        solution = tight.solve(sigma)
        exact.append((solution.heating_per_conductivity.copy(), solution.conductance_s))

    configurations = {}
    legacy = LegacySolve(grid, electrodes)
    configurations["legacy"] = replay("legacy", lambda s: (*legacy(s), False), sequence, exact, grid.voxel_volume_m3)
    configurations["legacy"]["v_cycles"] = legacy.v_cycles
    for name, precision in (("global_float64", "float64"), ("global_float32", "float32")):
        problem = electric.ElectricProblem(grid, electrodes, solver=electric.MultigridSolver(precision=precision))

        def solve(sigma, problem=problem):
            solution = problem.solve(sigma)
            return solution.heating_per_conductivity, solution.conductance_s, solution.iterations, False

        configurations[name] = replay(name, solve, sequence, exact, grid.voxel_volume_m3)
        configurations[name]["v_cycles"] = problem.statistics()["v_cycles_global"]
    problem = electric.ElectricProblem(grid, electrodes)

    def update(sigma):
        solution = problem.update(sigma)
        return solution.heating_per_conductivity, solution.conductance_s, solution.iterations, solution.local

    configurations["update"] = replay("update", update, sequence, exact, grid.voxel_volume_m3)
    configurations["update"].update(problem.statistics())
    report["configurations"] = configurations
    report["speedup_cpu_per_call_vs_legacy"] = {
        name: configurations["legacy"]["cpu_seconds_per_call"] / figures["cpu_seconds_per_call"]
        for name, figures in configurations.items()
    }
    report["v_cycle"] = v_cycle_figures(problem, sequence[-1], args.repeats)
    report["environment"]["load_average_end"] = list(os.getloadavg())
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        temporary = args.out + ".tmp"
        with open(temporary, "w") as handle:
            handle.write(text + "\n")
        os.replace(temporary, args.out)
    return report


if __name__ == "__main__":
    main()
