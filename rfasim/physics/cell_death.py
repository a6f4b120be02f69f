"""The three-state cell-death model (alive, vulnerable, dead) of O'Neill et al. (2011).

    dA/dt = -k_f (1 - A) A + k_b V,    dD/dt = k_f (1 - A) V,    V = 1 - A - D,
    k_f = kf_bar exp(T / T_k)   (T in degC)

Cells pass from alive to vulnerable and from vulnerable to dead at the temperature-dependent
forward rate; vulnerable cells recover at the backward rate ``k_b`` — the recovery that the
Arrhenius model lacks.  Parameters: ``kf_bar = 3.33e-3 1/s``, ``k_b = 7.77e-3 1/s``,
``T_k = 40.5 degC``, the fast-death fit of O'Neill et al., Ann Biomed Eng 39:570-579 (2011),
doi:10.1007/s10439-010-0177-1, as the Go-Smart project's open implementation uses them
(github.com/go-smart/goosefoot-elmer-modules, NumaCellState.f90: "Forward Rate 0.00333",
"Backward Rate 0.00777", "Exponential Rate 40.5").

Assumptions (marked, to be calibrated): the model needs some cells outside the alive state to
start (``(1 - A)`` multiplies the rates), so tissue starts at ``A0 = 0.99``, ``V0 = 0.01``; a
voxel counts as dead once ``D >= 0.8`` (O'Neill et al. propose a critical post-heating viability
threshold; 0.8 is our placeholder, not their number).  At 37 degC the model is almost balanced
(A drifts by about 0.003 over 12 minutes).

This module is also the worked proof that a damage model is one file: it registers itself and
needs no edit elsewhere (select it with ``damage_models = [..., "three_state"]``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from rfasim.physics.damage import DamageModel, register_damage_model

FORWARD_RATE_PER_S = 3.33e-3
BACKWARD_RATE_PER_S = 7.77e-3
EXPONENTIAL_TEMPERATURE_C = 40.5


@numba.njit(parallel=True, cache=True)
def _three_state_step(state, temperature, fixed, time_step_s, forward, backward, exponential_c):
    nx, ny, nz = temperature.shape
    for i in numba.prange(nx):
        for j in range(ny):
            for k in range(nz):
                if fixed[i, j, k] != 0:
                    continue
                alive = state[0, i, j, k]
                dead = state[1, i, j, k]
                vulnerable = 1.0 - alive - dead
                rate = forward * math.exp(temperature[i, j, k] / exponential_c) * (1.0 - alive)
                alive_new = alive + time_step_s * (-rate * alive + backward * vulnerable)
                dead_new = dead + time_step_s * rate * vulnerable
                # Forward Euler on a bounded system: keep the fractions in [0, 1] and summing to <= 1.
                dead_new = min(max(dead_new, 0.0), 1.0)
                alive_new = min(max(alive_new, 0.0), 1.0 - dead_new)
                state[0, i, j, k] = alive_new
                state[1, i, j, k] = dead_new


@register_damage_model
class ThreeStateCellDeath(DamageModel):
    """O'Neill et al. (2011) three-state model; dose = (alive, dead) fractions, shape (2, nx, ny, nz).

    Parameters
    ----------
    forward_rate_per_s, backward_rate_per_s : float
        ``kf_bar`` and ``k_b`` (1/s).
    exponential_temperature_c : float
        ``T_k`` (degC).
    initial_alive : float
        Alive fraction of unheated tissue (assumption, see the module docstring).
    dead_threshold : float
        Dead fraction at which a voxel counts as necrotic (assumption).

    Examples
    --------
    >>> import numpy as np
    >>> model = ThreeStateCellDeath()
    >>> dose = model.initial_dose((1, 1, 1))
    >>> for _ in range(600):
    ...     model.accumulate(dose, np.full((1, 1, 1), 90.0), np.zeros((1, 1, 1), np.uint8), 1.0)
    >>> bool(model.necrotic(dose)[0, 0, 0])
    True
    """

    name = "three_state"

    def __init__(self, forward_rate_per_s: float = FORWARD_RATE_PER_S, backward_rate_per_s: float = BACKWARD_RATE_PER_S,
                 exponential_temperature_c: float = EXPONENTIAL_TEMPERATURE_C, initial_alive: float = 0.99,
                 dead_threshold: float = 0.8) -> None:
        for label, value in (("forward_rate_per_s", forward_rate_per_s), ("backward_rate_per_s", backward_rate_per_s),
                             ("exponential_temperature_c", exponential_temperature_c)):
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"three_state {label} must be positive and finite, got {value!r}")
        if not 0.0 < initial_alive < 1.0:
            raise ValueError(f"three_state initial_alive must lie in (0, 1), got {initial_alive!r}")
        if not 0.0 < dead_threshold <= 1.0:
            raise ValueError(f"three_state dead_threshold must lie in (0, 1], got {dead_threshold!r}")
        self.forward_rate_per_s = float(forward_rate_per_s)
        self.backward_rate_per_s = float(backward_rate_per_s)
        self.exponential_temperature_c = float(exponential_temperature_c)
        self.initial_alive = float(initial_alive)
        self.dead_threshold = float(dead_threshold)

    def initial_dose(self, shape: tuple[int, ...]) -> np.ndarray:
        dose = np.zeros((2, *shape))
        dose[0] = self.initial_alive
        return dose

    def accumulate(self, dose: np.ndarray, temperature_c: np.ndarray, fixed: np.ndarray, time_step_s: float) -> None:
        _three_state_step(dose, temperature_c, fixed, float(time_step_s), self.forward_rate_per_s,
                          self.backward_rate_per_s, self.exponential_temperature_c)

    def accumulate_reference(self, dose: np.ndarray, temperature_c: np.ndarray, fixed: np.ndarray,
                             time_step_s: float) -> None:
        """Readable NumPy twin of :meth:`accumulate`."""
        free = fixed == 0
        alive, dead = dose[0], dose[1]
        vulnerable = 1.0 - alive - dead
        rate = self.forward_rate_per_s * np.exp(temperature_c / self.exponential_temperature_c) * (1.0 - alive)
        dead_new = np.clip(dead + time_step_s * rate * vulnerable, 0.0, 1.0)
        alive_new = np.clip(alive + time_step_s * (-rate * alive + self.backward_rate_per_s * vulnerable), 0.0, 1.0 - dead_new)
        dose[0] = np.where(free, alive_new, alive)
        dose[1] = np.where(free, dead_new, dead)

    def necrotic(self, dose: np.ndarray) -> np.ndarray:
        return dose[1] >= self.dead_threshold
