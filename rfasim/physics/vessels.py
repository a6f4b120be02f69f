"""Vessels by calibre: the local diameter of a lumen mask, the flow-dependent wall coefficient
of large vessels, and the thrombosis of small ones (docs/parameters.md, "Vessels by calibre").

- :func:`vessel_calibre_mm`: the local diameter of every lumen voxel (the "local thickness": the
  diameter of the largest ball inside the lumen that contains the voxel), from the Euclidean
  distance transform.
- :func:`laminar_wall_coefficient`: ``h = Nu k / D`` with the laminar Nusselt number of a tube at
  constant wall temperature, thermal entrance included (Schlünder's form,
  ``Nu = (3.66^3 + 1.61^3 Re Pr D / L)^(1/3)``), and the Dittus-Boelter number
  ``0.023 Re^0.8 Pr^0.4`` above Re = 2300.
- :class:`VesselThrombosis`: small-vessel lumen voxels that stop being heat sinks once a wall
  neighbour has coagulated (Arrhenius Omega >= 1): they become :attr:`TissueClass.THROMBUS`,
  blood without flow, free to heat (Lu et al. 2002: every vessel < 3 mm showed wall injury and
  luminal thrombus; almost none a heat sink).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from rfasim.tissue import TissueClass, laminar_wall_coefficient

__all__ = ["VesselThrombosis", "laminar_wall_coefficient", "vessel_calibre_mm"]


def vessel_calibre_mm(lumen: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Local vessel diameter (mm) of every voxel of ``lumen`` (0 outside).

    The voxel takes the largest ``2 r`` over the balls of radius ``r`` (the distance transform
    of their centre) that contain it; a voxelised tube ``n`` voxels wide has ``2 r = n`` (even
    ``n``) or ``n + 1`` (odd ``n``), so ``2 r h`` is its calibre within one voxel (an upper
    estimate of the width; a voxelised disc's corners also pull it below the nominal diameter).

    Parameters
    ----------
    lumen : ndarray of bool
    spacing_mm : float
        Voxel edge (mm).
    """
    lumen = np.asarray(lumen, bool)
    calibre = np.zeros(lumen.shape)
    if not lumen.any():
        return calibre
    # Work on the lumen's bounding box (one voxel of margin: the distance transform needs the outside).
    where = np.nonzero(lumen)
    box = tuple(slice(max(int(w.min()) - 1, 0), int(w.max()) + 2) for w in where)
    inside = lumen[box]
    padded = np.pad(inside, 1)
    distance = ndimage.distance_transform_edt(padded)
    local = np.zeros(padded.shape)
    for radius in np.unique(distance[padded]):  # ascending: a voxel keeps the largest ball containing it
        centres = distance >= radius
        # Voxels closer than ``radius`` to a centre lie inside that centre's ball (and the lumen).
        covered = ndimage.distance_transform_edt(~centres) < radius if radius > 1.0 else centres
        local[covered & padded] = 2.0 * radius
    calibre[box] = np.where(inside, local[1:-1, 1:-1, 1:-1] * spacing_mm, 0.0)
    return calibre


class VesselThrombosis:
    """Small-vessel lumen voxels that thrombose once their wall coagulates.

    Parameters
    ----------
    material : ndarray of uint8
        The simulation's material map (VESSEL voxels are the lumen).
    spacing_mm : float
    threshold_mm : float
        Vessels with a local calibre below this thrombose (Lu et al. 2002: 3 mm).
    """

    def __init__(self, material: np.ndarray, spacing_mm: float, threshold_mm: float) -> None:
        lumen = material == TissueClass.VESSEL
        self.calibre_mm = vessel_calibre_mm(lumen, spacing_mm)
        # The calibre overestimates a voxelised vessel's width by up to a voxel (vessel_calibre_mm):
        # a vessel thromboses when its lower estimate, one voxel less, is below the threshold.
        small = lumen & (self.calibre_mm - spacing_mm < threshold_mm)
        small[0, :, :] = small[-1, :, :] = small[:, 0, :] = small[:, -1, :] = False
        small[:, :, 0] = small[:, :, -1] = False
        self.index = np.flatnonzero(small)
        strides = np.array([material.shape[1] * material.shape[2], material.shape[2], 1])
        offsets = np.concatenate([strides, -strides])
        self.neighbours = self.index[:, None] + offsets[None, :]
        self.thrombosed = 0

    @property
    def large_vessel_calibre_mm(self) -> np.ndarray:
        """Calibre of the lumen voxels that do not thrombose (mm)."""
        large = self.calibre_mm > 0
        large.ravel()[self.index] = False
        return self.calibre_mm[large]

    def update(self, material: np.ndarray, fixed: np.ndarray, damage: np.ndarray) -> int:
        """Turn small-vessel voxels with a coagulated free neighbour into thrombus; returns how many."""
        if self.index.size == 0:
            return 0
        flat_fixed, flat_damage = fixed.ravel(), damage.ravel()
        coagulated = (flat_damage[self.neighbours] >= 1.0) & (flat_fixed[self.neighbours] == 0)
        turning = coagulated.any(axis=1)
        if not turning.any():
            return 0
        index = self.index[turning]
        material.ravel()[index] = TissueClass.THROMBUS
        flat_fixed[index] = 0
        self.index, self.neighbours = self.index[~turning], self.neighbours[~turning]
        self.thrombosed += int(index.size)
        return int(index.size)
