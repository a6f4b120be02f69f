"""The simulation box must not decide the answer: grow it until the zones stop changing.

The simulation grid is a box around the tumor and the probes (``[grid] margin_mm``, 20 mm by
default).  Its outer voxel layer is held at body temperature and 0 V, which is right only far
from the ablation: a zone that comes close to the box is shaped by it (a multi-tine zone 0.6 mm
from the box grew from 122 to 177 mL when the box was widened, issue 15).

:func:`run_with_domain_growth` runs the plan, and while the criterion zone or the Arrhenius zone
comes closer than :data:`TRIGGER_CLEARANCE_MM` to a face of the box that can move (a face at the
edge of the image cannot: nothing is known beyond it), runs it again with the margin grown by
:data:`GROWTH_FACTOR` (at least :data:`MINIMUM_GROWTH_MM`), until both zone volumes change by
less than :data:`GROWTH_TOLERANCE` (2 %) between two boxes, at most :data:`MAX_GROWTH_STEPS`
times and never beyond the memory available.  The last run is the plan.  ``metrics.json``
``domain`` records every box tried, and a warning says when a zone still reaches the box (an
image edge, or the growth limit) or when the zones had not settled.

Measured on the phantoms (1.5 mm grid, 12 min, cooled needle; ``docs/plan-outputs.md``): with a
zone 9 mm from the box the Arrhenius zone changed by 0.6 % (liver-25mm) and by 10 %
(ct-like-dome) when the margin went from 20 to 35-40 mm, hence the 10 mm trigger.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from rfasim.grid import Grid
from rfasim.imaging.io import corner_points_mm

#: Largest relative change of the zone volumes between two boxes for the result to stand.
GROWTH_TOLERANCE = 0.02
#: A zone closer than this (mm) to a movable face of the box triggers a larger box.
TRIGGER_CLEARANCE_MM = 10.0
#: The margin is multiplied by this when the box grows ...
GROWTH_FACTOR = 1.5
#: ... and grows by at least this (mm).
MINIMUM_GROWTH_MM = 10.0
#: Most regrowths of the box per plan.
MAX_GROWTH_STEPS = 2
#: Face names: low and high side of each world axis (RAS: x to the right, y anterior, z superior).
FACE_NAMES = (("left", "right"), ("posterior", "anterior"), ("inferior", "superior"))


def face_clearances_mm(mask: np.ndarray | None, grid: Grid) -> dict[str, float | None]:
    """Distance (mm) from a zone to each face's fixed outer voxel layer (None: empty zone).

    The distance is between voxel centres: from the zone's outermost voxel to the outer layer
    held at body temperature and 0 V.
    """
    if mask is None or not np.any(mask):
        return {name: None for names in FACE_NAMES for name in names}
    clearances: dict[str, float | None] = {}
    for axis, (low_name, high_name) in enumerate(FACE_NAMES):
        other = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(np.any(mask, axis=other))
        clearances[low_name] = float(present[0]) * grid.spacing_mm
        clearances[high_name] = float(mask.shape[axis] - 1 - present[-1]) * grid.spacing_mm
    return clearances


def image_limited_faces(grid: Grid, input_affine: np.ndarray, input_shape: Any) -> set[str]:
    """Faces of the box that lie at the edge of the image (growing the margin cannot move them)."""
    corners = corner_points_mm(np.asarray(input_affine, dtype=float), input_shape)
    low_hull, high_hull = corners.min(axis=0), corners.max(axis=0)
    origin = np.asarray(grid.origin_mm, dtype=float)
    low = origin - 0.5 * grid.spacing_mm
    high = origin + (np.asarray(grid.shape) - 0.5) * grid.spacing_mm
    limited = set()
    for axis, (low_name, high_name) in enumerate(FACE_NAMES):
        if low[axis] <= low_hull[axis] + grid.spacing_mm:
            limited.add(low_name)
        if high[axis] >= high_hull[axis] - grid.spacing_mm:
            limited.add(high_name)
    return limited


def _record(plan: Any, margin_mm: float) -> dict[str, Any]:
    zone = face_clearances_mm(plan.zone_mask, plan.grid)
    arrhenius = face_clearances_mm(plan.arrhenius_zone_mask, plan.grid)
    nearest = {
        face: min((v for v in (zone[face], arrhenius[face]) if v is not None), default=None) for face in zone
    }
    return {
        "margin_mm": round(float(margin_mm), 2),
        "grid_shape": list(plan.grid.shape),
        "zone_volume_ml": None if plan.zone is None else round(float(plan.zone.volume_ml), 3),
        "arrhenius_volume_ml": None if plan.arrhenius_zone is None else round(float(plan.arrhenius_zone.volume_ml), 3),
        "clearance_mm": {face: None if v is None else round(v, 2) for face, v in nearest.items()},
        "image_edge_faces": sorted(image_limited_faces(plan.grid, plan.input_affine, plan.input_shape)),
    }


def _relative_change(before: dict[str, Any], after: dict[str, Any]) -> float:
    changes = []
    for key in ("zone_volume_ml", "arrhenius_volume_ml"):
        old, new = before[key], after[key]
        if old is None or new is None:
            continue
        scale = max(abs(new), abs(old))
        changes.append(abs(new - old) / scale if scale > 0 else 0.0)
    return max(changes, default=0.0)


def _near_faces(record: dict[str, Any], movable: bool) -> list[str]:
    faces = []
    for face, clearance in record["clearance_mm"].items():
        if clearance is None or clearance >= TRIGGER_CLEARANCE_MM:
            continue
        if movable == (face not in record["image_edge_faces"]):
            faces.append(face)
    return faces


def _fits(case: Any, plan: Any, margin_mm: float) -> bool:
    """Whether the grown box would fit in memory (a rough, safe estimate from the current box)."""
    from rfasim.imaging import available_memory_bytes
    from rfasim.simulation import BYTES_PER_VOXEL_ESTIMATE

    available = available_memory_bytes()
    if available is None:
        return True
    growth = 2.0 * (margin_mm - case.roi_margin_mm) / plan.grid.spacing_mm
    voxels = math.prod(n + growth for n in plan.grid.shape)
    return voxels * BYTES_PER_VOXEL_ESTIMATE <= available


def run_with_domain_growth(case: Any, run_once: Callable[[Any], Any]) -> Any:
    """Run ``run_once(case)`` and regrow the box while it decides the zones (module docstring).

    Parameters
    ----------
    case : rfasim.case.Case
        The case; ``case.grow_domain`` False runs it once (the check is still reported).
    run_once : callable
        ``run_once(case) -> PlanResult`` for one box (``case.roi_margin_mm``).

    Returns
    -------
    PlanResult
        The plan on the last box, with ``plan.domain`` (``metrics.json`` ``domain``) and any warning
        about the box.
    """
    plan = run_once(case)
    if not plan.simulated:
        return plan
    history = [_record(plan, case.roi_margin_mm)]
    change = None
    current = case
    for _ in range(MAX_GROWTH_STEPS if getattr(case, "grow_domain", True) else 0):
        if change is not None and change < GROWTH_TOLERANCE:
            break
        if change is None and not _near_faces(history[-1], movable=True):
            break
        margin = max(current.roi_margin_mm * GROWTH_FACTOR, current.roi_margin_mm + MINIMUM_GROWTH_MM)
        if not _fits(current, plan, margin):
            plan.warnings.append(f"the simulation box was not grown to a {margin:g} mm margin: it would not fit in memory")
            break
        current = replace(current, roi_margin_mm=margin)
        plan = run_once(current)
        history.append(_record(plan, margin))
        change = _relative_change(history[-2], history[-1])
    final = history[-1]
    growing = getattr(case, "grow_domain", True)
    converged = (change is None or change < GROWTH_TOLERANCE) if growing else None
    warnings = []
    if not growing and _near_faces(final, movable=True):
        warnings.append(
            f"a zone comes within {TRIGGER_CLEARANCE_MM:g} mm of the simulation box "
            f"({', '.join(_near_faces(final, movable=True))}) and the box was not grown ([grid] grow_domain = false): "
            "the result may depend on the box size"
        )
    reaching = [face for face, v in final["clearance_mm"].items() if v is not None and v <= plan.grid.spacing_mm]
    for face in reaching:
        where = "the image's edge, beyond which nothing is known" if face in final["image_edge_faces"] else "the box"
        warnings.append(
            f"a zone reaches the {face} face of the simulated region ({where}): the zone there is bounded by the "
            "region, not by the physics; widen the image or the margin"
        )
    near_edge = [f for f in _near_faces(final, movable=False) if f not in reaching]
    if near_edge:
        warnings.append(
            f"a zone comes within {TRIGGER_CLEARANCE_MM:g} mm of the image's edge ({', '.join(near_edge)}): the "
            "simulation cannot see the tissue beyond it"
        )
    if converged is False and change is not None:
        warnings.append(
            f"the zones still changed by {100 * change:.1f} % when the simulation box grew to a "
            f"{final['margin_mm']:g} mm margin: the result depends on the box size"
        )
    plan.warnings.extend(warnings)
    plan.domain = {
        "margin_mm": final["margin_mm"],
        "grown": len(history) > 1,
        "converged": converged,
        "last_change_pct": None if change is None else round(100 * change, 2),
        "tolerance_pct": 100 * GROWTH_TOLERANCE,
        "trigger_clearance_mm": TRIGGER_CLEARANCE_MM,
        "clearance_mm": final["clearance_mm"],
        "image_edge_faces": final["image_edge_faces"],
        "boxes": history,
    }
    return plan
