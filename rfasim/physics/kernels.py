"""Numba kernels of the bioheat step.  :mod:`rfasim.physics.reference` holds the NumPy twins.

One fused, parallel pass per time step updates temperature (explicit finite volumes, Pennes),
Arrhenius damage, CEM43 and peak temperature, evaluates the Joule source at the current
sigma(T), and accumulates every term of the energy balance plus the quantities the coupled
solver needs for the next step (the frozen-potential conductance estimate and the drift of
sigma since the last electric solve).  Keeping it one pass keeps it memory-bound at one read of
each field per step.
"""

from __future__ import annotations

import math

import numba
import numpy as np

GAS_CONSTANT_J_PER_MOL_K = 8.314462618
KELVIN_OFFSET = 273.15

#: Layout of the ``parameters`` vector passed to the kernels (scalars, SI).
PARAMETER_NAMES = (
    "spacing_m",
    "time_step_s",
    "blood_heat_capacity_j_per_m3_k",
    "blood_temperature_c",
    "reference_temperature_c",
    "vaporization_onset_c",
    "vaporization_width_c",
    "vaporization_log_drop",
    "vaporization_enabled",
    "arrhenius_frequency_factor_per_s",
    "arrhenius_activation_temperature_k",
    "arrhenius_minimum_temperature_c",
    "voltage_squared_v2",
)
(
    P_SPACING,
    P_DT,
    P_BLOOD_RHO_C,
    P_BLOOD_T,
    P_REF_T,
    P_VAP_ONSET,
    P_VAP_WIDTH,
    P_VAP_LOG_DROP,
    P_VAP_ON,
    P_ARR_A,
    P_ARR_THETA,
    P_ARR_MIN,
    P_V2,
) = range(len(PARAMETER_NAMES))

#: Layout of the energy/diagnostic vector returned by :func:`heat_step`.
TALLY_NAMES = (
    "electrical_energy_j",  # Joule heat deposited, all voxels
    "external_energy_j",  # user power density deposited
    "metabolic_energy_j",
    "stored_energy_j",  # change of the tissue's enthalpy (free voxels)
    "perfusion_loss_j",  # Pennes term
    "fixed_sink_j",  # heat flowing into fixed-temperature voxels (boundary, vessels, coolant)
    "deposited_in_fixed_j",  # Joule heat deposited in fixed voxels (carried away at once)
    "next_conductance_s",  # frozen-potential conductance at the new temperatures
    "conductivity_drift_s",  # sum of heating-weighted |sigma(T) - sigma_solve|: re-solve metric
)
TALLY_COUNT = len(TALLY_NAMES)


@numba.njit(cache=True)
def conductivity_at(
    sigma_reference: float, coefficient: float, temperature: float, parameters: np.ndarray
) -> float:
    """sigma(T) (S/m): linear rise, then the log-linear vaporisation drop."""
    factor = 1.0 + coefficient * (temperature - parameters[P_REF_T])
    if factor < 0.05:
        factor = 0.05
    if parameters[P_VAP_ON] > 0.0 and temperature > parameters[P_VAP_ONSET]:
        fraction = (temperature - parameters[P_VAP_ONSET]) / parameters[P_VAP_WIDTH]
        if fraction > 1.0:
            fraction = 1.0
        factor *= math.exp(parameters[P_VAP_LOG_DROP] * fraction)
    return sigma_reference * factor


@numba.njit(cache=True)
def enthalpy_density(
    density: float, specific_heat: float, latent: float, temperature: float, parameters: np.ndarray
) -> float:
    """Enthalpy (J/m^3) relative to the vaporisation onset, latent heat included."""
    rho_c = density * specific_heat
    enthalpy = rho_c * (temperature - parameters[P_VAP_ONSET])
    if parameters[P_VAP_ON] > 0.0 and latent > 0.0:
        fraction = (temperature - parameters[P_VAP_ONSET]) / parameters[P_VAP_WIDTH]
        if fraction > 1.0:
            fraction = 1.0
        if fraction > 0.0:
            enthalpy += density * latent * fraction
    return enthalpy


