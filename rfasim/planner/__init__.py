"""The automatic treatment planner: probes, placement and protocol that cover tumor + margin.

Pipeline (one module per step):

| module | job |
|---|---|
| ``library`` | single-probe zones per device, protocol, tissue and spacing, by the full solver, cached on disk |
| ``calibration`` | heat-sink length and multi-probe protocol weights fitted to full-solver runs (cached) |
| ``zone_model`` | the fast zone model behind the ``ZoneModel`` protocol |
| ``context`` | the case's anatomy, target and the points to cover |
| ``trajectories`` | skin entries and trajectory constraints (vessels, forbidden structures, other tumors, spacing) |
| ``feasibility`` | proofs that a margin target is unreachable (large vessel, >= 100 degC core bounds), before and after the search |
| ``search`` | differential evolution over stereotactic patterns, fewest probes first |
| ``verify`` | the full coupled simulation of the best candidates; both criteria; fast vs verified |
| ``automatic`` | the whole run: :func:`plan_automatically` |
| ``verdict`` | the verdict in words |
| ``outputs`` | plan folder, ``plan.toml``, ``planner.json``, trajectory figures |

From Python::

    from rfasim.case import load_case
    from rfasim.planner import PlannerOptions, plan_automatically, verdict_lines, write_automatic_plan

    plan = plan_automatically(load_case("case.toml"), PlannerOptions(devices=("cooltip-17g-3cm",)))
    print("\\n".join(verdict_lines(plan)))
    write_automatic_plan(plan, "auto-plan")
"""

from __future__ import annotations

from rfasim.planner.automatic import (
    AutomaticPlan,
    PlannerOptions,
    plan_automatically,
    suitable_devices,
)
from rfasim.planner.outputs import write_automatic_plan
from rfasim.planner.search import SearchSettings
from rfasim.planner.trajectories import TrajectoryRules
from rfasim.planner.verdict import CRITERION_MEANING, feasibility_line, verdict_lines
from rfasim.planner.zone_model import LibraryZoneModel, ZoneModel

__all__ = [
    "CRITERION_MEANING",
    "AutomaticPlan",
    "LibraryZoneModel",
    "PlannerOptions",
    "SearchSettings",
    "TrajectoryRules",
    "ZoneModel",
    "feasibility_line",
    "plan_automatically",
    "suitable_devices",
    "verdict_lines",
    "write_automatic_plan",
]
