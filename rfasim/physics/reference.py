"""Readable NumPy references of the Numba kernels in :mod:`rfasim.physics.kernels`.

Written for clarity, not speed: the tests check that the compiled kernels agree with these.
"""

from __future__ import annotations

import numpy as np

from rfasim.physics.kernels import (
    P_ARR_A,
    P_ARR_MIN,
    P_ARR_THETA,
    P_BLOOD_RHO_C,
    P_BLOOD_T,
    P_DT,
    P_REF_T,
    P_SPACING,
    P_V2,
    P_VAP_LOG_DROP,
    P_VAP_ON,
    P_VAP_ONSET,
    P_VAP_WIDTH,
    TALLY_COUNT,
)


def conductivity(sigma_reference: np.ndarray, coefficient: np.ndarray, temperature: np.ndarray, parameters: np.ndarray) -> np.ndarray:
    """sigma(T) (S/m): ``sigma_37 (1 + a (T - 37))``, then a log-linear drop over the vaporisation window."""
    factor = np.maximum(1.0 + coefficient * (temperature - parameters[P_REF_T]), 0.05)
    if parameters[P_VAP_ON] > 0:
        fraction = np.clip((temperature - parameters[P_VAP_ONSET]) / parameters[P_VAP_WIDTH], 0.0, 1.0)
        factor = factor * np.exp(parameters[P_VAP_LOG_DROP] * fraction)
    return sigma_reference * factor


def enthalpy_density(density, specific_heat, latent, temperature, parameters):
    """Enthalpy (J/m^3) relative to the vaporisation onset, latent heat included."""
    enthalpy = density * specific_heat * (temperature - parameters[P_VAP_ONSET])
    if parameters[P_VAP_ON] > 0:
        fraction = np.clip((temperature - parameters[P_VAP_ONSET]) / parameters[P_VAP_WIDTH], 0.0, 1.0)
        enthalpy = enthalpy + density * latent * fraction
    return enthalpy


def apparent_heat_capacity(density, specific_heat, latent, temperature, parameters):
    """Apparent volumetric heat capacity dH/dT (J/(m^3 K)), latent heat spread over the window."""
    capacity = density * specific_heat
    if parameters[P_VAP_ON] > 0:
        onset, width = parameters[P_VAP_ONSET], parameters[P_VAP_WIDTH]
        inside = (temperature >= onset) & (temperature < onset + width)
        capacity = capacity + np.where(inside, density * latent / width, 0.0)
    return capacity


def heat_temperature(density, specific_heat, latent, temperature, energy_density, parameters):
    """Temperature after adding ``energy_density`` (J/m^3): the enthalpy method, vectorised."""
    rho_c = density * specific_heat
    if parameters[P_VAP_ON] <= 0:
        return temperature + energy_density / rho_c
    onset, width = parameters[P_VAP_ONSET], parameters[P_VAP_WIDTH]
    rho_latent = density * latent

    def enthalpy(t):
        return rho_c * (t - onset) + rho_latent * np.clip((t - onset) / width, 0.0, 1.0)

    target = enthalpy(temperature) + energy_density
    plateau_top = rho_c * width + rho_latent
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            target <= 0.0,
            onset + target / rho_c,
            np.where(
                target <= plateau_top,
                onset + target / (rho_c + rho_latent / width),
                onset + (target - rho_latent) / rho_c,
            ),
        )


