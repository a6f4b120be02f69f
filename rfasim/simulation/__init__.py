"""The coupled simulation: :class:`Simulation` (setup, step, run), :func:`simulate`, its options and results."""

from rfasim.simulation.core import GeneratorOutput, Simulation, simulate
from rfasim.simulation.options import (
    BYTES_PER_VOXEL_ESTIMATE,
    ELECTRIC_SOLVERS,
    LinearSolver,
    SimulationOptions,
)
from rfasim.simulation.state import EnergyBalance, SimulationResult, TimeSeries, TissueState

__all__ = [
    "BYTES_PER_VOXEL_ESTIMATE",
    "ELECTRIC_SOLVERS",
    "EnergyBalance",
    "GeneratorOutput",
    "LinearSolver",
    "Simulation",
    "SimulationOptions",
    "SimulationResult",
    "TimeSeries",
    "TissueState",
    "simulate",
]
