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


def zone_on_input(plan: Any, peak_input: np.ndarray, damage_input: np.ndarray,
                  to_input: Callable[[Any, np.ndarray, int, float], np.ndarray]) -> np.ndarray:
    """The zone on the input grid (uint8), from the same sampled field that is written.

    Parameters
    ----------
    plan : PlanResult
        A simulated plan (``plan.zone`` says the criterion and threshold).
    peak_input, damage_input : ndarray
        ``temperature_max`` and ``damage`` as written (float32, input grid).
    to_input : callable
        ``to_input(plan, field, order, fill)`` maps a simulation-grid field onto the input grid.
    """
    zone = plan.zone
    threshold_c = None if zone is None else zone.threshold_c
    if threshold_c is not None:
        return (peak_input >= np.float32(threshold_c)).astype(np.uint8)
    if zone is not None and zone.criterion.name == "arrhenius":
        return (damage_input >= np.float32(zone.threshold)).astype(np.uint8)
    return (to_input(plan, plan.zone_mask.astype(np.float32), 1, 0.0) >= 0.5).astype(np.uint8)


def record_zone_file_volume(plan: Any, zone: np.ndarray) -> float:
    """Keep the volume of ``zone.nii.gz`` (mL) on the plan (``metrics.json`` ``zone.zone_file_volume_ml``)."""
    voxel_ml = abs(float(np.linalg.det(np.asarray(plan.input_affine, dtype=float)[:3, :3]))) * 1e-3
    plan.zone_file_volume_ml = float(np.count_nonzero(zone)) * voxel_ml
    return plan.zone_file_volume_ml
