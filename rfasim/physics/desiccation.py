"""Desiccation with hysteresis: the dried fraction that tissue conductivity remembers.

Near 100 degC tissue water boils off and sigma falls by two orders of magnitude
(:class:`~rfasim.tissue.VaporizationModel`).  Without memory the drop is reversible: as soon as
a voxel cools below the onset its sigma is back, so the impedance recovers within a pause.
Real dried tissue does not regain its water at once (the vapour leaves, the liquid has to diffuse
back; Zhu et al. 2013, docs/parameters.md).  This module keeps, per voxel, the dried fraction
``D`` (0-1) that sigma follows (``sigma ~ exp(ln(drop) max(f(T), D))``, see
:func:`rfasim.physics.bioheat_kernel._dried_conductivity`):

- drying: ``D <- max(D, f(T))`` with ``f(T)`` the vaporised fraction of the window;
- rehydration: where ``f(T) < D``, ``D`` relaxes towards ``f(T)`` with the time constant
  ``tau`` (``D <- f + (D - f) exp(-dt / tau)``); ``tau = inf`` keeps it dried for good.

:func:`update_dried_fraction` is the compiled step; :func:`update_dried_fraction_reference` its
NumPy twin (the tests check one against the other).
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(parallel=True, cache=True)
def update_dried_fraction(dried: np.ndarray, temperature: np.ndarray, fixed: np.ndarray, onset_c: float,
                          width_c: float, retention: float) -> None:
    """Advance the dried fraction in place after a step.

    Parameters
    ----------
    dried : ndarray of float32
        Dried fraction per voxel (0-1), updated in place.
    temperature : ndarray
        Temperature (degC) at the end of the step.
    fixed : ndarray of uint8
        Fixed voxels (metal, vessel lumen, outer layer) never dry.
    onset_c, width_c : float
        Vaporisation window (degC).
    retention : float
        ``exp(-dt / tau)``: the share of the excess dryness kept over the step (1: none rehydrates).
    """
    nx, ny, nz = dried.shape
    for i in numba.prange(nx):
        for j in range(ny):
            for k in range(nz):
                if fixed[i, j, k] != 0:
                    continue
                fraction = (temperature[i, j, k] - onset_c) / width_c
                fraction = min(max(fraction, 0.0), 1.0)
                here = dried[i, j, k]
                if fraction >= here:
                    dried[i, j, k] = fraction
                elif retention < 1.0:
                    dried[i, j, k] = fraction + (here - fraction) * retention


def update_dried_fraction_reference(dried: np.ndarray, temperature: np.ndarray, fixed: np.ndarray,
                                    onset_c: float, width_c: float, retention: float) -> None:
    """NumPy twin of :func:`update_dried_fraction` (same arguments, same result)."""
    fraction = np.clip((temperature - onset_c) / width_c, 0.0, 1.0)
    relaxed = fraction + (dried - fraction) * retention
    new = np.where(fraction >= dried, fraction, relaxed)
    dried[...] = np.where(fixed != 0, dried, new).astype(dried.dtype)


def retention_per_step(time_step_s: float, rehydration_time_s: float) -> float:
    """``exp(-dt / tau)`` (1.0 for an infinite rehydration time)."""
    if not math.isfinite(rehydration_time_s):
        return 1.0
    return math.exp(-time_step_s / rehydration_time_s)
