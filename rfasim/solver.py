"""Former home of the time loop, kept so ``from rfasim.solver import simulate`` keeps working.

The loop now lives in :mod:`rfasim.simulation` (:class:`~rfasim.simulation.Simulation`); the
Pennes model in :mod:`rfasim.physics.bioheat`, damage models in :mod:`rfasim.physics.damage`.
"""

from rfasim.physics.bioheat import half_resistances
from rfasim.simulation import (
    BYTES_PER_VOXEL_ESTIMATE,
    EnergyBalance,
    Simulation,
    SimulationOptions,
    SimulationResult,
    TimeSeries,
    TissueState,
    simulate,
)

__all__ = [
    "BYTES_PER_VOXEL_ESTIMATE",
    "EnergyBalance",
    "Simulation",
    "SimulationOptions",
    "SimulationResult",
    "TimeSeries",
    "TissueState",
    "half_resistances",
    "simulate",
]
