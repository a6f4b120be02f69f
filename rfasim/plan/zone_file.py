"""``zone.nii.gz``: the zone on the input image's grid, the same zone ``metrics.json`` measures.

How each figure is computed (``docs/plan-outputs.md``, "Zone volumes"):

- ``metrics.json`` ``zone.volume_ml``: the volume enclosed by the iso-surface ``field = threshold``
  of the criterion's field on the simulation grid, interpolated linearly between voxel centres
  (peak temperature for the isotherm, Arrhenius damage for the Arrhenius criterion, CEM43).
- ``temperature_max.nii.gz`` and ``damage.nii.gz``: those fields sampled (trilinear) at the input
  image's voxel centres.
- ``zone.nii.gz``: the input voxels whose sampled field reaches the threshold, i.e. exactly what
  thresholding ``temperature_max.nii.gz`` (isotherm) or ``damage.nii.gz`` (Arrhenius) at the same
  threshold gives in 3D Slicer.  Its voxel count times the voxel volume is ``metrics.json``
  ``zone.zone_file_volume_ml``; it and ``zone.volume_ml`` sample one surface two ways and agree
  within a layer of voxels over the zone's surface.
- CEM43 writes no field file: ``zone.nii.gz`` is then the zone mask sampled onto the input grid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rfasim.plan.pipeline import ARRHENIUS_THRESHOLD


def zone_on_input(plan: Any, peak_input: np.ndarray, damage_input: np.ndarray,
                  to_input: Callable[[Any, np.ndarray, int, float], np.ndarray]) -> np.ndarray:
    """The zone on the input grid (uint8), from the same sampled field that is written.

    Parameters
    ----------
    plan : PlanResult
        A simulated plan (``metrics["zone"]`` says the criterion).
    peak_input, damage_input : ndarray
        ``temperature_max`` and ``damage`` as written (float32, input grid).
    to_input : callable
        ``to_input(plan, field, order, fill)`` maps a simulation-grid field onto the input grid.
    """
    zone = plan.metrics.get("zone", {})
    threshold = zone.get("threshold_c")
    if threshold is not None:
        return (peak_input >= np.float32(threshold)).astype(np.uint8)
    if str(zone.get("criterion", "")).startswith("Arrhenius"):
        return (damage_input >= np.float32(ARRHENIUS_THRESHOLD)).astype(np.uint8)
    return (to_input(plan, plan.zone_mask.astype(np.float32), 1, 0.0) >= 0.5).astype(np.uint8)


def record_zone_file_volume(plan: Any, zone: np.ndarray) -> float:
    """Put the volume of ``zone.nii.gz`` (mL) in ``metrics.json`` ``zone.zone_file_volume_ml``."""
    voxel_ml = abs(float(np.linalg.det(np.asarray(plan.input_affine, dtype=float)[:3, :3]))) * 1e-3
    volume = round(float(np.count_nonzero(zone)) * voxel_ml, 3)
    if isinstance(plan.metrics.get("zone"), dict):
        plan.metrics["zone"]["zone_file_volume_ml"] = volume
    return volume
