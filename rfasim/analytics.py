"""Analytic solutions used by the tests, the validation notebook and users (SimPEG style).

All functions take SI units unless the name says otherwise.
"""

from __future__ import annotations

import numpy as np


def concentric_sphere_potential(radius_m: np.ndarray, inner_radius_m: float, outer_radius_m: float,
                                inner_potential_v: float = 1.0, outer_potential_v: float = 0.0) -> np.ndarray:
    """Potential (V) between two concentric spherical electrodes.

    ``V(r) = V_b + (V_a - V_b) (1/r - 1/b) / (1/a - 1/b)``; for ``b -> inf`` this is the
    spherical electrode in an infinite medium, ``V = V0 a / r``.
    """
    r = np.asarray(radius_m, dtype=float)
    a, b = inner_radius_m, outer_radius_m
    return outer_potential_v + (inner_potential_v - outer_potential_v) * (1.0 / r - 1.0 / b) / (1.0 / a - 1.0 / b)


def concentric_sphere_resistance(conductivity_s_per_m: float, inner_radius_m: float, outer_radius_m: float) -> float:
    """Resistance (Ohm) between concentric spheres: ``(1/a - 1/b) / (4 pi sigma)``.

    For ``b -> inf``: ``R = 1 / (4 pi sigma a)``.

    Examples
    --------
    >>> round(concentric_sphere_resistance(0.333, 0.005, np.inf), 2)
    47.79
    """
    return (1.0 / inner_radius_m - 1.0 / outer_radius_m) / (4.0 * np.pi * conductivity_s_per_m)


def coaxial_cylinder_potential(radius_m: np.ndarray, inner_radius_m: float, outer_radius_m: float,
                               inner_potential_v: float = 1.0, outer_potential_v: float = 0.0) -> np.ndarray:
    """Potential (V) between coaxial cylindrical electrodes: logarithmic in r."""
    r = np.asarray(radius_m, dtype=float)
    a, b = inner_radius_m, outer_radius_m
    return outer_potential_v + (inner_potential_v - outer_potential_v) * np.log(b / r) / np.log(b / a)


def coaxial_cylinder_resistance(conductivity_s_per_m: float, inner_radius_m: float, outer_radius_m: float,
                                length_m: float) -> float:
    """Resistance (Ohm) of a coaxial cylinder pair of length L: ``ln(b/a) / (2 pi sigma L)``."""
    return np.log(outer_radius_m / inner_radius_m) / (2.0 * np.pi * conductivity_s_per_m * length_m)


def perfusion_length_m(thermal_conductivity_w_per_m_k: float, perfusion_rate_per_s: float,
                       blood_heat_capacity_j_per_m3_k: float) -> float:
    """Pennes penetration length ``L = sqrt(k / (w_b rho_b c_b))`` (m)."""
    return float(np.sqrt(thermal_conductivity_w_per_m_k / (perfusion_rate_per_s * blood_heat_capacity_j_per_m3_k)))


def perfused_sphere_temperature(radius_m: np.ndarray, sphere_radius_m: float, sphere_temperature_c: float,
                                arterial_temperature_c: float, perfusion_length: float) -> np.ndarray:
    """Steady Pennes temperature (degC) around a sphere held at T0 in perfused tissue.

    ``T = Ta + (T0 - Ta) (a / r) exp(-(r - a) / L)``.
    """
    r = np.asarray(radius_m, dtype=float)
    a = sphere_radius_m
    return arterial_temperature_c + (sphere_temperature_c - arterial_temperature_c) * (a / r) * np.exp(
        -(r - a) / perfusion_length
    )


def pennes_mode_decay(time_s: float | np.ndarray, wavenumber_per_m: float, diffusivity_m2_per_s: float,
                      perfusion_decay_per_s: float) -> np.ndarray:
    """Amplitude factor of a Fourier mode under Pennes: ``exp(-(D k^2 + P) t)``.

    ``D = k / (rho c)`` the thermal diffusivity, ``P = w_b rho_b c_b / (rho c)``.
    """
    return np.exp(-(diffusivity_m2_per_s * wavenumber_per_m**2 + perfusion_decay_per_s) * np.asarray(time_s))