@numba.njit(cache=True)
def heat_temperature(
    density: float, specific_heat: float, latent: float, temperature: float, energy_density: float,
    parameters: np.ndarray,
) -> float:
    """Temperature (degC) after adding ``energy_density`` (J/m^3) to tissue at ``temperature``.

    Enthalpy method: H(T) rises with slope rho c, plus the latent heat rho L spread evenly over
    the vaporisation window.  Inverting H exactly conserves energy and never lets a large step
    jump over the latent plateau.
    """
    rho_c = density * specific_heat
    if parameters[P_VAP_ON] <= 0.0 or latent <= 0.0:
        return temperature + energy_density / rho_c
    onset = parameters[P_VAP_ONSET]
    width = parameters[P_VAP_WIDTH]
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


@numba.njit(cache=True)
def _neighbour(i: int, j: int, k: int, neighbour: int) -> tuple[int, int, int]:
    """Index of neighbour 0..5 (-x, +x, -y, +y, -z, +z) of voxel (i, j, k)."""
    # prange hands out unsigned indices; unsigned + signed would promote to float.
    i, j, k = np.int64(i), np.int64(j), np.int64(k)
    offset = np.int64(2 * (neighbour % 2) - 1)
    axis = neighbour // 2
    if axis == 0:
        return i + offset, j, k
    if axis == 1:
        return i, j + offset, k
    return i, j, k + offset


