"""Numba kernels of the planner's search: the fast zone model's sampling, the anatomy look-up.

:func:`sample_probe_fields` is the compiled twin of
``scipy.ndimage.map_coordinates(field, index, order=1, cval=0)`` applied to the points expressed
in each probe's frame; ``tests/planner`` checks the two agree.  :func:`locate_voxels` is the
compiled twin of :meth:`rfasim.planner.context.AnatomyGrid.locate`'s nearest-voxel rounding (the
same operations, point by point, so the same indices).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, parallel=True)
def sample_probe_fields(peak: np.ndarray, end: np.ndarray, origin: np.ndarray, spacing: float,
                        points: np.ndarray, tips: np.ndarray, frames: np.ndarray,
                        peak_out: np.ndarray, end_out: np.ndarray) -> None:
    """Fill ``peak_out`` and ``end_out`` (probes, candidates, points) with the library fields.

    ``tips`` (candidates, probes, 3), ``frames`` (candidates, probes, 3, 3) with rows (first
    lateral, second lateral, shaft direction), ``points`` (points, 3) in world mm; ``origin`` and
    ``spacing`` place the library fields in the probe frame (mm).  ``peak`` and ``end`` share one
    shape: each point's cell and trilinear weights are found once and serve both fields (0
    outside the fields' box).
    """
    if end.shape != peak.shape:
        raise ValueError("the peak and end fields must have the same shape")
    ni, nj, nk = peak.shape
    candidates, probes = tips.shape[0], tips.shape[1]
    count = points.shape[0]
    for c in numba.prange(candidates):
        for p in range(probes):
            for n in range(count):
                rx = points[n, 0] - tips[c, p, 0]
                ry = points[n, 1] - tips[c, p, 1]
                rz = points[n, 2] - tips[c, p, 2]
                i = (rx * frames[c, p, 0, 0] + ry * frames[c, p, 0, 1] + rz * frames[c, p, 0, 2] - origin[0]) / spacing
                j = (rx * frames[c, p, 1, 0] + ry * frames[c, p, 1, 1] + rz * frames[c, p, 1, 2] - origin[1]) / spacing
                k = (rx * frames[c, p, 2, 0] + ry * frames[c, p, 2, 1] + rz * frames[c, p, 2, 2] - origin[2]) / spacing
                if i < 0.0 or j < 0.0 or k < 0.0 or i > ni - 1 or j > nj - 1 or k > nk - 1:
                    peak_out[p, c, n] = 0.0
                    end_out[p, c, n] = 0.0
                    continue
                i0 = min(int(i), ni - 2)
                j0 = min(int(j), nj - 2)
                k0 = min(int(k), nk - 2)
                fi, fj, fk = i - i0, j - j0, k - k0
                peak_value = 0.0
                end_value = 0.0
                for di in range(2):
                    wi = fi if di else 1.0 - fi
                    for dj in range(2):
                        wj = fj if dj else 1.0 - fj
                        wij = wi * wj
                        for dk in range(2):
                            wk = fk if dk else 1.0 - fk
                            weight = wij * wk
                            peak_value += weight * peak[i0 + di, j0 + dj, k0 + dk]
                            end_value += weight * end[i0 + di, j0 + dj, k0 + dk]
                peak_out[p, c, n] = peak_value
                end_out[p, c, n] = end_value


@numba.njit(cache=True)
def locate_voxels(points: np.ndarray, origin: np.ndarray, spacing: float, shape: np.ndarray,
                  located_out: np.ndarray) -> None:
    """Fill ``located_out`` (points,) with the flat index of each point's nearest voxel, -1 off the grid.

    ``points`` (points, 3) in world mm, ``origin`` (3,) the world mm of voxel (0, 0, 0),
    ``spacing`` the voxel edge (mm) and ``shape`` (3,) the grid's shape: the index along each axis
    is ``rint((x - origin) / spacing)`` (ties to even), a point is on the grid when every index
    lies in ``[0, shape)`` (a NaN coordinate is off the grid).
    """
    nx, ny, nz = shape[0], shape[1], shape[2]
    for n in range(points.shape[0]):
        i = np.rint((points[n, 0] - origin[0]) / spacing)
        j = np.rint((points[n, 1] - origin[1]) / spacing)
        k = np.rint((points[n, 2] - origin[2]) / spacing)
        if i >= 0.0 and i < nx and j >= 0.0 and j < ny and k >= 0.0 and k < nz:
            located_out[n] = (np.int64(i) * ny + np.int64(j)) * nz + np.int64(k)
        else:
            located_out[n] = -1