def heat_step(
    temperature, new_temperature, material, fixed, damage, cem43_minutes, peak_temperature,
    heating_per_conductivity, solve_conductivity, external_power, density, specific_heat,
    half_resistance, sigma_reference, sigma_coefficient, perfusion, metabolic, latent, parameters,
):
    """NumPy twin of :func:`rfasim.physics.kernels.heat_step` (same arguments, same results)."""
    h = parameters[P_SPACING]
    dt = parameters[P_DT]
    volume, area = h**3, h**2
    m = material
    free = fixed == 0
    t = temperature

    sigma_now = np.where(
        heating_per_conductivity > 0, conductivity(sigma_reference[m], sigma_coefficient[m], t, parameters), 0.0
    )
    joule = heating_per_conductivity * sigma_now * parameters[P_V2]
    extra = external_power if external_power.size else np.zeros_like(t)

    # Conductive flux into every voxel from its six neighbours: g = A / (r_i + r_j).
    r = half_resistance[m]
    flux = np.zeros_like(t)
    inflow_fixed = np.zeros_like(t)
    for axis in range(3):
        for shift in (-1, 1):
            neighbour_t = np.roll(t, shift, axis=axis)
            neighbour_r = np.roll(r, shift, axis=axis)
            neighbour_fixed = np.roll(fixed, shift, axis=axis) != 0
            with np.errstate(divide="ignore", invalid="ignore"):
                g = np.where(r + neighbour_r < 1e300, area / (r + neighbour_r), 0.0)
            q = g * (neighbour_t - t)
            flux += q
            inflow_fixed += np.where(neighbour_fixed, q, 0.0)

    w = np.where(damage < 1.0, perfusion[m], 0.0)
    perfusion_density = w * parameters[P_BLOOD_RHO_C] * (t - parameters[P_BLOOD_T])
    rate = flux + (joule + extra + metabolic[m] - perfusion_density) * volume
    updated = heat_temperature(density[m], specific_heat[m], latent[m], t, dt * rate / volume, parameters)
    new_temperature[...] = np.where(free, updated, t)

    tallies = np.zeros(TALLY_COUNT)
    tallies[0] = np.sum(joule) * volume * dt
    tallies[1] = np.sum(extra) * volume * dt
    tallies[2] = np.sum(np.where(free, metabolic[m], 0.0)) * volume * dt
    stored = (enthalpy_density(density[m], specific_heat[m], latent[m], updated, parameters)
              - enthalpy_density(density[m], specific_heat[m], latent[m], t, parameters)) * volume
    tallies[3] = np.sum(np.where(free, stored, 0.0))
    tallies[4] = np.sum(np.where(free, perfusion_density, 0.0)) * volume * dt
    tallies[5] = -np.sum(np.where(free, inflow_fixed, 0.0)) * dt
    tallies[6] = np.sum(np.where(free, 0.0, joule + extra)) * volume * dt

    hot = free & (t > parameters[P_ARR_MIN])
    damage[hot] += dt * parameters[P_ARR_A] * np.exp(-parameters[P_ARR_THETA] / (t[hot] + 273.15))
    warm = free & (t > 39.0)
    base = np.where(t >= 43.0, 0.5, 0.25)
    cem43_minutes[warm] += dt / 60.0 * base[warm] ** (43.0 - t[warm])
    np.maximum(peak_temperature, new_temperature, out=peak_temperature)

    sigma_next = np.where(
        heating_per_conductivity > 0,
        conductivity(sigma_reference[m], sigma_coefficient[m], new_temperature, parameters),
        0.0,
    )
    tallies[7] = np.sum(heating_per_conductivity * sigma_next) * volume
    tallies[8] = np.sum(
        np.where(heating_per_conductivity > 0, heating_per_conductivity * np.abs(sigma_next - solve_conductivity), 0.0)
    ) * volume
    return tallies


def stable_time_step(material, fixed, density, specific_heat, half_resistance, perfusion, spacing_m, blood_heat_capacity):
    """NumPy twin of :func:`rfasim.physics.kernels.stable_time_step`."""
    area, volume = spacing_m**2, spacing_m**3
    r = half_resistance[material]
    total = perfusion[material] * blood_heat_capacity * volume
    for axis in range(3):
        for shift in (-1, 1):
            with np.errstate(divide="ignore"):
                total = total + area / (r + np.roll(r, shift, axis=axis))
    interior = np.zeros(material.shape, bool)
    interior[1:-1, 1:-1, 1:-1] = True
    candidates = interior & (fixed == 0) & (total > 0)
    limit = density[material] * specific_heat[material] * volume / np.where(total > 0, total, 1.0)
    return float(limit[candidates].min()) if candidates.any() else float("inf")
