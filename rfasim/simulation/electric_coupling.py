"""The RF side of the coupled loop: electrode configurations, lazy re-solves, the impedance.

The potential is solved at unit voltage for the current sigma(T).  Between solves the heat step
evaluates the Joule source with the *current* sigma(T) and the frozen potential gradient, and
tallies the frozen-potential conductance, which by Thomson's principle is a first-order accurate
(upper) estimate of the true conductance; the generator's voltage is set from it.  The field is
solved again when the heating-weighted drift of sigma,
``sum q |sigma(T) - sigma_solve| / sum q sigma_solve``, exceeds the tolerance, warm-started from
the previous solution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rfasim.grid import Grid
from rfasim.physics.bioheat import PennesBioheat
from rfasim.physics.bioheat_kernel import HeatConstants, StepTallies
from rfasim.physics.electric import ElectricProblem
from rfasim.simulation.options import SimulationOptions
from rfasim.sources import ElectrodeRaster


class ElectrodeConfiguration:
    """One group of electrodes connected together, its problem and last solution."""

    def __init__(self, problem: ElectricProblem) -> None:
        self.problem = problem
        self.heating_per_conductivity: np.ndarray | None = None
        self.solve_conductivity: np.ndarray | None = None
        self.conductance_s = 0.0
        self.potential: np.ndarray | None = None


class ElectricCoupling:
    """Electric configurations of a run (one per electrode group the generator switches between).

    Parameters
    ----------
    grid : Grid
    electrodes : sequence of ElectrodeRaster
    groups : list of list of int
        Electrode indices connected together, per configuration.
    options : SimulationOptions
    bioheat : PennesBioheat
        Gives sigma(T).
    """

    def __init__(self, grid: Grid, electrodes: Sequence[ElectrodeRaster], groups: list[list[int]],
                 options: SimulationOptions, bioheat: PennesBioheat) -> None:
        self.configurations: list[ElectrodeConfiguration] = []
        for group in groups:
            bad = [index for index in group if not 0 <= index < len(electrodes)]
            if bad:
                raise ValueError(f"generator group refers to electrode {bad[0]}, only {len(electrodes)} given")
            problem = ElectricProblem(grid, [electrodes[i] for i in group], options.grounded_faces,
                                      options.make_electric_solver())
            self.configurations.append(ElectrodeConfiguration(problem))
        self.tolerance = options.electric_update_tolerance
        self.local_updates = options.electric_update == "local"
        self.bioheat = bioheat
        self.group = 0
        self.conductance_estimate_s = 0.0
        self.drift = 0.0
        self.solves = 0
        self.solve_seconds = 0.0
        self._conductivity = np.empty(grid.shape)
        #: Dried fraction sigma remembers (desiccation hysteresis), set by the simulation; or None.
        self.dried_fraction: np.ndarray | None = None

    @property
    def active(self) -> ElectrodeConfiguration:
        """The connected configuration."""
        return self.configurations[self.group]

    @property
    def impedance_ohm(self) -> float:
        """Impedance estimate between the connected terminals (Ohm)."""
        return 1.0 / self.conductance_estimate_s if self.conductance_estimate_s > 0 else math.inf

    @property
    def stale(self) -> bool:
        """Whether sigma has drifted past the tolerance since the last solve."""
        return self.drift > self.tolerance

    def solve(self, temperature_c: np.ndarray, material: np.ndarray, constants: HeatConstants) -> None:
        """Solve the connected configuration for the current sigma(T)."""
        configuration = self.active
        self.bioheat.conductivity(temperature_c, material, constants, self._conductivity, self.dried_fraction)
        problem = configuration.problem
        if self.local_updates:
            # A drift above zero since this configuration's last solve means sigma has changed.
            solution = problem.update(self._conductivity, known_changed=self.drift > 0.0)
        else:
            solution = problem.solve(self._conductivity)
        # Single precision halves what the heat step reads; the Joule source keeps 7 digits.  The
        # configuration's buffers are filled in place: no fresh grid-sized arrays per solve.
        if configuration.heating_per_conductivity is None or configuration.solve_conductivity is None:
            configuration.heating_per_conductivity = np.empty(self._conductivity.shape, np.float32)
            configuration.solve_conductivity = np.empty(self._conductivity.shape, np.float32)
        np.copyto(configuration.heating_per_conductivity, solution.heating_per_conductivity, casting="same_kind")
        np.copyto(configuration.solve_conductivity, self._conductivity, casting="same_kind")
        configuration.conductance_s = solution.conductance_s
        configuration.potential = solution.potential_v
        self.conductance_estimate_s = solution.conductance_s
        self.drift = 0.0  # the field is fresh
        self.solves += 1
        self.solve_seconds += solution.solve_seconds

    def connect(self, group: int, temperature_c: np.ndarray, material: np.ndarray, constants: HeatConstants) -> None:
        """Switch to another configuration (solved at once for the current temperatures)."""
        self.group = group
        self.drift = 0.0  # the drift was the previous configuration's
        self.solve(temperature_c, material, constants)

    def observe(self, tallies: StepTallies) -> None:
        """Take the step's conductance estimate and sigma drift."""
        self.conductance_estimate_s = tallies.next_conductance_s
        self.drift = tallies.conductivity_drift_s / max(self.active.conductance_s, 1e-300)
