"""rfasim against an independent code: py-pde on a shared Pennes problem.

The two codes integrate ``rho c dT/dt = k lap T + w_b rho_b c_b (T_a - T) + Q`` for a fixed
Gaussian power density in uniform perfused liver (no vaporisation, damage switched off), on the
same cell-centred grid; :func:`compare_with_py_pde` reports their largest temperature
difference.  py-pde is a test dependency (``pip install -e ".[test]"``).

Examples
--------
>>> grid = Grid.centered(40.0, 1.0)
>>> density = gaussian_power_density(grid, 10.0, 4.0)
>>> round(float(density.sum() * grid.voxel_volume_m3), 3)
10.0
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from rfasim import SimulationOptions, simulate
from rfasim.grid import Grid
from rfasim.sources import PowerDensitySource
from rfasim.tissue import ArrheniusParameters, TissueClass, VaporizationModel, homogeneous_liver

#: Isotherm (degC) whose volume the two codes compare.
ISOTHERM_C = 50.0


@dataclass
class PyPdeComparison:
    """rfasim against py-pde on the same Pennes problem.

    Attributes
    ----------
    max_abs_difference_c : float
        Largest |T_rfasim - T_py-pde| over the grid at the end (degC), py-pde with its adaptive
        Runge-Kutta stepper (or the fixed step asked for).
    same_step_max_abs_difference_c : float
        The same against py-pde's forward Euler at rfasim's own time step (degC): what is left
        is the code and the boundary, not the time discretisation.
    core_max_abs_difference_c : float
        Largest difference in the central half of the box (degC), away from the two codes'
        different boundary placements.
    rfasim_time_step_s : float
        rfasim's explicit step (s).
    peak_temperature_c : float
        Hottest temperature (rfasim) (degC).
    rfasim_volume_ml, pypde_volume_ml : float
        Volume inside the isotherm (mL).
    volume_difference_pct : float
        (rfasim - py-pde) / py-pde in %.
    isotherm_c : float
    coordinates_mm, rfasim_profile_c, pypde_profile_c : ndarray
        Temperature along x through the centre (for figures).
    rfasim_wall_s, pypde_wall_s : float
        Wall times (s).
    """

    max_abs_difference_c: float
    same_step_max_abs_difference_c: float
    core_max_abs_difference_c: float
    rfasim_time_step_s: float
    peak_temperature_c: float
    rfasim_volume_ml: float
    pypde_volume_ml: float
    volume_difference_pct: float
    isotherm_c: float
    coordinates_mm: np.ndarray = field(repr=False)
    rfasim_profile_c: np.ndarray = field(repr=False)
    pypde_profile_c: np.ndarray = field(repr=False)
    rfasim_wall_s: float = 0.0
    pypde_wall_s: float = 0.0


def gaussian_power_density(grid: Grid, total_power_w: float, width_mm: float) -> np.ndarray:
    """Isotropic Gaussian power density (W/m^3) centred on the origin, integrating to ``total_power_w``.

    """
    x, y, z = grid.voxel_centers_mm()
    shape = np.exp(-(x**2 + y**2 + z**2) / (2.0 * width_mm**2))
    shape = np.broadcast_to(shape, grid.shape)
    return total_power_w * shape / (shape.sum() * grid.voxel_volume_m3)


def compare_with_py_pde(
    extent_mm: float = 40.0,
    spacing_mm: float = 1.0,
    duration_s: float = 300.0,
    total_power_w: float = 3.0,
    width_mm: float = 3.0,
    isotherm_c: float = ISOTHERM_C,
    pypde_time_step_s: float | None = None,
) -> PyPdeComparison:
    """Run the same Pennes problem in rfasim and in py-pde, and compare.

    Problem: uniform perfused liver (rfasim's defaults), a fixed Gaussian power density
    (:class:`~rfasim.sources.PowerDensitySource`), no vaporisation, 37 degC initially and at the
    boundary.  py-pde integrates ``rho c dT/dt = k lap T + w_b rho_b c_b (T_a - T) + Q`` on the
    same cell-centred grid with Dirichlet 37 degC at the box faces, with its own explicit
    Runge-Kutta stepper.  rfasim holds its outermost voxel layer at 37 degC instead; the half
    voxel this moves the boundary matters little because the box is much larger than the heated
    region.

    Parameters
    ----------
    extent_mm, spacing_mm : float
        Box edge and grid spacing (mm).
    duration_s : float
        Heating time (s).
    total_power_w, width_mm : float
        Source power (W) and Gaussian standard deviation (mm).
    isotherm_c : float
        Isotherm for the volume comparison (degC).
    pypde_time_step_s : float, optional
        Fixed py-pde step (s); default: adaptive Runge-Kutta.

    Returns
    -------
    PyPdeComparison
    """
    import pde  # optional dependency, used only here

    # rfasim stops perfusion where Arrhenius damage reaches 1 (coagulated tissue); the shared
    # problem is plain Pennes, so damage integration is moved out of reach (threshold 1e6 degC).
    tissue = replace(
        homogeneous_liver(perfused=True),
        vaporization=VaporizationModel(enabled=False),
        arrhenius=ArrheniusParameters(minimum_temperature_c=1.0e6),
    )
    liver = tissue.classes[TissueClass.LIVER]
    grid = Grid.centered(extent_mm, spacing_mm)
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    density = gaussian_power_density(grid, total_power_w, width_mm)

    start = time.perf_counter()
    result = simulate(grid, material, tissue=tissue, source=PowerDensitySource(density), duration_s=duration_s,
                      options=SimulationOptions(record_interval_s=duration_s))
    rfasim_wall = time.perf_counter() - start
    rfasim_temperature = result.temperature_c

    heat_capacity = liver.density_kg_per_m3 * liver.specific_heat_j_per_kg_k
    diffusivity_mm2 = liver.thermal_conductivity_w_per_m_k / heat_capacity * 1e6  # mm^2/s (lengths in mm)
    perfusion_rate = liver.perfusion_rate_per_s * tissue.blood_heat_capacity_j_per_m3_k / heat_capacity
    heating_rate = density / heat_capacity  # K/s
    arterial = tissue.body_temperature_c

    axes = grid.axis_coordinates_mm()
    bounds = [(float(a[0]) - 0.5 * spacing_mm, float(a[-1]) + 0.5 * spacing_mm) for a in axes]
    pde_grid = pde.CartesianGrid(bounds, list(grid.shape))
    boundary = {"value": arterial}

    class PennesPDE(pde.PDEBase):  # type: ignore[misc]
        """Pennes bioheat with a fixed source, constant properties."""

        def evolution_rate(self, state, t=0):  # noqa: ARG002 - py-pde's signature
            laplacian = state.laplace(bc=boundary)
            return diffusivity_mm2 * laplacian + perfusion_rate * (arterial - state) + heating_rate_field

    heating_rate_field = pde.ScalarField(pde_grid, heating_rate)
    initial = pde.ScalarField(pde_grid, arterial)
    start = time.perf_counter()
    if pypde_time_step_s is None:
        final = PennesPDE().solve(initial, t_range=duration_s, dt=0.5, solver="runge-kutta", adaptive=True,
                                  tolerance=1e-6, tracker=None, backend="numpy")
    else:
        final = PennesPDE().solve(initial, t_range=duration_s, dt=pypde_time_step_s, solver="euler",
                                  tracker=None, backend="numpy")
    pypde_wall = time.perf_counter() - start
    pypde_temperature = np.asarray(final.data)
    # The same forward-Euler step as rfasim: isolates the spatial discretisation and the code.
    same_step = PennesPDE().solve(initial, t_range=duration_s, dt=result.time_step_s, solver="euler",
                                  tracker=None, backend="numpy")
    same_step_temperature = np.asarray(same_step.data)

    interior = (slice(1, -1),) * 3  # rfasim's outer layer is its Dirichlet boundary
    difference = np.abs(rfasim_temperature[interior] - pypde_temperature[interior])
    same_step_difference = np.abs(rfasim_temperature[interior] - same_step_temperature[interior])
    quarter = [max(1, n // 4) for n in grid.shape]
    core = tuple(slice(q, n - q) for q, n in zip(quarter, grid.shape, strict=True))
    core_difference = np.abs(rfasim_temperature[core] - pypde_temperature[core])
    rfasim_volume = float((rfasim_temperature >= isotherm_c).sum()) * grid.voxel_volume_ml
    pypde_volume = float((pypde_temperature >= isotherm_c).sum()) * grid.voxel_volume_ml
    centre = [int(np.argmin(np.abs(a))) for a in axes]
    return PyPdeComparison(
        max_abs_difference_c=float(difference.max()),
        same_step_max_abs_difference_c=float(same_step_difference.max()),
        core_max_abs_difference_c=float(core_difference.max()),
        rfasim_time_step_s=float(result.time_step_s),
        peak_temperature_c=float(rfasim_temperature.max()),
        rfasim_volume_ml=rfasim_volume,
        pypde_volume_ml=pypde_volume,
        volume_difference_pct=100.0 * (rfasim_volume - pypde_volume) / pypde_volume if pypde_volume else math.nan,
        isotherm_c=isotherm_c,
        coordinates_mm=axes[0].copy(),
        rfasim_profile_c=rfasim_temperature[:, centre[1], centre[2]].copy(),
        pypde_profile_c=pypde_temperature[:, centre[1], centre[2]].copy(),
        rfasim_wall_s=rfasim_wall,
        pypde_wall_s=pypde_wall,
    )
