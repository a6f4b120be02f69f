"""Parameter sweeps: vary case values, run the cases on Dask, collect one row per run.

A sweep file (``docs/sweep-file.md``) names a base case and the varied values (dotted paths into
the case table).  :func:`run_sweep_file` is the ``rfasim sweep`` command; from Python::

    from rfasim.sweep import load_sweep, run_sweep, plot_metric
    spec = load_sweep("sweep.toml")
    result = run_sweep(spec, "results", workers=2)
    plot_metric(result.table, "generator.power_w", "zone.volume_ml", "zone_vs_power.png")
"""

from __future__ import annotations

from rfasim.sweep.execute import (
    SchedulerError,
    SweepResult,
    close_client,
    default_workers,
    execute_run,
    open_client,
    run_sweep,
    run_sweep_file,
)
from rfasim.sweep.results import ResultStore, flatten_metrics, read_results
from rfasim.sweep.spec import (
    DESIGNS,
    Parameter,
    RunSpec,
    SweepSpec,
    apply_inputs,
    design_points,
    load_sweep,
    morris_unit_trajectories,
    parse_sweep,
    run_id_of,
    valid_parameter_paths,
)

#: Names imported on first use: the plots and the screening need matplotlib, which a worker
#: process running :func:`execute_run` never uses (it would add ~0.25 s to each worker's start).
_LAZY = {
    **dict.fromkeys(("plot_margin_vs_offset", "plot_metric", "plot_power_duration_heatmap", "write_summary_plots"),
                    "rfasim.sweep.plots"),
    **dict.fromkeys(("morris_effects", "oat_effects", "plot_sensitivity", "screen"), "rfasim.sweep.sensitivity"),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rfasim.sweep' has no attribute {name!r}")


__all__ = [
    "DESIGNS", "Parameter", "ResultStore", "RunSpec", "SchedulerError", "SweepResult", "SweepSpec",
    "apply_inputs", "close_client", "default_workers", "design_points", "execute_run", "flatten_metrics",
    "load_sweep", "morris_effects", "morris_unit_trajectories", "oat_effects", "open_client", "parse_sweep",
    "plot_margin_vs_offset", "plot_metric", "plot_power_duration_heatmap", "plot_sensitivity", "read_results",
    "run_id_of", "run_sweep", "run_sweep_file", "screen", "valid_parameter_paths", "write_summary_plots",
]
