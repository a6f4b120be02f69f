"""Numba kernel of the Pennes bioheat step; :mod:`rfasim.physics.bioheat` holds the model and
its readable NumPy twin, which the tests check this kernel against.

One parallel pass per time step updates the temperature (explicit finite volumes, Pennes, the
enthalpy method for the latent heat of tissue water) and the peak temperature, evaluates the
Joule source at the current sigma(T), and accumulates every term of the energy balance plus what
the coupled solver needs next (the frozen-potential conductance estimate and the drift of sigma
since the last electric solve).  The built-in damage doses (Arrhenius Omega and CEM43) are
accumulated in the same pass from the step's starting temperature, exactly as their models'
own passes would (:mod:`rfasim.physics.damage`); other damage models run their own passes.

Paths through the pass (one parallel region per call: its scratch arrays are ``np.empty``, as
each ``np.zeros`` would be a region of its own, and each region costs a wake-up of the sleeping
OpenMP threads, ~60 us under ``OMP_WAIT_POLICY=PASSIVE``):

- rows on the outer layer and the rows' ends: the layer is fixed (``ThermalBoundary`` checks
  it), so each voxel books only the face to its one inward neighbour (``_outer_voxel``);
- rows of one material with no fixed voxel, whose four neighbour rows share the material
  (classified once per material map, :func:`uniform_row_materials`, kept by
  ``ThermalBoundary.row_materials``): a branch-free update that vectorises
  (``_uniform_row_update``), then, in rows where a dose is due, a branch-free dose pass
  (``_dose_row``) whose exponential is :func:`~rfasim.physics.vector_math.exp_vectorizable`;
- every other voxel, and those the vectorised update leaves (latent heat, the vaporisation
  drop, a gradual-stasis perfusion): the general per-voxel update (``_voxel``).

Bytes per voxel on the vectorised path: the temperature and Omega (float64) are read, the new
temperature written, the peak temperature (float32) read and written, the heating per
conductivity and the conductivity at the last solve (float32) read, and the user's power
density (float64) where there is one; the doses only in rows where one is due.  Each physical
term is one inline helper (``_conductivity``, ``_perfusion``, ``_arrhenius_increment``,
``_cem43_increment``, ``_advance``) so that further terms can be added as helpers of their own.

The kernel reads its constants from two typed records built once per run by
:class:`~rfasim.physics.bioheat.PennesBioheat`: :class:`HeatConstants` (scalars) and
:class:`MaterialTable` (per-material property arrays indexed by material code).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from rfasim.physics.vector_math import exp_vectorizable


class HeatConstants(NamedTuple):
    """Scalar constants of one run's heat step (SI).

    Attributes
    ----------
    spacing_m : float
        Voxel edge (m).
    time_step_s : float
        Explicit time step (s).
    blood_heat_capacity_j_per_m3_k : float
        rho_b c_b of arterial blood (J/(m^3 K)).
    blood_temperature_c : float
        Arterial blood temperature of the Pennes term (degC).
    reference_temperature_c : float
        Temperature at which the tabulated electrical conductivities hold (degC).
    vaporization_onset_c, vaporization_width_c : float
        Desiccation window (degC).
    vaporization_log_drop : float
        ln(sigma after / sigma before) across the window.
    vaporization_enabled : float
        1.0 when the vaporisation model is on, else 0.0.
    perfusion_stasis : float
        0.0: perfusion stops where the vascular damage reaches 1 (cutoff); 1.0: it falls as
        ``exp(-Omega)`` (gradual vascular stasis); 2.0: gradual stasis with a hyperaemic rise
        before it (:func:`perfusion_factor`).
    arrhenius_frequency_factor_per_s : float
        A of the Arrhenius dose accumulated in the pass (1/s); 0.0: Omega is not accumulated
        (only read, for the perfusion).
    arrhenius_activation_temperature_k : float
        Ea / R (K).
    arrhenius_minimum_c : float
        Omega accumulates only above this temperature (degC).
    omega_gate_c : float
        Omega is read only where the peak temperature exceeds this (degC); elsewhere it is taken
        as zero.  Exact when no voxel at or below it holds a dose (the simulation checks this and
        uses ``-inf`` otherwise); a little below ``arrhenius_minimum_c`` to absorb the float32
        rounding of the peak.
    cem43_enabled : float
        1.0: the CEM43 dose (minutes) is accumulated into ``cem43_minutes``.
    hyperaemia_factor : float
        Peak perfusion over baseline of the hyperaemic response (1.0: no rise).
    hyperaemia_peak_stasis : float
        Degree of vascular stasis ``DS = 1 - exp(-Omega)`` at which the hyperaemic peak lies.
    desiccation_memory : float
        1.0 when sigma follows the per-voxel dried fraction (desiccation hysteresis), else 0.0.
    """

    spacing_m: float
    time_step_s: float
    blood_heat_capacity_j_per_m3_k: float
    blood_temperature_c: float
    reference_temperature_c: float
    vaporization_onset_c: float
    vaporization_width_c: float
    vaporization_log_drop: float
    vaporization_enabled: float
    perfusion_stasis: float = 0.0
    arrhenius_frequency_factor_per_s: float = 0.0
    arrhenius_activation_temperature_k: float = 0.0
    arrhenius_minimum_c: float = math.inf
    omega_gate_c: float = -math.inf
    cem43_enabled: float = 0.0
    hyperaemia_factor: float = 1.0
    hyperaemia_peak_stasis: float = 0.1
    desiccation_memory: float = 0.0


class MaterialTable(NamedTuple):
    """Per-material property arrays (index: material code), as the kernels read them.

    Attributes
    ----------
    density_kg_per_m3, specific_heat_j_per_kg_k : ndarray
    half_resistance_m2_k_per_w : ndarray
        Thermal resistance from a voxel's centre to its face (``h / 2k`` plus wall films).
    face_conductance_w_per_k : ndarray, shape (m, m)
        Conductance of the face between materials a and b, ``h^2 / (r_a + r_b)``; zero where the
        face joins two isothermal materials or an insulator.
    electrical_conductivity_s_per_m, conductivity_temperature_coefficient_per_k : ndarray
    perfusion_rate_per_s, metabolic_heat_w_per_m3 : ndarray
    latent_heat_j_per_kg : ndarray
        Water mass fraction times the latent heat (J per kg of tissue).
    """

    density_kg_per_m3: np.ndarray
    specific_heat_j_per_kg_k: np.ndarray
    half_resistance_m2_k_per_w: np.ndarray
    face_conductance_w_per_k: np.ndarray
    electrical_conductivity_s_per_m: np.ndarray
    conductivity_temperature_coefficient_per_k: np.ndarray
    perfusion_rate_per_s: np.ndarray
    metabolic_heat_w_per_m3: np.ndarray
    latent_heat_j_per_kg: np.ndarray


class StepTallies(NamedTuple):
    """What one heat step returns (J, and S for the conductance figures).

    Attributes
    ----------
    electrical_j : float
        Joule heat deposited, all voxels.
    external_j : float
        User power density deposited.
    metabolic_j : float
    stored_j : float
        Change of the free tissue's enthalpy.
    perfusion_j : float
        Heat carried away by the Pennes term.
    fixed_sink_j : float
        Heat flowing into fixed-temperature voxels (outer layer, vessels, coolant).
    deposited_in_fixed_j : float
        Joule and external heat deposited in fixed voxels (carried away at once).
    next_conductance_s : float
        Frozen-potential conductance at the new temperatures.
    conductivity_drift_s : float
        Heating-weighted sum of ``|sigma(T) - sigma_solve|``: the re-solve metric.
    """

    electrical_j: float
    external_j: float
    metabolic_j: float
    stored_j: float
    perfusion_j: float
    fixed_sink_j: float
    deposited_in_fixed_j: float
    next_conductance_s: float
    conductivity_drift_s: float


TALLY_COUNT = len(StepTallies._fields)
_LN2 = math.log(2.0)


@numba.njit(cache=True, inline="always")
def _conductivity(sigma_reference: float, coefficient: float, temperature: float, reference_c: float,
                  onset_c: float, width_c: float, log_drop: float) -> float:
    """sigma(T) (S/m) from scalars (``onset_c = inf`` switches the vaporisation drop off)."""
    factor = 1.0 + coefficient * (temperature - reference_c)
    if factor < 0.05:
        factor = 0.05
    if temperature > onset_c:
        fraction = (temperature - onset_c) / width_c
        if fraction > 1.0:
            fraction = 1.0
        factor *= math.exp(log_drop * fraction)
    return sigma_reference * factor


@numba.njit(cache=True, inline="always")
def perfusion_factor(omega: float, mode: float, hyperaemia: float, peak: float) -> float:
    """Perfusion over its baseline at vascular damage ``omega`` (docs/parameters.md).

    ``mode`` 0: 1 until ``omega`` reaches 1, then 0 (cutoff).  1: ``1 - DS = exp(-omega)``, the
    first-order Arrhenius stasis model (Schutt & Haemmerich 2008).  2: the same with a hyperaemic
    rise first: linear from 1 to ``hyperaemia`` as DS goes from 0 to ``peak``, then linear down to
    0 at DS = 1 (the shape is an assumption; the peak below DS ~ 0.1 is as reported).
    """
    if mode < 0.5:
        return 1.0 if omega < 1.0 else 0.0
    remaining = math.exp(-omega)
    if mode < 1.5:
        return remaining
    stasis = 1.0 - remaining
    if stasis <= peak:
        return 1.0 + (hyperaemia - 1.0) * stasis / peak
    return hyperaemia * remaining / (1.0 - peak)


@numba.njit(cache=True, inline="always")
def _dried_conductivity(sigma_reference: float, coefficient: float, temperature: float, dried: float,
                        reference_c: float, onset_c: float, width_c: float, log_drop: float) -> float:
    """sigma(T) (S/m) of tissue that has dried by ``dried`` (0-1): the vaporisation drop follows the
    larger of the present vaporised fraction and the remembered one (desiccation hysteresis)."""
    factor = 1.0 + coefficient * (temperature - reference_c)
    if factor < 0.05:
        factor = 0.05
    fraction = 0.0
    if temperature > onset_c:
        fraction = (temperature - onset_c) / width_c
        if fraction > 1.0:
            fraction = 1.0
    if dried > fraction:
        fraction = dried
    if fraction > 0.0:
        factor *= math.exp(log_drop * fraction)
    return sigma_reference * factor


@numba.njit(cache=True)
def conductivity_at(sigma_reference: float, coefficient: float, temperature: float, constants: HeatConstants) -> float:
    """sigma(T) (S/m): linear rise, then the log-linear vaporisation drop."""
    onset = constants.vaporization_onset_c if constants.vaporization_enabled > 0.0 else np.inf
    return _conductivity(sigma_reference, coefficient, temperature, constants.reference_temperature_c, onset,
                         constants.vaporization_width_c, constants.vaporization_log_drop)


@numba.njit(cache=True)
def enthalpy_density(density: float, specific_heat: float, latent: float, temperature: float, constants: HeatConstants) -> float:
    """Enthalpy (J/m^3) relative to the vaporisation onset, latent heat included."""
    onset = constants.vaporization_onset_c
    enthalpy = density * specific_heat * (temperature - onset)
    if constants.vaporization_enabled > 0.0 and latent > 0.0:
        fraction = (temperature - onset) / constants.vaporization_width_c
        if fraction > 1.0:
            fraction = 1.0
        if fraction > 0.0:
            enthalpy += density * latent * fraction
    return enthalpy


@numba.njit(cache=True)
def heat_temperature(
    density: float, specific_heat: float, latent: float, temperature: float, energy_density: float,
    constants: HeatConstants,
) -> float:
    """Temperature (degC) after adding ``energy_density`` (J/m^3) to tissue at ``temperature``.

    Enthalpy method: H(T) rises with slope rho c, plus the latent heat rho L spread evenly over
    the vaporisation window.  Inverting H exactly conserves energy and never lets a large step
    jump over the latent plateau.
    """
    rho_c = density * specific_heat
    if constants.vaporization_enabled <= 0.0 or latent <= 0.0:
        return temperature + energy_density / rho_c
    onset = constants.vaporization_onset_c
    width = constants.vaporization_width_c
    rho_latent = density * latent
    fraction = (temperature - onset) / width
    if fraction < 0.0:
        fraction = 0.0
    elif fraction > 1.0:
        fraction = 1.0
    enthalpy = rho_c * (temperature - onset) + rho_latent * fraction + energy_density
    if enthalpy <= 0.0:
        return onset + enthalpy / rho_c
    if enthalpy <= (rho_c + rho_latent / width) * width:
        return onset + enthalpy / (rho_c + rho_latent / width)
    return onset + (enthalpy - rho_latent) / rho_c


@numba.njit(cache=True, inline="always")
def _heat_into_fixed(temperature, material, fixed, face, i, j, k):
    """Heat flow (W) from the free neighbours of fixed voxel (i, j, k) into it.

    Booked on the fixed side, so the common (free) path carries no per-face test; voxels on the
    outer layer have fewer neighbours.
    """
    nx, ny, nz = temperature.shape
    # prange hands out unsigned indices; unsigned + signed would promote to float.
    i, j, k = np.int64(i), np.int64(j), np.int64(k)
    t_here = temperature[i, j, k]
    m = material[i, j, k]
    total = 0.0
    if i > 0 and fixed[i - 1, j, k] == 0:
        total += face[m, material[i - 1, j, k]] * (temperature[i - 1, j, k] - t_here)
    if i < nx - 1 and fixed[i + 1, j, k] == 0:
        total += face[m, material[i + 1, j, k]] * (temperature[i + 1, j, k] - t_here)
    if j > 0 and fixed[i, j - 1, k] == 0:
        total += face[m, material[i, j - 1, k]] * (temperature[i, j - 1, k] - t_here)
    if j < ny - 1 and fixed[i, j + 1, k] == 0:
        total += face[m, material[i, j + 1, k]] * (temperature[i, j + 1, k] - t_here)
    if k > 0 and fixed[i, j, k - 1] == 0:
        total += face[m, material[i, j, k - 1]] * (temperature[i, j, k - 1] - t_here)
    if k < nz - 1 and fixed[i, j, k + 1] == 0:
        total += face[m, material[i, j, k + 1]] * (temperature[i, j, k + 1] - t_here)
    return total


@numba.njit(cache=True, inline="always")
def _outer_voxel(i, j, k, inward_i, inward_j, inward_k, temperature, new_temperature, material, fixed,
                 peak_temperature, heating_per_conductivity, solve_conductivity, external_power, materials,
                 constants, voltage_squared, onset, desiccation):
    """Voxel (i, j, k) of the outer layer, which is fixed: it keeps its temperature and books
    what :func:`_voxel` books for a fixed voxel.  Its neighbours on the layer are fixed too, so
    heat flows into it only from the one inward neighbour ``(inward_i, inward_j, inward_k)``
    (``inward_i < 0``: none, on the layer's edges), and no per-neighbour bounds test is needed.
    Returns the power densities (W/m^3) of Joule and external heat, the inflow (W), and the
    heating-weighted conductivity and its drift (:class:`StepTallies` per volume).
    """
    m = material[i, j, k]
    t_here = temperature[i, j, k]
    hpc = heating_per_conductivity[i, j, k]
    sigma_now = drift = 0.0
    if hpc > 0.0:
        dried = desiccation[i, j, k] if desiccation.size > 0 else 0.0
        sigma_now = _dried_conductivity(materials.electrical_conductivity_s_per_m[m],
                                        materials.conductivity_temperature_coefficient_per_k[m], t_here, dried,
                                        constants.reference_temperature_c, onset, constants.vaporization_width_c,
                                        constants.vaporization_log_drop)
        drift = hpc * abs(sigma_now - solve_conductivity[i, j, k])
    extra = external_power[i, j, k] if external_power.size > 0 else 0.0
    inflow = 0.0
    if inward_i >= 0 and fixed[inward_i, inward_j, inward_k] == 0:
        inflow = (materials.face_conductance_w_per_k[m, material[inward_i, inward_j, inward_k]]
                  * (temperature[inward_i, inward_j, inward_k] - t_here))
    new_temperature[i, j, k] = t_here
    if t_here > peak_temperature[i, j, k]:
        peak_temperature[i, j, k] = t_here
    return hpc * sigma_now * voltage_squared, extra, inflow, hpc * sigma_now, drift


@numba.njit(cache=True, inline="always")
def _book_outer(acc, joule, extra, inflow, conductance, drift, constants):
    """Add the sums of :func:`_outer_voxel`'s answers to the tallies ``acc``."""
    volume, dt = constants.spacing_m**3, constants.time_step_s
    acc[0] += joule * volume * dt
    acc[1] += extra * volume * dt
    acc[5] += inflow * dt
    acc[6] += (joule + extra) * volume * dt
    acc[7] += conductance * volume
    acc[8] += drift * volume


@numba.njit(cache=True, inline="always")
def _outer_row(i, j, temperature, new_temperature, material, fixed, peak_temperature, heating_per_conductivity,
               solve_conductivity, external_power, materials, constants, voltage_squared, onset, acc, desiccation):
    """Row (i, j) lying on the outer layer (``i`` or ``j`` on the grid's edge): every voxel by
    :func:`_outer_voxel`, with the inward neighbour across the face the row lies on."""
    nx, ny, nz = temperature.shape
    i, j = np.int64(i), np.int64(j)
    inward_i, inward_j = i, j
    if 0 < j < ny - 1:  # on an x face: the neighbour inward in x
        inward_i = np.int64(1) if i == 0 else nx - 2
    elif 0 < i < nx - 1:  # on a y face
        inward_j = np.int64(1) if j == 0 else ny - 2
    else:  # an edge of the grid: every neighbour lies on the layer
        inward_i = np.int64(-1)
    joule_sum = extra_sum = inflow_sum = conductance_sum = drift_sum = 0.0
    for k in range(nz):
        row_i = inward_i if 0 < k < nz - 1 else np.int64(-1)
        joule, extra, inflow, conductance, drift = _outer_voxel(
            i, j, k, row_i, inward_j, k, temperature, new_temperature, material, fixed, peak_temperature,
            heating_per_conductivity, solve_conductivity, external_power, materials, constants, voltage_squared,
            onset, desiccation)
        joule_sum += joule
        extra_sum += extra
        inflow_sum += inflow
        conductance_sum += conductance
        drift_sum += drift
    _book_outer(acc, joule_sum, extra_sum, inflow_sum, conductance_sum, drift_sum, constants)


@numba.njit(cache=True, inline="always")
def _advance(density, specific_heat, latent, t_here, energy_density, onset, volume, constants):
    """New temperature after adding ``energy_density`` (J/m^3), and the stored heat (J).

    The common case needs no latent heat; the stored heat comes from the enthalpy change,
    independent of the update formula.
    """
    rho_c = density * specific_heat
    t_new = t_here + energy_density / rho_c
    if t_here < onset and t_new < onset:
        return t_new, volume * rho_c * (t_new - t_here)
    t_new = heat_temperature(density, specific_heat, latent, t_here, energy_density, constants)
    stored = volume * (enthalpy_density(density, specific_heat, latent, t_new, constants)
                       - enthalpy_density(density, specific_heat, latent, t_here, constants))
    return t_new, stored


@numba.njit(cache=True, inline="always")
def _perfusion(rate_per_s: float, omega: float, constants: HeatConstants) -> float:
    """Perfusion rate (1/s) at vascular damage ``omega``, as :func:`perfusion_factor` answers it."""
    return rate_per_s * perfusion_factor(omega, constants.perfusion_stasis, constants.hyperaemia_factor,
                                         constants.hyperaemia_peak_stasis)


@numba.njit(cache=True, inline="always")
def _arrhenius_increment(t_here: float, constants: HeatConstants) -> float:
    """Omega accumulated over one step at ``t_here`` (degC), the twin of ``ArrheniusDamage``."""
    if constants.arrhenius_frequency_factor_per_s > 0.0 and t_here > constants.arrhenius_minimum_c:
        return constants.time_step_s * constants.arrhenius_frequency_factor_per_s * math.exp(
            -constants.arrhenius_activation_temperature_k / (t_here + 273.15))
    return 0.0


@numba.njit(cache=True, inline="always")
def _cem43_increment(t_here: float, time_step_s: float) -> float:
    """CEM43 minutes accumulated over one step at ``t_here`` (degC), the twin of ``CEM43Dose``."""
    # R^(43 - T) with R = 0.5 (>= 43 degC) or 0.25, as one exp (a third of pow's cost).
    rate = _LN2 if t_here >= 43.0 else 2.0 * _LN2
    return time_step_s / 60.0 * math.exp(rate * (t_here - 43.0))


@numba.njit(cache=True, inline="always")
def _conduction(temperature, material, face, m, t_here, i, j, k):
    """Conductive inflow (W) from the six neighbours of a free (interior) voxel."""
    flux = face[m, material[i - 1, j, k]] * (temperature[i - 1, j, k] - t_here)
    flux += face[m, material[i + 1, j, k]] * (temperature[i + 1, j, k] - t_here)
    flux += face[m, material[i, j - 1, k]] * (temperature[i, j - 1, k] - t_here)
    flux += face[m, material[i, j + 1, k]] * (temperature[i, j + 1, k] - t_here)
    flux += face[m, material[i, j, k - 1]] * (temperature[i, j, k - 1] - t_here)
    flux += face[m, material[i, j, k + 1]] * (temperature[i, j, k + 1] - t_here)
    return flux


@numba.njit(cache=True, inline="always")
def _damage(vascular_damage, cem43_minutes, peak, t_here, constants, i, j, k):
    """Omega at the step's start (read only past the gate), then both doses accumulated."""
    omega = 0.0
    if peak > constants.omega_gate_c:
        omega = vascular_damage[i, j, k]
        increment = _arrhenius_increment(t_here, constants)
        if increment > 0.0:
            vascular_damage[i, j, k] = omega + increment
    if constants.cem43_enabled > 0.0 and t_here > 39.0:
        cem43_minutes[i, j, k] += _cem43_increment(t_here, constants.time_step_s)
    return omega


@numba.njit(cache=True, inline="always")
def _voxel(i, j, k, temperature, new_temperature, material, fixed, vascular_damage, peak_temperature,
           heating_per_conductivity, solve_conductivity, external_power, cem43_minutes, materials, constants,
           voltage_squared, onset, acc, desiccation):
    """The general update of one voxel (any material, fixed or free, latent heat, damage, the
    dried fraction sigma remembers); its tallies are added to ``acc`` (order of :class:`StepTallies`)."""
    volume, dt = constants.spacing_m**3, constants.time_step_s
    sigma_reference = materials.electrical_conductivity_s_per_m
    sigma_coefficient = materials.conductivity_temperature_coefficient_per_k
    face = materials.face_conductance_w_per_k
    reference_c, width_c, log_drop = constants.reference_temperature_c, constants.vaporization_width_c, constants.vaporization_log_drop
    m = material[i, j, k]
    t_here = temperature[i, j, k]
    hpc = heating_per_conductivity[i, j, k]
    sigma_now = 0.0
    dried = desiccation[i, j, k] if desiccation.size > 0 else 0.0
    if hpc > 0.0:
        sigma_now = _dried_conductivity(sigma_reference[m], sigma_coefficient[m], t_here, dried, reference_c, onset,
                                        width_c, log_drop)
    joule = hpc * sigma_now * voltage_squared
    extra = external_power[i, j, k] if external_power.size > 0 else 0.0
    acc[0] += joule * volume * dt
    acc[1] += extra * volume * dt
    peak = peak_temperature[i, j, k]
    if fixed[i, j, k] != 0:
        new_temperature[i, j, k] = t_here
        acc[6] += (joule + extra) * volume * dt
        acc[5] += _heat_into_fixed(temperature, material, fixed, face, i, j, k) * dt
        if hpc > 0.0:
            acc[7] += hpc * sigma_now * volume
            acc[8] += hpc * abs(sigma_now - solve_conductivity[i, j, k]) * volume
        if t_here > peak:
            peak_temperature[i, j, k] = t_here
        return
    # Free voxels never lie on the outer layer: the six neighbours are read directly.
    flux = _conduction(temperature, material, face, m, t_here, i, j, k)
    omega = _damage(vascular_damage, cem43_minutes, peak, t_here, constants, i, j, k)
    w = _perfusion(materials.perfusion_rate_per_s[m], omega, constants)
    perfusion_density = w * constants.blood_heat_capacity_j_per_m3_k * (t_here - constants.blood_temperature_c)
    metabolic = materials.metabolic_heat_w_per_m3[m]
    rate = flux + (joule + extra + metabolic - perfusion_density) * volume
    t_new, stored_here = _advance(materials.density_kg_per_m3[m], materials.specific_heat_j_per_kg_k[m],
                                  materials.latent_heat_j_per_kg[m], t_here, dt * rate / volume, onset, volume,
                                  constants)
    acc[3] += stored_here
    new_temperature[i, j, k] = t_new
    acc[2] += metabolic * volume * dt
    acc[4] += perfusion_density * volume * dt
    if t_new > peak:
        peak_temperature[i, j, k] = t_new
    if hpc > 0.0:
        sigma_next = _dried_conductivity(sigma_reference[m], sigma_coefficient[m], t_new, dried, reference_c, onset,
                                         width_c, log_drop)
        acc[7] += hpc * sigma_next * volume
        acc[8] += hpc * abs(sigma_next - solve_conductivity[i, j, k]) * volume


@numba.njit(cache=True, inline="always")
def _uniform_row(material, fixed, i, j):
    """Material code of row (i, j) when the row and its four neighbour rows hold one material and
    no voxel inside the row is fixed; -1 otherwise (the row then takes the general path)."""
    nz = material.shape[2]
    m = material[i, j, 0]
    mixed = 0
    for k in range(nz):
        mixed |= material[i, j, k] != m
    for k in range(1, nz - 1):
        mixed |= ((material[i - 1, j, k] != m) | (material[i + 1, j, k] != m) | (material[i, j - 1, k] != m)
                  | (material[i, j + 1, k] != m) | (fixed[i, j, k] != 0))
    return -1 if mixed else np.int64(m)


@numba.njit(parallel=True, cache=True)
def uniform_row_materials(material: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Per row (i, j) along z: the material code where the heat step may take the vectorised
    path (:func:`_uniform_row`: one material in the row and its four neighbour rows, no fixed
    voxel inside it), else -1 (the outer layer's rows too).  Depends on the material map and the
    fixed voxels only, so the step reads it from :class:`~rfasim.physics.bioheat.ThermalBoundary`
    instead of testing five rows per row at every step."""
    nx, ny, _ = material.shape
    rows = np.full((nx, ny), -1, np.int16)
    for i in numba.prange(1, nx - 1):
        for j in range(1, ny - 1):
            rows[i, j] = _uniform_row(material, fixed, i, j)
    return rows


@numba.njit(cache=True, inline="always")
def _general_case(t, t_new, omega, onset, stasis):
    """Whether a voxel of a one-material row needs the general update: latent heat or the
    vaporisation drop ahead, or a gradual-stasis perfusion ``exp(-Omega)`` to evaluate."""
    return (t >= onset) | (t_new >= onset) | (stasis & (omega > 0.0))


@numba.njit(cache=True, inline="always")
def _row_coefficients(m, materials, constants):
    """The per-material constants of the vectorised update of a one-material row of material ``m``:
    (face conductance, sigma_ref, its temperature coefficient, its reference temperature,
    perfusion rho_b c_b w, blood temperature, metabolic heat, rho c, dt / (V rho c), V)."""
    volume = constants.spacing_m**3
    rho_c = materials.density_kg_per_m3[m] * materials.specific_heat_j_per_kg_k[m]
    return (materials.face_conductance_w_per_k[m, m], materials.electrical_conductivity_s_per_m[m],
            materials.conductivity_temperature_coefficient_per_k[m], constants.reference_temperature_c,
            materials.perfusion_rate_per_s[m] * constants.blood_heat_capacity_j_per_m3_k,
            constants.blood_temperature_c, materials.metabolic_heat_w_per_m3[m], rho_c,
            constants.time_step_s / (volume * rho_c), volume)


@numba.njit(cache=True, inline="always")
def _fast_update(i, j, k, row, temperature, vascular_damage, heating_per_conductivity, solve_conductivity,
                 external_power, voltage_squared):
    """The linear update of free voxel (i, j, k) of a one-material row (coefficients ``row`` of
    :func:`_row_coefficients`), valid below the vaporisation onset with the cutoff perfusion.

    Returns the new temperature, Omega, and the voxel's tally terms: Joule and external power
    densities (W/m^3), the perfusion density (W/m^3), the heating-weighted conductivity at the new
    temperature and its drift from the last solve (S/m^2 per V^2 of heating, as the tallies sum).
    """
    g, sigma_reference, coefficient, reference_c, perfusion, blood_c, metabolic, _, step_per_energy, volume = row
    t = temperature[i, j, k]
    hpc = heating_per_conductivity[i, j, k]
    joule = hpc * sigma_reference * max(1.0 + coefficient * (t - reference_c), 0.05) * voltage_squared
    extra = external_power[i, j, k] if external_power.size > 0 else 0.0
    neighbours = (temperature[i - 1, j, k] + temperature[i + 1, j, k] + temperature[i, j - 1, k]
                  + temperature[i, j + 1, k] + temperature[i, j, k - 1] + temperature[i, j, k + 1])
    omega = vascular_damage[i, j, k]
    perfusion_density = (perfusion if omega < 1.0 else 0.0) * (t - blood_c)
    rate = g * (neighbours - 6.0 * t) + (joule + extra + metabolic - perfusion_density) * volume
    t_new = t + rate * step_per_energy
    sigma_next = sigma_reference * max(1.0 + coefficient * (t_new - reference_c), 0.05)
    return (t_new, omega, joule, extra, perfusion_density, hpc * sigma_next,
            hpc * abs(sigma_next - solve_conductivity[i, j, k]))


@numba.njit(cache=True, inline="always")
def _uniform_row_update(i, j, m, temperature, new_temperature, vascular_damage, peak_temperature,
                        heating_per_conductivity, solve_conductivity, external_power, materials, constants,
                        voltage_squared, onset, acc, flags):
    """Free voxels of a one-material row below the vaporisation onset (the common case) by
    :func:`_fast_update`, branch-free so that it vectorises.  Voxels outside that case
    (:func:`_general_case`) are marked in ``flags[i, k]`` (1; else 0) and keep their peak; their
    tallies are added here all the same (no mask in the sums), and the caller takes them back
    (:func:`_take_back_fast`) before it redoes the voxels with :func:`_voxel`.  The doses are not
    accumulated here.  Returns the count of marked voxels and of the voxels whose doses are due
    (``t`` above :func:`_dose_threshold`)."""
    nz = temperature.shape[2]
    row = _row_coefficients(m, materials, constants)
    metabolic, rho_c, volume, dt = row[6], row[7], row[9], constants.time_step_s
    stasis = constants.perfusion_stasis > 0.0
    dose_c = _dose_threshold(constants)
    joule_sum = extra_sum = heat_sum = perfusion_sum = next_sum = drift_sum = 0.0
    count = dosed = 0
    for k in range(1, nz - 1):
        t = temperature[i, j, k]
        t_new, omega, joule, extra, perfusion_density, conductance, drift = _fast_update(
            i, j, k, row, temperature, vascular_damage, heating_per_conductivity, solve_conductivity,
            external_power, voltage_squared)
        peak = peak_temperature[i, j, k]
        flag = _general_case(t, t_new, omega, onset, stasis)
        flags[i, k] = flag
        new_temperature[i, j, k] = t_new
        peak_temperature[i, j, k] = peak if flag | (t_new <= peak) else t_new
        count += flag
        dosed += t > dose_c
        joule_sum += joule
        extra_sum += extra
        heat_sum += t_new - t
        perfusion_sum += perfusion_density
        next_sum += conductance
        drift_sum += drift
    free = nz - 2 - count
    acc[0] += joule_sum * volume * dt
    acc[1] += extra_sum * volume * dt
    acc[2] += metabolic * free * volume * dt
    acc[3] += heat_sum * volume * rho_c
    acc[4] += perfusion_sum * volume * dt
    acc[7] += next_sum * volume
    acc[8] += drift_sum * volume
    return count, dosed


@numba.njit(cache=True, inline="always")
def _take_back_fast(i, j, k, m, temperature, vascular_damage, heating_per_conductivity, solve_conductivity,
                    external_power, materials, constants, voltage_squared, acc):
    """Remove from ``acc`` the tallies that :func:`_uniform_row_update` added for voxel (i, j, k),
    recomputed by the same :func:`_fast_update` on the same (unchanged) inputs; call it before
    :func:`_voxel` redoes the voxel.  What remains of them is round-off."""
    row = _row_coefficients(m, materials, constants)
    rho_c, volume, dt = row[7], row[9], constants.time_step_s
    t_new, _, joule, extra, perfusion_density, conductance, drift = _fast_update(
        i, j, k, row, temperature, vascular_damage, heating_per_conductivity, solve_conductivity, external_power,
        voltage_squared)
    acc[0] -= joule * volume * dt
    acc[1] -= extra * volume * dt
    acc[3] -= (t_new - temperature[i, j, k]) * volume * rho_c
    acc[4] -= perfusion_density * volume * dt
    acc[7] -= conductance * volume
    acc[8] -= drift * volume


@numba.njit(cache=True, inline="always")
def _dose_threshold(constants):
    """Temperature (degC) above which a dose accumulates (CEM43: 39 degC; Arrhenius: its minimum)."""
    threshold = 39.0 if constants.cem43_enabled > 0.0 else np.inf
    if constants.arrhenius_frequency_factor_per_s > 0.0 and constants.arrhenius_minimum_c < threshold:
        threshold = constants.arrhenius_minimum_c
    return threshold


@numba.njit(cache=True, inline="always")
def _dose_row(i, j, temperature, vascular_damage, peak_temperature, cem43_minutes, flags, constants):
    """Both fused doses for the voxels of a one-material row that the vectorised path updated
    (``flags[i, k] == 0``), from the step's starting temperature: the branch-free twin of
    :func:`_damage`, with :func:`~rfasim.physics.vector_math.exp_vectorizable` (within 2 ulp of
    ``math.exp``) so that it vectorises.  Voxels whose dose is not due get ``+ 0``."""
    nz = temperature.shape[2]
    dt = constants.time_step_s
    cem43 = constants.cem43_enabled > 0.0
    factor, activation = constants.arrhenius_frequency_factor_per_s, constants.arrhenius_activation_temperature_k
    arrhenius = factor > 0.0
    minimum, gate = constants.arrhenius_minimum_c, constants.omega_gate_c
    for k in range(1, nz - 1):  # one pass for both doses; LLVM unswitches the two tests
        t = temperature[i, j, k]
        free = flags[i, k] == 0
        if cem43:
            rate = _LN2 if t >= 43.0 else 2.0 * _LN2
            minutes = dt / 60.0 * exp_vectorizable(rate * (t - 43.0))
            cem43_minutes[i, j, k] += minutes if free & (t > 39.0) else 0.0
        if arrhenius:
            omega = dt * factor * exp_vectorizable(-activation / (t + 273.15))
            due = free & (t > minimum) & (peak_temperature[i, j, k] > gate)
            vascular_damage[i, j, k] += omega if due else 0.0


@numba.njit(cache=True, inline="always")
def _update_slab(i, temperature, new_temperature, material, fixed, vascular_damage, peak_temperature,
                 heating_per_conductivity, solve_conductivity, external_power, cem43_minutes, materials,
                 constants, voltage_squared, rows, desiccation, row_materials, flags):
    """Heat step (and the fused damage doses) for the x-slab ``i``; its tallies into ``rows[i]``.

    Rows on the outer layer and the rows' ends take :func:`_outer_voxel`.  One-material rows
    (``row_materials``) take the vectorised path (:func:`_uniform_row_update`, which marks in
    ``flags[i]`` the voxels it leaves), then the vectorised doses (:func:`_dose_row`) if any are
    due; the voxels it left and every other row take the general path (:func:`_voxel`).
    Everything is inlined into the parallel loop, whose arrays Numba then marks as not aliased,
    which the vectoriser needs.  With a dried-fraction field (desiccation hysteresis) every row
    takes the general path (dried tissue conducts less below the onset).
    """
    nx, ny, nz = temperature.shape
    onset = constants.vaporization_onset_c if constants.vaporization_enabled > 0.0 else np.inf
    acc = np.zeros(TALLY_COUNT)
    for j in range(ny):
        if i == 0 or i == nx - 1 or j == 0 or j == ny - 1:
            _outer_row(i, j, temperature, new_temperature, material, fixed, peak_temperature,
                       heating_per_conductivity, solve_conductivity, external_power, materials, constants,
                       voltage_squared, onset, acc, desiccation)
            continue
        for k, inward in ((0, 1), (nz - 1, nz - 2)):  # the row's ends lie on the outer layer
            joule, extra, inflow, conductance, drift = _outer_voxel(
                i, j, k, i, j, inward, temperature, new_temperature, material, fixed, peak_temperature,
                heating_per_conductivity, solve_conductivity, external_power, materials, constants,
                voltage_squared, onset, desiccation)
            _book_outer(acc, joule, extra, inflow, conductance, drift, constants)
        m = np.int64(row_materials[i, j]) if desiccation.size == 0 else np.int64(-1)
        flagged = dosed = 0
        if m >= 0:
            flagged, dosed = _uniform_row_update(i, j, m, temperature, new_temperature, vascular_damage,
                                                 peak_temperature, heating_per_conductivity, solve_conductivity,
                                                 external_power, materials, constants, voltage_squared, onset, acc,
                                                 flags)
        if m < 0 or flagged > 0:
            for k in range(1, nz - 1):
                if m >= 0 and flags[i, k] != 0:
                    _take_back_fast(i, j, k, m, temperature, vascular_damage, heating_per_conductivity,
                                    solve_conductivity, external_power, materials, constants, voltage_squared, acc)
                if m < 0 or flags[i, k] != 0:
                    _voxel(i, j, k, temperature, new_temperature, material, fixed, vascular_damage,
                           peak_temperature, heating_per_conductivity, solve_conductivity, external_power,
                           cem43_minutes, materials, constants, voltage_squared, onset, acc, desiccation)
        if m >= 0 and dosed > 0:
            _dose_row(i, j, temperature, vascular_damage, peak_temperature, cem43_minutes, flags, constants)
    for n in range(TALLY_COUNT):
        rows[i, n] = acc[n]


#: Floating-point licences of the heat step: reassociation lets the vectoriser split the tally
#: sums and fuse multiply-adds (results change at round-off only; no NaN/inf assumptions).
HEAT_FASTMATH = {"reassoc", "nsz", "contract"}


@numba.njit(parallel=True, cache=True, fastmath=HEAT_FASTMATH)
def heat_step(
    temperature: np.ndarray,
    new_temperature: np.ndarray,
    material: np.ndarray,
    fixed: np.ndarray,
    vascular_damage: np.ndarray,
    peak_temperature: np.ndarray,
    heating_per_conductivity: np.ndarray,
    solve_conductivity: np.ndarray,
    external_power: np.ndarray,
    cem43_minutes: np.ndarray,
    materials: MaterialTable,
    constants: HeatConstants,
    voltage_squared: float,
    desiccation: np.ndarray,
    row_materials: np.ndarray,
) -> np.ndarray:
    """Advance one explicit step; fills ``new_temperature`` and updates ``peak_temperature``.

    Fixed voxels (``fixed == 1``) keep their temperature; the outer layer must be fixed.
    Perfusion answers ``vascular_damage`` (Arrhenius Omega) as :func:`perfusion_factor` says.
    ``external_power`` is a W/m^3 field of the grid's shape or an empty array; ``desiccation``
    the per-voxel dried fraction (0-1) that sigma remembers, or an empty array (no memory).
    With ``constants.arrhenius_frequency_factor_per_s > 0`` Omega (``vascular_damage``) is
    accumulated in the pass, with ``constants.cem43_enabled`` the CEM43 minutes
    (``cem43_minutes``, else any array), both from ``temperature`` in free voxels.
    Returns the tallies in the order of :class:`StepTallies`.
    """
    nx = temperature.shape[0]
    # Per-slab partial tallies: a race-free parallel reduction with one owner per x-slab.  Both
    # scratch arrays are np.empty (every slab writes its own row before reading it): np.zeros
    # would be a parallel region of its own, and each region costs a wake-up of the sleeping
    # OpenMP threads (~60 us under OMP_WAIT_POLICY=PASSIVE).
    rows = np.empty((nx, TALLY_COUNT))
    flags = np.empty((nx, temperature.shape[2]), np.uint8)  # per slab: the row's voxels left to _voxel
    for i in numba.prange(nx):
        _update_slab(i, temperature, new_temperature, material, fixed, vascular_damage, peak_temperature,
                     heating_per_conductivity, solve_conductivity, external_power, cem43_minutes, materials,
                     constants, voltage_squared, rows, desiccation, row_materials, flags)
    tallies = np.empty(TALLY_COUNT)
    for n in range(TALLY_COUNT):
        total = 0.0
        for slab in range(nx):
            total += rows[slab, n]
        tallies[n] = total
    return tallies


@numba.njit(parallel=True, cache=True)
def conductivity_field(temperature: np.ndarray, material: np.ndarray, materials: MaterialTable,
                       constants: HeatConstants, out: np.ndarray, desiccation: np.ndarray) -> None:
    """Fill ``out`` with sigma(T) (S/m) per voxel (``desiccation``: dried fraction or empty)."""
    nx, ny, nz = temperature.shape
    has_memory = desiccation.size > 0
    onset = constants.vaporization_onset_c if constants.vaporization_enabled > 0.0 else np.inf
    for i in numba.prange(nx):
        for j in range(ny):
            for k in range(nz):
                m = material[i, j, k]
                out[i, j, k] = _dried_conductivity(
                    materials.electrical_conductivity_s_per_m[m],
                    materials.conductivity_temperature_coefficient_per_k[m],
                    temperature[i, j, k], desiccation[i, j, k] if has_memory else 0.0,
                    constants.reference_temperature_c, onset, constants.vaporization_width_c,
                    constants.vaporization_log_drop,
                )


@numba.njit(parallel=True, cache=True)
def critical_time_step(material: np.ndarray, fixed: np.ndarray, materials: MaterialTable, spacing_m: float,
                       blood_heat_capacity: float) -> float:
    """Largest explicit step (s) keeping every free voxel's update a convex combination.

    For voxel i the update is stable (and monotone) when
    ``dt <= C_i / (sum_j g_ij + w_i rho_b c_b V)``.  The apparent latent heat only raises
    ``C_i``, so the plain heat capacity gives the bound.
    """
    nx, ny, nz = material.shape
    area = spacing_m * spacing_m
    volume = area * spacing_m
    half = materials.half_resistance_m2_k_per_w
    limits = np.full(nx, np.inf)
    for i in numba.prange(1, nx - 1):
        best = np.inf
        for j in range(1, ny - 1):
            for k in range(1, nz - 1):
                if fixed[i, j, k] != 0:
                    continue
                m = material[i, j, k]
                r_here = half[m]
                total = materials.perfusion_rate_per_s[m] * blood_heat_capacity * volume
                total += area / (r_here + half[material[i - 1, j, k]])
                total += area / (r_here + half[material[i + 1, j, k]])
                total += area / (r_here + half[material[i, j - 1, k]])
                total += area / (r_here + half[material[i, j + 1, k]])
                total += area / (r_here + half[material[i, j, k - 1]])
                total += area / (r_here + half[material[i, j, k + 1]])
                if total > 0.0:
                    limit = materials.density_kg_per_m3[m] * materials.specific_heat_j_per_kg_k[m] * volume / total
                    if limit < best:
                        best = limit
        limits[i] = best
    return limits.min()