@numba.njit(cache=True)
def _update_slab(
    i,
    temperature,
    new_temperature,
    material,
    fixed,
    damage,
    cem43_minutes,
    peak_temperature,
    heating_per_conductivity,
    solve_conductivity,
    external_power,
    density,
    specific_heat,
    half_resistance,
    sigma_reference,
    sigma_coefficient,
    perfusion,
    metabolic,
    latent,
    parameters,
    rows,
    face_conductance,
):
    """Heat step for the x-slab ``i``; writes its tallies into ``rows[i]``."""
    ny, nz = temperature.shape[1], temperature.shape[2]
    h = parameters[P_SPACING]
    dt = parameters[P_DT]
    volume = h * h * h
    v2 = parameters[P_V2]
    blood_rho_c = parameters[P_BLOOD_RHO_C]
    blood_t = parameters[P_BLOOD_T]
    arr_a = parameters[P_ARR_A]
    arr_theta = parameters[P_ARR_THETA]
    arr_min = parameters[P_ARR_MIN]
    has_external = external_power.size > 0
    onset = parameters[P_VAP_ONSET] if parameters[P_VAP_ON] > 0.0 else np.inf
    face = face_conductance

    electrical = 0.0
    external = 0.0
    metabolic_total = 0.0
    stored = 0.0
    perfusion_loss = 0.0
    fixed_sink = 0.0
    deposited_fixed = 0.0
    next_conductance = 0.0
    drift = 0.0
    for j in range(ny):
        for k in range(nz):
            m = material[i, j, k]
            t_here = temperature[i, j, k]
            hpc = heating_per_conductivity[i, j, k]
            sigma_now = 0.0
            if hpc > 0.0:
                sigma_now = conductivity_at(
                    sigma_reference[m], sigma_coefficient[m], t_here, parameters
                )
            joule = hpc * sigma_now * v2
            extra = external_power[i, j, k] if has_external else 0.0
            if fixed[i, j, k] != 0:
                new_temperature[i, j, k] = t_here
                deposited_fixed += (joule + extra) * volume * dt
                electrical += joule * volume * dt
                external += extra * volume * dt
                if hpc > 0.0:
                    next_conductance += hpc * sigma_now * volume
                    drift += hpc * abs(sigma_now - solve_conductivity[i, j, k]) * volume
                if t_here > peak_temperature[i, j, k]:
                    peak_temperature[i, j, k] = t_here
            else:
                # Six neighbours, read directly (free voxels never lie on the outer layer).
                # face[m, n] = A / (r_m + r_n): harmonic mean of k, plus wall films.
                t_xm = temperature[i - 1, j, k]
                t_xp = temperature[i + 1, j, k]
                t_ym = temperature[i, j - 1, k]
                t_yp = temperature[i, j + 1, k]
                t_zm = temperature[i, j, k - 1]
                t_zp = temperature[i, j, k + 1]
                q_xm = face[m, material[i - 1, j, k]] * (t_xm - t_here)
                q_xp = face[m, material[i + 1, j, k]] * (t_xp - t_here)
                q_ym = face[m, material[i, j - 1, k]] * (t_ym - t_here)
                q_yp = face[m, material[i, j + 1, k]] * (t_yp - t_here)
                q_zm = face[m, material[i, j, k - 1]] * (t_zm - t_here)
                q_zp = face[m, material[i, j, k + 1]] * (t_zp - t_here)
                flux = q_xm + q_xp + q_ym + q_yp + q_zm + q_zp
                inflow_fixed = 0.0
                if fixed[i - 1, j, k] != 0:
                    inflow_fixed += q_xm
                if fixed[i + 1, j, k] != 0:
                    inflow_fixed += q_xp
                if fixed[i, j - 1, k] != 0:
                    inflow_fixed += q_ym
                if fixed[i, j + 1, k] != 0:
                    inflow_fixed += q_yp
                if fixed[i, j, k - 1] != 0:
                    inflow_fixed += q_zm
                if fixed[i, j, k + 1] != 0:
                    inflow_fixed += q_zp
                w = perfusion[m] if damage[i, j, k] < 1.0 else 0.0
                perfusion_density = w * blood_rho_c * (t_here - blood_t)
                rate = flux + (joule + extra + metabolic[m] - perfusion_density) * volume
                energy_density = dt * rate / volume
                rho_c = density[m] * specific_heat[m]
                t_new = t_here + energy_density / rho_c
                sensible = t_here < onset and t_new < onset  # the common case: no latent heat
                if not sensible:
                    t_new = heat_temperature(
                        density[m], specific_heat[m], latent[m], t_here, energy_density, parameters
                    )
                new_temperature[i, j, k] = t_new

                electrical += joule * volume * dt
                external += extra * volume * dt
                metabolic_total += metabolic[m] * volume * dt
                # Stored heat from the enthalpy change, independent of the update formula.
                if sensible:
                    stored += volume * rho_c * (t_new - t_here)
                else:
                    stored += volume * (
                        enthalpy_density(density[m], specific_heat[m], latent[m], t_new, parameters)
                        - enthalpy_density(density[m], specific_heat[m], latent[m], t_here, parameters)
                    )
                perfusion_loss += perfusion_density * volume * dt
                fixed_sink -= inflow_fixed * dt

                if t_here > arr_min:
                    damage[i, j, k] += dt * arr_a * math.exp(-arr_theta / (t_here + 273.15))
                if t_here > 39.0:
                    base = 0.5 if t_here >= 43.0 else 0.25
                    cem43_minutes[i, j, k] += dt / 60.0 * base ** (43.0 - t_here)
                if t_new > peak_temperature[i, j, k]:
                    peak_temperature[i, j, k] = t_new
                if hpc > 0.0:
                    sigma_next = conductivity_at(
                        sigma_reference[m], sigma_coefficient[m], t_new, parameters
                    )
                    next_conductance += hpc * sigma_next * volume
                    drift += hpc * abs(sigma_next - solve_conductivity[i, j, k]) * volume
    rows[i, 0] = electrical
    rows[i, 1] = external
    rows[i, 2] = metabolic_total
    rows[i, 3] = stored
    rows[i, 4] = perfusion_loss
    rows[i, 5] = fixed_sink
    rows[i, 6] = deposited_fixed
    rows[i, 7] = next_conductance
    rows[i, 8] = drift


