# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Parameter sweeps and sensitivity screening
#
# A sweep runs one base case many times with some values changed and collects one row per run
# (`docs/sweep-file.md`). The runs go to a Dask cluster: here a local one with two worker
# processes; with `scheduler="tcp://host:8786"` the same call uses a real cluster.
#
# This notebook runs
#
# 1. a **power × duration** grid (2 × 2 = 4 runs) and looks at the results table, a heat map and a
#    metric-against-parameter plot,
# 2. a tiny **Morris screening** of two tissue properties (2 trajectories × 3 = 6 runs) that ranks
#    them by their effect on the zone volume and the margin.
#
# **Runtime.** To stay under two minutes on two cores the base case uses a **2 mm grid** and a
# **4-minute** protocol instead of the phantom's 1 mm and 12 minutes; the zone sizes are therefore
# smaller than a clinical 12-minute ablation's. The sweeps write only into a temporary folder.

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from rfasim.phantoms import write_phantom
from rfasim.sweep import (
    close_client,
    load_sweep,
    open_client,
    plot_metric,
    plot_power_duration_heatmap,
    plot_sensitivity,
    run_sweep,
    screen,
)

np.set_printoptions(precision=3, suppress=True)

pd.set_option("display.width", 140)
workdir = Path(tempfile.mkdtemp(prefix="rfasim-sweep-"))
print("working folder:", workdir)

# %% [markdown]
# ## The base case
#
# The `liver-25mm` phantom's case, with the grid and the protocol shortened by editing the TOML text.

# %%
paths = write_phantom("liver-25mm", workdir / "case")
text = paths["case"].read_text()
text = text.replace("spacing_mm = 1.0", "spacing_mm = 2.0").replace(
    "duration_s = 720.0", "duration_s = 240.0"
)
paths["case"].write_text(text)
print(text[text.index("[generator]") :])

# %% [markdown]
# ## A power × duration grid
#
# A sweep file names the base case (relative to the sweep file), the design and the varied
# parameters, addressed by dotted paths into the case table. `load_sweep` validates everything
# (paths, values, each run's case) before anything runs; `spec.runs` lists the runs.

# %%
grid_file = workdir / "power_duration.toml"
grid_file.write_text("""
[sweep]
case = "case/case.toml"
design = "grid"

[[parameter]]
path = "generator.power_w"
values = [100.0, 200.0]

[[parameter]]
path = "generator.duration_s"
values = [120.0, 240.0]
""")
grid_spec = load_sweep(grid_file)
for run in grid_spec.runs:
    print(run.run_id, run.inputs)

# %% [markdown]
# One local cluster (two worker processes, one thread each) serves both sweeps of this notebook;
# `run_sweep` would otherwise start and stop its own. Finished runs are recorded one by one in the
# results folder, so running the same sweep again only computes what is missing.

# %%
client = open_client(workers=2)
grid_result = run_sweep(grid_spec, workdir / "power_duration", client=client, progress=False)
print("runs per status:", grid_result.counts)

# %% [markdown]
# ## The results table
#
# One row per run: `input.<path>` columns for the varied values, then every scalar of
# `metrics.json` flattened with dots (`zone.volume_ml`, `margin.min_mm`, ...). The same table is in
# `results.csv` and `results.parquet`.

# %%
table = grid_result.table
columns = [
    "input.generator.power_w",
    "input.generator.duration_s",
    "status",
    "zone.volume_ml",
    "zone_arrhenius.volume_ml",
    "tumor.coverage_pct",
    "margin.min_mm",
    "generator.energy_j",
    "generator.rolloffs",
    "peak_temperature_c",
]
table[columns].sort_values(columns[:2]).reset_index(drop=True)

# %% [markdown]
# ## Plots
#
# The power × duration heat map of a metric (here the Arrhenius zone volume, mL), and any metric
# against any varied parameter (runs as points, the mean per value as a line).

# %%
plot_power_duration_heatmap(table, "zone_arrhenius.volume_ml")

# %%
plot_metric(table, "generator.duration_s", "generator.energy_j")

# %% [markdown]
# In this small example the duration matters much more than the generator's maximum power: the
# impedance-controlled generator cuts the power at every roll-off, so the energy it actually
# delivers (`generator.energy_j`, `generator.mean_power_w`) depends little on the 100 or 200 W
# ceiling.

# %% [markdown]
# ## Sensitivity screening (Morris)
#
# Which tissue properties matter most for the outcome? A Morris design moves one parameter at a
# time along random trajectories through the unit-scaled parameter ranges; each step gives an
# *elementary effect* (metric change per full range). `mu_star`, the mean absolute effect, ranks
# the parameters; `sigma` flags non-linearity or interactions. Two trajectories are far too few for
# a real study (use 10 or more): this only shows the mechanics. The seed makes the design
# reproducible.

# %%
morris_file = workdir / "morris.toml"
morris_file.write_text("""
[sweep]
case = "case/case.toml"
design = "morris"
trajectories = 2
levels = 4
seed = 1

[[parameter]]
path = "tissue.liver.perfusion_rate_per_s"
range = [0.0, 0.02]

[[parameter]]
path = "tissue.liver.electrical_conductivity_s_per_m"
range = [0.15, 0.45]
""")
morris_spec = load_sweep(morris_file)
print(len(morris_spec.runs), "runs")
morris_result = run_sweep(morris_spec, workdir / "morris", client=client, progress=False)
close_client(client)
print("runs per status:", morris_result.counts)

# %%
effects = screen(morris_spec, morris_result.table, ["zone_arrhenius.volume_ml", "margin.min_mm"])
effects[["metric", "parameter", "mu", "mu_star", "sigma", "effects", "rank"]]

# %%
plot_sensitivity(effects)

# %% [markdown]
# The same sweeps from the command line: `rfasim sweep power_duration.toml --workers 2`, which also
# writes the summary plots into `sweep-results/plots/`.
