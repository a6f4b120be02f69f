"""Compiled nearest point among candidate triangles (the inner loop of ``TriangleMesh.closest_points``).

The same arithmetic as the vectorised :func:`rfasim.metrics._geometry.closest_points_on_triangles`
(Ericson, *Real-Time Collision Detection*, 2005, section 5.1.5, with its regions taken in the
same priority), one point and one candidate at a time instead of ``(n, k, 3)`` temporaries:
``tests/metrics/test_closest_kernel.py`` checks that both give the same distances and points.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _ratio(numerator: float, denominator: float) -> float:
    return 0.0 if denominator == 0.0 else numerator / denominator


@numba.njit(cache=True, inline="always")
def _dot(x0: float, x1: float, x2: float, y0: float, y1: float, y2: float) -> float:
    # The order in which NumPy's einsum sums three products (x0 y0 + x2 y2, then + x1 y1), so
    # that the distances match the vectorised form to the last digit with the NumPy we test on.
    return (x0 * y0 + x2 * y2) + x1 * y1


@numba.njit(cache=True)
def nearest_on_candidates(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, candidates: np.ndarray,
                          distances: np.ndarray, closest: np.ndarray) -> None:  # pragma: no cover - compiled
    """For each point ``points[n]`` (mm), the nearest point on the triangles ``faces[candidates[n]]``:
    its distance into ``distances[n]`` and the point into ``closest[n]`` (first candidate on ties)."""
    result = np.empty(3)
    for n in range(points.shape[0]):
        p0, p1, p2 = points[n, 0], points[n, 1], points[n, 2]
        best = np.inf
        b0 = b1 = b2 = 0.0
        for m in range(candidates.shape[1]):
            face = candidates[n, m]
            ia, ib, ic = faces[face, 0], faces[face, 1], faces[face, 2]
            a0, a1, a2 = vertices[ia, 0], vertices[ia, 1], vertices[ia, 2]
            v0, v1, v2 = vertices[ib, 0], vertices[ib, 1], vertices[ib, 2]
            c0, c1, c2 = vertices[ic, 0], vertices[ic, 1], vertices[ic, 2]
            ab0, ab1, ab2 = v0 - a0, v1 - a1, v2 - a2
            ac0, ac1, ac2 = c0 - a0, c1 - a1, c2 - a2
            d1 = _dot(ab0, ab1, ab2, p0 - a0, p1 - a1, p2 - a2)
            d2 = _dot(ac0, ac1, ac2, p0 - a0, p1 - a1, p2 - a2)
            d3 = _dot(ab0, ab1, ab2, p0 - v0, p1 - v1, p2 - v2)
            d4 = _dot(ac0, ac1, ac2, p0 - v0, p1 - v1, p2 - v2)
            d5 = _dot(ab0, ab1, ab2, p0 - c0, p1 - c1, p2 - c2)
            d6 = _dot(ac0, ac1, ac2, p0 - c0, p1 - c1, p2 - c2)
            va = d3 * d6 - d5 * d4
            vb = d5 * d2 - d1 * d6
            vc = d1 * d4 - d3 * d2
            if d1 <= 0.0 and d2 <= 0.0:  # vertex a
                result[0], result[1], result[2] = a0, a1, a2
            elif d3 >= 0.0 and d4 <= d3:  # vertex b
                result[0], result[1], result[2] = v0, v1, v2
            elif vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:  # edge ab
                t = _ratio(d1, d1 - d3)
                result[0], result[1], result[2] = a0 + ab0 * t, a1 + ab1 * t, a2 + ab2 * t
            elif d6 >= 0.0 and d5 <= d6:  # vertex c
                result[0], result[1], result[2] = c0, c1, c2
            elif vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:  # edge ac
                t = _ratio(d2, d2 - d6)
                result[0], result[1], result[2] = a0 + ac0 * t, a1 + ac1 * t, a2 + ac2 * t
            elif va <= 0.0 and d4 - d3 >= 0.0 and d5 - d6 >= 0.0:  # edge bc
                t = _ratio(d4 - d3, (d4 - d3) + (d5 - d6))
                result[0], result[1], result[2] = v0 + (c0 - v0) * t, v1 + (c1 - v1) * t, v2 + (c2 - v2) * t
            else:  # inside the face
                total = va + vb + vc
                v = _ratio(vb, total)
                w = _ratio(vc, total)
                result[0] = a0 + ab0 * v + ac0 * w
                result[1] = a1 + ab1 * v + ac1 * w
                result[2] = a2 + ab2 * v + ac2 * w
            e0, e1, e2 = result[0] - p0, result[1] - p1, result[2] - p2
            squared = e0 * e0 + e1 * e1 + e2 * e2
            if squared < best:
                best = squared
                b0, b1, b2 = result[0], result[1], result[2]
        distances[n] = math.sqrt(best)
        closest[n, 0], closest[n, 1], closest[n, 2] = b0, b1, b2