@numba.njit(parallel=True, cache=True)
def heat_step(
    temperature: np.ndarray,
    new_temperature: np.ndarray,
    material: np.ndarray,
    fixed: np.ndarray,
    damage: np.ndarray,
    cem43_minutes: np.ndarray,
    peak_temperature: np.ndarray,
    heating_per_conductivity: np.ndarray,
    solve_conductivity: np.ndarray,
    external_power: np.ndarray,
    density: np.ndarray,
    specific_heat: np.ndarray,
    half_resistance: np.ndarray,
    sigma_reference: np.ndarray,
    sigma_coefficient: np.ndarray,
    perfusion: np.ndarray,
    metabolic: np.ndarray,
    latent: np.ndarray,
    parameters: np.ndarray,
) -> np.ndarray:
    """Advance one explicit step; fills ``new_temperature`` and updates the dose fields in place.

    Fixed voxels (``fixed == 1``) keep their temperature; the outer layer must be fixed.
    ``external_power`` is a W/m^3 field of the grid's shape or an empty array.
    Returns the tallies of :data:`TALLY_NAMES` for this step.
    """
    nx = temperature.shape[0]
    # Face conductance per material pair, A / (r_m + r_n) (W/K): no division per voxel.
    area = parameters[P_SPACING] * parameters[P_SPACING]
    materials = half_resistance.size
    face_conductance = np.zeros((materials, materials))
    for a in range(materials):
        for b in range(materials):
            resistance = half_resistance[a] + half_resistance[b]
            # Zero resistance joins two isothermal (fixed) materials: never a free voxel's face.
            if 0.0 < resistance < 1e300:
                face_conductance[a, b] = area / resistance
    # Per-slab partial tallies: a race-free parallel reduction with one owner per x-slab.
    rows = np.zeros((nx, TALLY_COUNT))
    for i in numba.prange(nx):
        _update_slab(
            i,
            temperature,
            new_temperature,
            material,
            fixed,
            damage,
            cem43_minutes,
            peak_temperature,
            heating_per_conductivity,
            solve_conductivity,
            external_power,
            density,
            specific_heat,
            half_resistance,
            sigma_reference,
            sigma_coefficient,
            perfusion,
            metabolic,
            latent,
            parameters,
            rows,
            face_conductance,
        )
    tallies = np.zeros(TALLY_COUNT)
    for slab in range(nx):
        for n in range(TALLY_COUNT):
            tallies[n] += rows[slab, n]
    return tallies


@numba.njit(parallel=True, cache=True)
def conductivity_field(
    temperature: np.ndarray,
    material: np.ndarray,
    sigma_reference: np.ndarray,
    sigma_coefficient: np.ndarray,
    parameters: np.ndarray,
    out: np.ndarray,
) -> None:
    """Fill ``out`` with sigma(T) (S/m) per voxel."""
    nx, ny, nz = temperature.shape
    for i in numba.prange(nx):
        for j in range(ny):
            for k in range(nz):
                m = material[i, j, k]
                out[i, j, k] = conductivity_at(
                    sigma_reference[m], sigma_coefficient[m], temperature[i, j, k], parameters
                )


@numba.njit(parallel=True, cache=True)
def stable_time_step(
    material: np.ndarray,
    fixed: np.ndarray,
    density: np.ndarray,
    specific_heat: np.ndarray,
    half_resistance: np.ndarray,
    perfusion: np.ndarray,
    spacing_m: float,
    blood_heat_capacity: float,
) -> float:
    """Largest explicit step (s) keeping every free voxel's update a convex combination.

    For voxel i the update is stable (and monotone) when
    ``dt <= C_i / (sum_j g_ij + w_i rho_b c_b V)``.  The apparent latent heat only raises
    ``C_i``, so the plain heat capacity gives the bound.
    """
    nx, ny, nz = material.shape
    area = spacing_m * spacing_m
    volume = area * spacing_m
    limits = np.full(nx, np.inf)
    for i in numba.prange(1, nx - 1):
        best = np.inf
        for j in range(1, ny - 1):
            for k in range(1, nz - 1):
                if fixed[i, j, k] != 0:
                    continue
                m = material[i, j, k]
                r_here = half_resistance[m]
                total = perfusion[m] * blood_heat_capacity * volume
                total += area / (r_here + half_resistance[material[i - 1, j, k]])
                total += area / (r_here + half_resistance[material[i + 1, j, k]])
                total += area / (r_here + half_resistance[material[i, j - 1, k]])
                total += area / (r_here + half_resistance[material[i, j + 1, k]])
                total += area / (r_here + half_resistance[material[i, j, k - 1]])
                total += area / (r_here + half_resistance[material[i, j, k + 1]])
                if total > 0.0:
                    limit = density[m] * specific_heat[m] * volume / total
                    if limit < best:
                        best = limit
        limits[i] = best
    return limits.min()
