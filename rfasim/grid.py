"""The simulation grid: an isotropic, world-axis-aligned box of cubic voxels.

Voxel ``(i, j, k)`` has its centre at ``origin_mm + spacing_mm * (i, j, k)`` in world
coordinates (RAS+, millimetres, as NIfTI and 3D Slicer define them).  Patient images of any
orientation are resampled onto such a grid by :mod:`rfasim.imaging`, and results are mapped back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grid:
    """An isotropic Cartesian grid aligned with the world (RAS+) axes.

    Parameters
    ----------
    shape : tuple of int
        Number of voxels along x, y, z.
    spacing_mm : float
        Edge length of every (cubic) voxel, in millimetres.
    origin_mm : tuple of float
        World coordinate (mm) of the centre of voxel ``(0, 0, 0)``.

    Examples
    --------
    >>> grid = Grid.centered(extent_mm=80.0, spacing_mm=1.0)
    >>> grid.shape
    (80, 80, 80)
    >>> round(grid.spacing_m, 6)
    0.001
    """

    shape: tuple[int, int, int]
    spacing_mm: float
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        shape = tuple(int(n) for n in self.shape)
        if len(shape) != 3 or min(shape) < 3:
            raise ValueError(f"grid shape must be three sizes of at least 3 voxels, got {self.shape}")
        if not np.isfinite(self.spacing_mm) or self.spacing_mm <= 0:
            raise ValueError(f"spacing_mm must be positive and finite, got {self.spacing_mm}")
        origin = tuple(float(v) for v in self.origin_mm)
        if len(origin) != 3 or not np.all(np.isfinite(origin)):
            raise ValueError(f"origin_mm must be three finite numbers, got {self.origin_mm}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "spacing_mm", float(self.spacing_mm))
        object.__setattr__(self, "origin_mm", origin)

    @classmethod
    def centered(
        cls,
        extent_mm: float | tuple[float, float, float],
        spacing_mm: float,
        center_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ) -> Grid:
        """A grid covering a box of ``extent_mm`` (edge lengths) centred on ``center_mm``.

        The voxel count along each axis is ``round(extent / spacing)`` (at least 3).
        """
        extent = np.broadcast_to(np.asarray(extent_mm, dtype=float), (3,))
        nx, ny, nz = (max(3, int(round(e / spacing_mm))) for e in extent)
        shape = (nx, ny, nz)
        center = np.asarray(center_mm, dtype=float)
        origin = center - spacing_mm * (np.asarray(shape) - 1) / 2.0
        return cls(shape, spacing_mm, tuple(origin))

    @property
    def spacing_m(self) -> float:
        """Voxel edge length in metres."""
        return self.spacing_mm * 1e-3

    @property
    def voxel_volume_m3(self) -> float:
        """Volume of one voxel in cubic metres."""
        return self.spacing_m**3

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres (cm^3)."""
        return (self.spacing_mm**3) * 1e-3

    @property
    def size(self) -> int:
        """Total number of voxels."""
        return int(np.prod(self.shape))

    @property
    def affine(self) -> np.ndarray:
        """4x4 voxel-to-world (mm) affine, NIfTI convention."""
        affine = np.eye(4)
        affine[:3, :3] *= self.spacing_mm
        affine[:3, 3] = self.origin_mm
        return affine

    def world_to_index(self, points_mm: np.ndarray) -> np.ndarray:
        """Continuous voxel indices (float) of world points (mm), shape ``(..., 3)``."""
        points = np.asarray(points_mm, dtype=float)
        return (points - np.asarray(self.origin_mm)) / self.spacing_mm

    def index_to_world(self, indices: np.ndarray) -> np.ndarray:
        """World coordinates (mm) of (possibly fractional) voxel indices, shape ``(..., 3)``."""
        indices = np.asarray(indices, dtype=float)
        return np.asarray(self.origin_mm) + indices * self.spacing_mm

    def axis_coordinates_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World coordinates (mm) of voxel centres along x, y and z."""
        return tuple(  # type: ignore[return-value]
            self.origin_mm[a] + self.spacing_mm * np.arange(self.shape[a]) for a in range(3)
        )

    def voxel_centers_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable (open-mesh) world coordinates x, y, z (mm) of all voxel centres."""
        x, y, z = self.axis_coordinates_mm()
        return x[:, None, None], y[None, :, None], z[None, None, :]

    def contains_mm(self, point_mm: np.ndarray) -> bool:
        """Whether a world point (mm) lies inside the grid's box (voxel faces included)."""
        index = self.world_to_index(point_mm)
        return bool(np.all(index >= -0.5) and np.all(index <= np.asarray(self.shape) - 0.5))
