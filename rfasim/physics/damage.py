"""Thermal damage models: each accumulates its own dose field during the run.

A damage model is a small object with a name, a dose field it creates, a step that accumulates
the dose from the temperature of free (non-fixed) voxels, and a rule that says which voxels it
considers dead.  The simulation runs every selected model after each heat step, on the
temperature at the start of the step (explicit, like the heat step).

Adding a model is one new file: subclass :class:`DamageModel`, decorate it with
:func:`register_damage_model`, and name it in ``SimulationOptions.damage_models`` (or the case
file's ``[options] damage_models``); ``docs/extending.md`` shows a worked example.

Built in: :class:`ArrheniusDamage` (``"arrhenius"``, Omega; perfusion stops where it reaches 1),
:class:`CEM43Dose` (``"cem43"``, cumulative equivalent minutes at 43 degC) and, in its own
module, the three-state cell-death model (``"three_state"``, :mod:`rfasim.physics.cell_death`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, TypeVar

import numba
import numpy as np

if TYPE_CHECKING:
    from rfasim.tissue import TissueModel

GAS_CONSTANT_J_PER_MOL_K = 8.314462618
KELVIN_OFFSET_K = 273.15


class DamageModel(ABC):
    """Interface of a damage model (see the module docstring)."""

    #: Registry key, used in options and case files.
    name: ClassVar[str] = ""
    #: Unit of the dose, for reports ("1" for dimensionless).
    dose_unit: ClassVar[str] = "1"

    @classmethod
    def from_tissue(cls, tissue: TissueModel) -> DamageModel:
        """The model with the tissue's parameters (default: the class's own defaults)."""
        del tissue
        return cls()

    def initial_dose(self, shape: tuple[int, ...]) -> np.ndarray:
        """Dose field of unheated tissue (zeros of the grid's shape by default)."""
        return np.zeros(shape)

    @abstractmethod
    def accumulate(self, dose: np.ndarray, temperature_c: np.ndarray, fixed: np.ndarray, time_step_s: float) -> None:
        """Add one step's dose in place, from the temperature (degC) at the start of the step.

        Only free voxels (``fixed == 0``) accumulate: fixed ones are held by a boundary condition.
        """

    @abstractmethod
    def necrotic(self, dose: np.ndarray) -> np.ndarray:
        """Boolean mask of the voxels this model considers dead."""

    def fused_in_heat_step(self) -> bool:
        """Whether the heat step accumulates this dose in its own pass (built-in models only:
        the heat kernel computes exactly what :meth:`accumulate` would, so the model's own pass
        is skipped).  A subclass that changes :meth:`accumulate` is never fused."""
        return False


_Model = TypeVar("_Model", bound=type[DamageModel])

#: name -> class of every registered damage model.
DAMAGE_MODELS: dict[str, type[DamageModel]] = {}


def register_damage_model(cls: _Model) -> _Model:
    """Class decorator: make a :class:`DamageModel` selectable by its ``name``."""
    if not cls.name:
        raise ValueError(f"damage model {cls.__name__} needs a non-empty class attribute 'name'")
    existing = DAMAGE_MODELS.get(cls.name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"damage model name {cls.name!r} is already registered by {existing.__qualname__}")
    DAMAGE_MODELS[cls.name] = cls
    return cls


def _load_all() -> None:
    """Built-in models that live in their own modules, then the plugins."""
    import rfasim.physics.cell_death  # noqa: F401  (registers "three_state")
    from rfasim.plugins import load_plugins

    load_plugins()


def damage_model_names() -> tuple[str, ...]:
    """Names of every registered damage model, plugins included."""
    _load_all()
    return tuple(DAMAGE_MODELS)


def damage_model(name: str, tissue: TissueModel) -> DamageModel:
    """The registered model ``name`` with the tissue's parameters.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    _load_all()
    if name not in DAMAGE_MODELS:
        raise ValueError(f"unknown damage model {name!r}; known: {', '.join(sorted(DAMAGE_MODELS))}")
    return DAMAGE_MODELS[name].from_tissue(tissue)


@numba.njit(parallel=True, cache=True)
def _arrhenius_step(damage, temperature, fixed, time_step_s, frequency_factor, activation_temperature, minimum_c):
    nx, ny, nz = temperature.shape
    for i in numba.prange(nx):
        for j in range(ny):
            for k in range(nz):
                t_here = temperature[i, j, k]
                if fixed[i, j, k] == 0 and t_here > minimum_c:
                    damage[i, j, k] += time_step_s * frequency_factor * math.exp(-activation_temperature / (t_here + 273.15))


@register_damage_model
class ArrheniusDamage(DamageModel):
    """First-order Arrhenius damage, ``Omega = integral A exp(-Ea / (R T)) dt``; dead where Omega >= 1.

    Parameters
    ----------
    frequency_factor_per_s : float
        A (1/s).  Liver default 7.39e39 1/s.
    activation_energy_j_per_mol : float
        Ea (J/mol).  Liver default 2.577e5 J/mol.
    minimum_temperature_c : float
        Damage is integrated only above this temperature (degC); see
        :class:`~rfasim.tissue.ArrheniusParameters` for why.

    Examples
    --------
    >>> import numpy as np
    >>> model = ArrheniusDamage()
    >>> dose = model.initial_dose((1, 1, 1))
    >>> model.accumulate(dose, np.full((1, 1, 1), 70.0), np.zeros((1, 1, 1), np.uint8), 10.0)
    >>> bool(model.necrotic(dose)[0, 0, 0])
    True
    """

    name = "arrhenius"

    def __init__(self, frequency_factor_per_s: float = 7.39e39, activation_energy_j_per_mol: float = 2.577e5,
                 minimum_temperature_c: float = 43.0) -> None:
        self.frequency_factor_per_s = float(frequency_factor_per_s)
        self.activation_energy_j_per_mol = float(activation_energy_j_per_mol)
        self.minimum_temperature_c = float(minimum_temperature_c)

    @classmethod
    def from_tissue(cls, tissue: TissueModel) -> ArrheniusDamage:
        parameters = tissue.arrhenius
        return cls(parameters.frequency_factor_per_s, parameters.activation_energy_j_per_mol,
                   parameters.minimum_temperature_c)

    @property
    def activation_temperature_k(self) -> float:
        """Ea / R (K)."""
        return self.activation_energy_j_per_mol / GAS_CONSTANT_J_PER_MOL_K

    def accumulate(self, dose: np.ndarray, temperature_c: np.ndarray, fixed: np.ndarray, time_step_s: float) -> None:
        _arrhenius_step(dose, temperature_c, fixed, float(time_step_s), self.frequency_factor_per_s,
                        self.activation_temperature_k, self.minimum_temperature_c)

    def accumulate_reference(self, dose: np.ndarray, temperature_c: np.ndarray, fixed: np.ndarray,
                             time_step_s: float) -> None:
        """Readable NumPy twin of :meth:`accumulate`."""
        hot = (fixed == 0) & (temperature_c > self.minimum_temperature_c)
        dose[hot] += time_step_s * self.frequency_factor_per_s * np.exp(
            -self.activation_temperature_k / (temperature_c[hot] + KELVIN_OFFSET_K)
        )

    def necrotic(self, dose: np.ndarray) -> np.ndarray:
        return dose >= 1.0

    def fused_in_heat_step(self) -> bool:
        return type(self).accumulate is ArrheniusDamage.accumulate

    def kernel_parameters(self) -> tuple[float, float, float]:
        """(A (1/s), Ea/R (K), minimum temperature (degC)) as the fused heat step takes them."""
        return self.frequency_factor_per_s, self.activation_temperature_k, self.minimum_temperature_c


@numba.njit(parallel=True, cache=True)
def _cem43_step(minutes, temperature, fixed, time_step_s):
    nx, ny, nz = temperature.shape
    for i in numba.prange(nx):
        for j in range(ny):
            for k in range(nz):
                t_here = temperature[i, j, k]
                if fixed[i, j, k] == 0 and t_here > 39.0:
                    base = 0.5 if t_here >= 43.0 else 0.25
                    minutes[i, j, k] += time_step_s / 60.0 * base ** (43.0 - t_here)


@register_damage_model
class CEM43Dose(DamageModel):
    """Cumulative equivalent minutes at 43 degC (Sapareto & Dewey); dead at ``threshold_min``.

    ``R = 0.5`` at or above 43 degC, 0.25 below; integrated above 39 degC.

    Parameters
    ----------
    threshold_min : float
        Dose (min) taken as necrosis; 240 min is the common value for liver.
    """

    name = "cem43"
    dose_unit = "min"

    def __init__(self, threshold_min: float = 240.0) -> None:
        self.threshold_min = float(threshold_min)

    def accumulate(self, dose: np.ndarray, temperature_c: np.ndarray, fixed: np.ndarray, time_step_s: float) -> None:
        _cem43_step(dose, temperature_c, fixed, float(time_step_s))

    def accumulate_reference(self, dose: np.ndarray, temperature_c: np.ndarray, fixed: np.ndarray,
                             time_step_s: float) -> None:
        """Readable NumPy twin of :meth:`accumulate`."""
        warm = (fixed == 0) & (temperature_c > 39.0)
        base = np.where(temperature_c >= 43.0, 0.5, 0.25)
        dose[warm] += time_step_s / 60.0 * base[warm] ** (43.0 - temperature_c[warm])

    def necrotic(self, dose: np.ndarray) -> np.ndarray:
        return dose >= self.threshold_min

    def fused_in_heat_step(self) -> bool:
        return type(self).accumulate is CEM43Dose.accumulate
