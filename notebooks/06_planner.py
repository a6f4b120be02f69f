# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 — An automatic plan: probes, placement and protocol found by the planner
#
# The planner (`rfasim plan CASE.toml --auto`, or `rfasim.planner` from Python) searches the number
# of probes, the device, the trajectories (skin entry to tip) and the protocol that cover the tumor
# and its safety margin, with a fast zone model computed once by the full solver, then verifies the
# best plan with the full coupled simulation. See `docs/planner.md`.

# %%
import tempfile
from pathlib import Path

from rfasim.case import load_case
from rfasim.phantoms import write_phantom
from rfasim.planner import (
    PlannerOptions,
    SearchSettings,
    plan_automatically,
    verdict_lines,
    write_automatic_plan,
)

folder = Path(tempfile.mkdtemp())
paths = write_phantom("two-tumors", folder / "case")  # target: tumor 1; tumor 2 must not be crossed
case = load_case(paths["case"])

# %% [markdown]
# One device and one protocol (switched), a short search and a coarse verifying simulation (3 mm)
# keep this notebook short.  The search uses the zone library shipped with rfasim (Cool-tip 3 cm
# at 2 mm, computed by the full solver with `scripts/build_zone_library.py`); another device or
# spacing is computed on first use and cached in the user cache folder (`$RFASIM_CACHE_DIR` to
# move it).

# %%
options = PlannerOptions(
    devices=("cooltip-17g-3cm",),
    spacing_mm=2.0,
    verification_spacing_mm=3.0,
    search=SearchSettings(max_probes=3, population=6, max_generations=10, protocols=("switched",)),
    attempts=1,
    progress=False,
)
plan = plan_automatically(case, options)
print("\n".join(verdict_lines(plan)))

# %% [markdown]
# The proposed probes: tips and skin entries (world RAS mm), and the protocol.

# %%
candidate = plan.chosen.candidate
for number, (tip, entry) in enumerate(
    zip(candidate.tips_mm, candidate.entries_mm, strict=True), start=1
):
    print(f"probe {number}: {candidate.device}, tip {tip.round(1)}, entry {entry.round(1)}")
print("protocol:", candidate.protocol, "| treatment", candidate.treatment_time_s / 60, "min")

# %% [markdown]
# The plan folder, `plan.toml` (a case file that `rfasim plan` runs as it is) and the trajectory
# figure on the CT.

# %%
written = write_automatic_plan(plan, folder / "auto-plan")
print(sorted(p.name for p in written))
print((folder / "auto-plan" / "plan.toml").read_text()[:800])

# %%
from IPython.display import Image, display

display(Image(filename=str(folder / "auto-plan" / "trajectories.png")))

# %% [markdown]
# The 3D scene of the verified plan (tumor coloured by its margin, zone, vessels, probes); in a
# notebook with trame installed `rfasim.viz.show(plan.chosen.plan)` makes it interactive.

# %%
scene = folder / "auto-plan" / "scene_entries.png"
if scene.exists():
    display(Image(filename=str(scene)))
else:
    print("3D rendering unavailable here; see planner.json warnings")
