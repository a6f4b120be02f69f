"""rfasim: radiofrequency ablation planning simulator.

A finite-volume Pennes bioheat solver coupled to the quasi-static RF electric field, JIT-compiled
with Numba, running on CT-derived liver volumes with electrodes placed in world millimetres.
"""

from __future__ import annotations

import os

# Numba's OpenMP layer spin-waits between parallel regions by default; on a busy machine each
# of the ~140 launches of a multigrid V-cycle then costs a scheduler slice (measured: 30x slower
# V-cycles, benchmarks/README.md).  Passive waiting costs nothing measurable on large kernels.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

# The core nouns and the one verb (the rest lives in the subpackages: imaging, probes, plan, viz,
# sweep, metrics).
from rfasim.generators import (  # noqa: E402
    ConstantPower,
    ImpedanceControlled,
    RampSchedule,
    Switched,
    TemperatureControlled,
)
from rfasim.grid import Grid  # noqa: E402
from rfasim.simulation import Simulation, SimulationOptions, SimulationResult, TissueState, simulate  # noqa: E402
from rfasim.sources import ElectrodeRaster, PowerDensitySource  # noqa: E402
from rfasim.tissue import TissueClass, TissueModel, TissueProperties  # noqa: E402

__all__ = [
    "ConstantPower",
    "ElectrodeRaster",
    "Grid",
    "ImpedanceControlled",
    "PowerDensitySource",
    "RampSchedule",
    "Simulation",
    "SimulationOptions",
    "SimulationResult",
    "Switched",
    "TemperatureControlled",
    "TissueClass",
    "TissueModel",
    "TissueProperties",
    "TissueState",
    "__version__",
    "simulate",
]
