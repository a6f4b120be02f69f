"""Energy sources as the solver sees them: rasterised electrodes, or a given power density.

Probes (:mod:`rfasim.probes`) are placed in world millimetres and rasterised into
:class:`ElectrodeRaster` objects on the simulation grid; a researcher may instead hand the solver
a :class:`PowerDensitySource` (bring your own source).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rfasim.grid import Grid


def _flat_indices(name: str, values: np.ndarray | None, grid: Grid) -> np.ndarray:
    array = np.zeros(0, np.int64) if values is None else np.asarray(values, dtype=np.int64).ravel()
    if array.size and (array.min() < 0 or array.max() >= grid.size):
        raise ValueError(f"{name} holds voxel indices outside the grid of {grid.size} voxels")
    return np.unique(array)


@dataclass
class ElectrodeRaster:
    """One electrode's active metal on the simulation grid.

    Parameters
    ----------
    name : str
        Label used in warnings and time series.
    metal_index : ndarray of int
        Flat (C-order) voxel indices held at the electrode's potential (Dirichlet voxels).
    coupling_index, coupling_factor_m : ndarray
        Optional sub-voxel coupling: voxel ``coupling_index[n]`` is connected to the electrode
        potential through a conductance ``sigma_voxel * coupling_factor_m[n]`` (S), which lets a
        probe module represent metal that only partly fills a voxel (thin needles, tines).
    insulated_index : ndarray of int
        Flat indices of the insulated shaft: electrically insulating voxels.
    thermocouple_index : ndarray of int
        Flat indices where the generator reads the tip temperature (the maximum is used).
    polarity : float
        Potential of this electrode relative to the applied voltage: 1 for monopolar electrodes
        against the ground, +0.5 / -0.5 for the two sides of a bipolar pair.
    cooled : bool
        Internally cooled electrodes hold their metal voxels (and ``cooled_index``) at
        ``coolant_temperature_c``.
    cooled_index : ndarray of int
        Extra voxels held at the coolant temperature without being electrically fixed: the
        voxels a thin cooled needle crosses when no voxel is wholly metal.
    coolant_temperature_c : float
        Coolant temperature (degC) for cooled electrodes.
    """

    name: str
    metal_index: np.ndarray
    coupling_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    coupling_factor_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    insulated_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    thermocouple_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    polarity: float = 1.0
    cooled: bool = False
    coolant_temperature_c: float = 20.0
    cooled_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def validate(self, grid: Grid) -> None:
        """Check indices against ``grid`` and the physical meaning of every field.

        Raises
        ------
        ValueError
            Naming the electrode and the offending field.
        """
        self.metal_index = _flat_indices(f"electrode {self.name!r} metal_index", self.metal_index, grid)
        coupling_index = np.asarray(self.coupling_index, dtype=np.int64).ravel()
        coupling_factor = np.asarray(self.coupling_factor_m, dtype=float).ravel()
        if coupling_index.shape != coupling_factor.shape:
            raise ValueError(
                f"electrode {self.name!r}: coupling_index and coupling_factor_m differ in length"
            )
        if coupling_index.size and (coupling_index.min() < 0 or coupling_index.max() >= grid.size):
            raise ValueError(f"electrode {self.name!r}: coupling_index outside the grid")
        if not np.all(np.isfinite(coupling_factor)) or np.any(coupling_factor < 0):
            raise ValueError(f"electrode {self.name!r}: coupling_factor_m must be finite and >= 0")
        self.coupling_index, self.coupling_factor_m = coupling_index, coupling_factor
        self.insulated_index = _flat_indices(
            f"electrode {self.name!r} insulated_index", self.insulated_index, grid
        )
        self.thermocouple_index = _flat_indices(
            f"electrode {self.name!r} thermocouple_index", self.thermocouple_index, grid
        )
        self.cooled_index = _flat_indices(f"electrode {self.name!r} cooled_index", self.cooled_index, grid)
        if self.metal_index.size == 0 and coupling_index.size == 0:
            raise ValueError(f"electrode {self.name!r} has zero active length: no voxel is active")
        if not np.isfinite(self.polarity) or self.polarity == 0:
            raise ValueError(f"electrode {self.name!r}: polarity must be non-zero, got {self.polarity!r}")
        if not np.isfinite(self.coolant_temperature_c):
            raise ValueError(
                f"electrode {self.name!r}: coolant_temperature_c must be finite, "
                f"got {self.coolant_temperature_c!r}"
            )

    @classmethod
    def from_mask(cls, name: str, metal_mask: np.ndarray, **options: object) -> ElectrodeRaster:
        """An electrode whose metal is the voxels where ``metal_mask`` is true.

        Examples
        --------
        >>> from rfasim.grid import Grid
        >>> grid = Grid.centered(21.0, 1.0)  # 21 voxels a side: centres on whole millimetres
        >>> x, y, z = grid.voxel_centers_mm()
        >>> ball = ElectrodeRaster.from_mask("ball", x**2 + y**2 + z**2 <= 9.0)
        >>> ball.metal_index.size  # the integer points of a ball of radius 3
        123
        """
        mask = np.asarray(metal_mask, dtype=bool)
        return cls(name=name, metal_index=np.flatnonzero(mask), **options)  # type: ignore[arg-type]


PowerDensityFunction = Callable[[float], np.ndarray]


@dataclass
class PowerDensitySource:
    """A volumetric heat source given by the user instead of the electric model.

    Parameters
    ----------
    power_density_w_per_m3 : ndarray or callable
        Either a constant field of the grid's shape (W/m^3), or a function of time (s) returning
        such a field.
    scale : callable, optional
        Optional time-dependent multiplier ``scale(t_s) -> float`` applied to a constant field.

    Examples
    --------
    >>> import numpy as np
    >>> source = PowerDensitySource(np.zeros((4, 4, 4)))
    >>> float(source.at(10.0).sum())
    0.0
    """

    power_density_w_per_m3: np.ndarray | PowerDensityFunction
    scale: Callable[[float], float] | None = None

    def at(self, time_s: float) -> np.ndarray:
        """Power density field (W/m^3) at ``time_s``."""
        field_or_function = self.power_density_w_per_m3
        density = field_or_function(time_s) if callable(field_or_function) else field_or_function
        density = np.asarray(density, dtype=float)
        if self.scale is not None:
            density = density * float(self.scale(time_s))
        return density

    @property
    def is_time_dependent(self) -> bool:
        """Whether the field must be re-evaluated at every step."""
        return callable(self.power_density_w_per_m3) or self.scale is not None
