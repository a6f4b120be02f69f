"""Grid-convergence study of the electrode-tissue interface (issue 12, item 2).

Runs one corpus experiment or configuration at several grid spacings with the local electric
update and records, per spacing: the Arrhenius zone (volume, axes), the delivered energy, the
roll-offs, the electrode's rasterisation (cooled metal voxels, coupled voxels, coupling factor)
and the energy-balance partition (stored, perfusion, coolant, outer boundary).  The coolant's
share is the fixed sink minus the heat that crossed the outer faces (tallied by a tracker).

Usage (from the repository root)::

    nice python benchmarks/validation/grid_study.py lee2009-cooled-2cm-ex-vivo --spacings 1.5 1.0 0.75
    nice python benchmarks/validation/grid_study.py standard-case --spacings 1.5 1.0 --extent 60

Each run is written to ``benchmarks/validation/results/grid_study/NAME@SPACINGmm.json``; the
table of every stored run is printed (and written as ``grid_study.md``) at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import harness  # noqa: E402
from corpus import Experiment, load_configuration, load_corpus  # noqa: E402

import rfasim  # noqa: E402
from rfasim.atomic import write_json, write_text  # noqa: E402
from rfasim.metrics import zone_metrics_from_field  # noqa: E402
from rfasim.simulation.options import SimulationOptions  # noqa: E402
from rfasim.tissue import TissueClass  # noqa: E402
from rfasim.trackers import Tracker  # noqa: E402

RESULTS = HERE / "results" / "grid_study"


class BoundaryFlux(Tracker):
    """Heat (J) leaving through the outer layer (held at body temperature), step by step."""

    def __init__(self, conductivity_w_per_m_k: float, spacing_m: float) -> None:
        self.conductance = conductivity_w_per_m_k * spacing_m  # face k h^2 / h
        self.previous_s = 0.0
        self.removed_j = 0.0

    def update(self, time_s: float, temperature_c: np.ndarray, **context: Any) -> None:  # noqa: ARG002
        t = temperature_c
        core = (slice(1, -1),) * 3
        total = 0.0
        for axis in range(3):
            for inside, outside in ((1, 0), (-2, -1)):
                a, b = list(core), list(core)
                a[axis], b[axis] = inside, outside
                total += float(np.sum(t[tuple(a)] - t[tuple(b)]))
        self.removed_j += self.conductance * total * (time_s - self.previous_s)
        self.previous_s = time_s


def _experiment(name: str) -> Experiment:
    corpus = load_corpus()
    return corpus[name] if name in corpus else load_configuration(name)


def shifted(experiment: Experiment, shift_mm: float) -> Experiment:
    """The experiment with every probe moved by ``shift_mm`` along x and y (grid-alignment test)."""
    if shift_mm == 0.0:
        return experiment
    probes = tuple(replace(p, center_mm=(p.center_mm[0] + shift_mm, p.center_mm[1] + shift_mm, p.center_mm[2]))
                   for p in experiment.probes)
    return replace(experiment, probes=probes)


def run_one(experiment: Experiment, spacing_mm: float, extent_mm: float | None,
            shift_voxels: float = 0.0, electrode_model: str = "cut-cell") -> dict[str, Any]:
    """Simulate one experiment at one spacing; zone, energy partition and electrode figures."""
    start, cpu = time.perf_counter(), time.process_time()
    experiment = shifted(experiment, shift_voxels * spacing_mm)
    setup = harness.build_run(experiment, spacing_mm, extent_mm, electrode_model=electrode_model)
    liver_k = float(setup.tissue.property_table(spacing_mm * 1e-3).thermal_conductivity_w_per_m_k[TissueClass.LIVER])
    tracker = BoundaryFlux(liver_k, spacing_mm * 1e-3)
    options = SimulationOptions(electric_update="local")
    result = rfasim.simulate(setup.grid, setup.material, setup.generator, setup.electrodes, tissue=setup.tissue,
                             options=options, trackers=[tracker])
    damage = harness.dose_through_metal(result.state.damage, result.material)
    axis = setup.placements[0].geometry().direction
    zone = zone_metrics_from_field(damage, harness.DAMAGE_THRESHOLD, setup.grid, probe_axis=axis)
    energy = result.energy
    series = result.timeseries.as_arrays()
    electrode = setup.electrodes[0]
    return {
        "name": experiment.name, "spacing_mm": spacing_mm, "extent_mm": setup.grid.shape[0] * spacing_mm,
        "voxels": int(setup.grid.size), "requested_extent_mm": extent_mm or experiment.extent_mm,
        "shift_voxels": shift_voxels, "electrode_model": electrode_model,
        "volume_ml": zone.volume_ml, "long_axis_mm": zone.axes_mm[0], "short_axis_mm": zone.axes_mm[2],
        "mid_axis_mm": zone.axes_mm[1], "rolloffs": int(result.rolloffs),
        "electrical_j": energy.electrical_j, "stored_j": energy.stored_j, "perfusion_j": energy.perfusion_j,
        "fixed_sink_j": energy.fixed_sink_j, "boundary_j": tracker.removed_j,
        "coolant_j": energy.fixed_sink_j - tracker.removed_j, "residual_j": energy.residual_j,
        "deposited_in_fixed_j": energy.deposited_in_fixed_j,
        "initial_impedance_ohm": float(series["impedance_ohm"][0]) if series["impedance_ohm"].size else float("nan"),
        "metal_voxels": int(electrode.metal_index.size), "coupled_voxels": int(electrode.coupling_index.size),
        "coupling_factor_sum_m": float(np.sum(electrode.coupling_factor_m)),
        "heat_steps": int(result.heat_steps), "time_step_s": float(result.time_step_s),
        "wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
    }


def _change(value: float, previous: float | None) -> str:
    return "—" if previous is None or previous == 0 else f"{100.0 * (value - previous) / previous:+.1f} %"


def table(records: list[dict[str, Any]]) -> str:
    """Markdown table of stored runs (grouped by name, coarse to fine)."""
    lines = ["| case | h mm | extent | volume mL | long mm | short mm | d vol / long / short | energy kJ | "
             "roll-offs | stored % | perfusion % | coolant % | boundary % | Z0 ohm | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    def group(r: dict[str, Any]) -> tuple:
        return (r["name"], r.get("variant", ""), r.get("requested_extent_mm", r["extent_mm"]), r.get("shift_voxels", 0.0))

    records = sorted(records, key=lambda r: (*group(r), -r["spacing_mm"]))
    previous: dict[str, Any] | None = None
    for r in records:
        same = previous is not None and group(previous) == group(r)
        p = previous if same else None
        change = " / ".join(_change(r[k], None if p is None else p[k]) for k in ("volume_ml", "long_axis_mm", "short_axis_mm"))
        e = r["electrical_j"]
        share = {k: 100.0 * r[k] / e for k in ("stored_j", "perfusion_j", "coolant_j", "boundary_j")}
        label = r["name"] + (f" [{r['variant']}]" if r.get("variant") else "")
        label += f" shift {r['shift_voxels']:g} h" if r.get("shift_voxels") else ""
        lines.append(f"| {label} | {r['spacing_mm']:g} | {r['extent_mm']:g} | {r['volume_ml']:.2f} | {r['long_axis_mm']:.1f} | "
                     f"{r['short_axis_mm']:.1f} | {change} | {e / 1e3:.1f} | {r['rolloffs']} | {share['stored_j']:.0f} | "
                     f"{share['perfusion_j']:.0f} | {share['coolant_j']:.0f} | {share['boundary_j']:.1f} | "
                     f"{r['initial_impedance_ohm']:.0f} | {r['wall_s']:.0f} |")
        previous = r
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", help="corpus experiment or configuration name")
    parser.add_argument("--spacings", type=float, nargs="+", default=[1.5, 1.0, 0.75])
    parser.add_argument("--extent", type=float, default=None, help="block edge (mm); default the experiment's")
    parser.add_argument("--shift", type=float, default=0.0, help="move the probes by this many voxels in x and y")
    parser.add_argument("--electrode-model", default="cut-cell", choices=("cut-cell", "subgrid"))
    parser.add_argument("--variant", default="", help="label of the model variant stored with the runs")
    arguments = parser.parse_args(argv)
    experiment = _experiment(arguments.name)
    RESULTS.mkdir(parents=True, exist_ok=True)
    for spacing in arguments.spacings:
        record = run_one(experiment, spacing, arguments.extent, arguments.shift, arguments.electrode_model)
        record["variant"] = arguments.variant
        suffix = f"-{arguments.variant}" if arguments.variant else ""
        extent = f"-{arguments.extent:g}" if arguments.extent else ""
        extent += f"-shift{arguments.shift:g}" if arguments.shift else ""
        write_json(RESULTS / f"{experiment.name}@{spacing:g}mm{extent}{suffix}.json", record)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items()}), flush=True)
    records = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("*.json"))]
    text = table(records)
    write_text(RESULTS.parent / "grid_study.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
