"""The Pennes bioheat model: properties, thermal boundary conditions, stable step, and the step.

``rho c dT/dt = div(k grad T) + Q - w rho_b c_b (T - T_b) + q_met`` by finite volumes on the
voxel grid, explicit in time with the step the model derives itself
(:meth:`PennesBioheat.critical_time_step`), an enthalpy formulation for the latent heat of
tissue water, the outer layer held at body temperature, large vessels as heat sinks (lumen or
convective wall film), and cooled electrodes at the coolant temperature (whole voxels fixed,
partly filled voxels coupled point-implicitly).

:class:`PennesBioheat` is the model; its compiled kernel is
:mod:`rfasim.physics.bioheat_kernel`; the functions ending in ``_reference`` below are the
readable NumPy twins the tests check the kernel against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rfasim.physics.bioheat_kernel import (
    TALLY_COUNT,
    HeatConstants,
    MaterialTable,
    StepTallies,
    conductivity_field,
    critical_time_step,
    heat_step,
    uniform_row_materials,
)
from rfasim.sources import ElectrodeRaster
from rfasim.tissue import PERFUSION_RESPONSE_CODES, PropertyTable, TissueClass, TissueModel

#: Omega is read only where the (float32) peak temperature exceeds the Arrhenius minimum less
#: this margin (degC): float32 rounds 43 degC by ~4e-6 degC, so the gate loses no voxel.
OMEGA_GATE_MARGIN_C = 0.01
_NO_DOSE = np.zeros((0, 0, 0))
_NO_DRYING = np.zeros((0, 0, 0), np.float32)


def half_resistances(table: PropertyTable, spacing_m: float) -> np.ndarray:
    """Thermal resistance (m^2 K/W) from a voxel's centre to its face, per material.

    ``h / (2 k)`` plus any wall film; infinite for insulating materials, zero for isothermal
    ones.  Two voxels' face conductance is ``h^2 / (r_a + r_b)`` (harmonic mean of k).
    """
    with np.errstate(divide="ignore"):
        resistance = spacing_m / (2.0 * table.thermal_conductivity_w_per_m_k) + table.wall_resistance_m2_k_per_w
    return np.where(np.isfinite(resistance), resistance, np.inf)


def face_conductances(half_resistance: np.ndarray, spacing_m: float) -> np.ndarray:
    """Face conductance (W/K) per material pair, ``h^2 / (r_a + r_b)``.

    Zero where the resistance is zero (two isothermal materials: never a free voxel's face) or
    infinite (an insulator).
    """
    area = spacing_m * spacing_m
    count = half_resistance.size
    table = np.zeros((count, count))
    for a in range(count):
        for b in range(count):
            resistance = half_resistance[a] + half_resistance[b]
            if 0.0 < resistance < 1e300:
                table[a, b] = area / resistance
    return table


@dataclass
class CoolantCoupling:
    """Free voxels partly filled by cooled metal, coupled to the coolant (sparse).

    Attributes
    ----------
    index : ndarray of int
        Flat voxel indices.
    conductance_w_per_k : ndarray
        Thermal conductivity of the voxel times the geometric coupling factor (W/K).
    coolant_temperature_c : ndarray
        Coolant temperature per coupled voxel (degC).
    """

    index: np.ndarray
    conductance_w_per_k: np.ndarray
    coolant_temperature_c: np.ndarray


@dataclass
class ThermalBoundary:
    """Where the temperature is prescribed, and the coolant's hold on partly cooled voxels.

    Attributes
    ----------
    fixed : ndarray of uint8
        1 where a voxel keeps its temperature (outer layer, vessel lumen, cooled metal).
    coolant : CoolantCoupling or None
    """

    fixed: np.ndarray
    coolant: CoolantCoupling | None
    _row_materials: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _rows_of: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fixed = self.fixed
        if fixed.ndim != 3 or min(fixed.shape) < 3:
            raise ValueError(f"fixed must be a 3-D field of at least 3 voxels a side, got shape {fixed.shape}")
        outer = (fixed[[0, -1], :, :].all() and fixed[:, [0, -1], :].all() and fixed[:, :, [0, -1]].all())
        if not outer:
            raise ValueError("every voxel of the outer layer must be fixed (fixed == 1): the heat step relies on it")

    def row_materials(self, material: np.ndarray) -> np.ndarray:
        """Per row along z, the material of the rows the heat step may take on its vectorised
        path, else -1 (:func:`~rfasim.physics.bioheat_kernel.uniform_row_materials`).

        Built on first use for ``material`` and kept: after editing ``material`` or ``fixed`` in
        place, call :meth:`material_changed`.
        """
        if self._row_materials is None or self._rows_of is not material:
            self._row_materials = uniform_row_materials(material, self.fixed)
            self._rows_of = material
        return self._row_materials

    def material_changed(self) -> None:
        """Forget what was derived from the material map and ``fixed`` (call after editing either)."""
        self._row_materials = None
        self._rows_of = None


class PennesBioheat:
    """The Pennes bioheat model of one tissue on one grid spacing.

    Parameters
    ----------
    tissue : TissueModel
    spacing_m : float
        Voxel edge (m).

    Examples
    --------
    >>> model = PennesBioheat(TissueModel(), 1e-3)
    >>> round(float(model.materials.density_kg_per_m3[TissueClass.LIVER]))
    1079
    """

    def __init__(self, tissue: TissueModel, spacing_m: float) -> None:
        self.tissue = tissue
        self.spacing_m = float(spacing_m)
        self.table = tissue.property_table(spacing_m)
        half = half_resistances(self.table, spacing_m)
        self.materials = MaterialTable(
            density_kg_per_m3=self.table.density_kg_per_m3,
            specific_heat_j_per_kg_k=self.table.specific_heat_j_per_kg_k,
            half_resistance_m2_k_per_w=half,
            face_conductance_w_per_k=face_conductances(half, spacing_m),
            electrical_conductivity_s_per_m=self.table.electrical_conductivity_s_per_m,
            conductivity_temperature_coefficient_per_k=self.table.conductivity_temperature_coefficient_per_k,
            perfusion_rate_per_s=self.table.perfusion_rate_per_s,
            metabolic_heat_w_per_m3=self.table.metabolic_heat_w_per_m3,
            latent_heat_j_per_kg=self.table.latent_heat_j_per_kg,
        )

    def constants(self, time_step_s: float) -> HeatConstants:
        """The kernel's scalar constants for a run with step ``time_step_s`` (s)."""
        vaporization = self.tissue.vaporization
        return HeatConstants(
            spacing_m=self.spacing_m,
            time_step_s=float(time_step_s),
            blood_heat_capacity_j_per_m3_k=self.tissue.blood_heat_capacity_j_per_m3_k,
            blood_temperature_c=self.tissue.body_temperature_c,
            reference_temperature_c=37.0,
            vaporization_onset_c=vaporization.onset_c,
            vaporization_width_c=vaporization.width_c,
            vaporization_log_drop=math.log(vaporization.conductivity_drop_factor),
            vaporization_enabled=1.0 if vaporization.enabled else 0.0,
            perfusion_stasis=PERFUSION_RESPONSE_CODES[self.tissue.perfusion_response],
            hyperaemia_factor=self.tissue.hyperaemia_factor,
            hyperaemia_peak_stasis=self.tissue.hyperaemia_peak_stasis,
            desiccation_memory=1.0 if vaporization.enabled and vaporization.hysteresis else 0.0,
        )

    def dried_fraction_field(self, shape: tuple[int, int, int]) -> np.ndarray:
        """Initial dried fraction (float32 zeros) when the hysteresis is on, else an empty array."""
        vaporization = self.tissue.vaporization
        if vaporization.enabled and vaporization.hysteresis:
            return np.zeros(shape, np.float32)
        return _NO_DRYING

    def apply_boundary_conditions(self, material: np.ndarray, temperature_c: np.ndarray,
                                  electrodes: Sequence[ElectrodeRaster]) -> ThermalBoundary:
        """Prescribe temperatures in place; cooled metal becomes ``COOLED_METAL`` in ``material``.

        The outer layer is held at body temperature, thermally fixed materials (vessel lumen) at
        their temperature, cooled electrodes' metal at the coolant temperature.
        """
        table = self.table
        fixed = table.thermally_fixed[material].astype(np.uint8)
        for code in np.flatnonzero(table.thermally_fixed):
            if np.isfinite(table.fixed_temperature_c[code]):
                temperature_c[material == code] = table.fixed_temperature_c[code]
        boundary = np.ones(material.shape, bool)
        boundary[1:-1, 1:-1, 1:-1] = False
        fixed[boundary] = 1
        temperature_c[boundary] = self.tissue.body_temperature_c
        for electrode in electrodes:
            if electrode.cooled:
                cooled = np.union1d(electrode.metal_index, electrode.cooled_index)
                material.ravel()[cooled] = TissueClass.COOLED_METAL
                fixed.ravel()[cooled] = 1
                temperature_c.ravel()[cooled] = electrode.coolant_temperature_c
        return ThermalBoundary(fixed, self._coolant_coupling(electrodes, fixed, material))

    def _coolant_coupling(self, electrodes: Sequence[ElectrodeRaster], fixed: np.ndarray,
                          material: np.ndarray) -> CoolantCoupling | None:
        """Thermal twin of the electric sub-voxel coupling for cooled electrodes.

        A voxel that the metal only partly fills is joined to the electrode potential through
        ``sigma * factor`` (S); by the same geometry it is joined to the coolant through
        ``k * factor`` (W/K).  Without it, a thin cooled needle that holds no whole voxel would
        not be cooled at all.
        """
        indices, conductances, temperatures = [], [], []
        for electrode in electrodes:
            if not electrode.cooled or electrode.coupling_index.size == 0:
                continue
            keep = fixed.ravel()[electrode.coupling_index] == 0
            index = electrode.coupling_index[keep]
            conductivity = self.table.thermal_conductivity_w_per_m_k[material.ravel()[index]]
            indices.append(index)
            conductances.append(conductivity * electrode.coupling_factor_m[keep])
            temperatures.append(np.full(index.size, electrode.coolant_temperature_c))
        if not indices:
            return None
        return CoolantCoupling(np.concatenate(indices), np.concatenate(conductances), np.concatenate(temperatures))

    def critical_time_step(self, material: np.ndarray, fixed: np.ndarray) -> float:
        """Largest stable explicit step (s) for this material map and set of fixed voxels."""
        return float(critical_time_step(material, fixed, self.materials, self.spacing_m,
                                        self.tissue.blood_heat_capacity_j_per_m3_k))

    def conductivity(self, temperature_c: np.ndarray, material: np.ndarray, constants: HeatConstants,
                     out: np.ndarray, dried_fraction: np.ndarray | None = None) -> np.ndarray:
        """Electrical conductivity sigma(T) (S/m) per voxel, into ``out``.

        ``dried_fraction``: the per-voxel dried fraction sigma remembers (hysteresis), or None.
        """
        dried = dried_fraction if dried_fraction is not None else _NO_DRYING
        conductivity_field(temperature_c, material, self.materials, constants, out, dried)
        return out

    def step(self, temperature_c: np.ndarray, new_temperature_c: np.ndarray, material: np.ndarray,
             boundary: ThermalBoundary, vascular_damage: np.ndarray, peak_temperature_c: np.ndarray,
             heating_per_conductivity: np.ndarray, solve_conductivity: np.ndarray, external_power: np.ndarray,
             constants: HeatConstants, voltage_squared: float, cem43_minutes: np.ndarray | None = None,
             dried_fraction: np.ndarray | None = None) -> StepTallies:
        """One explicit heat step into ``new_temperature_c``, coolant coupling included.

        With the damage constants set (:meth:`fused_damage_constants`) the Arrhenius dose
        ``vascular_damage`` and the CEM43 dose ``cem43_minutes`` are accumulated in the same
        pass.  ``dried_fraction`` (desiccation hysteresis) is read, not updated: see
        :func:`rfasim.physics.desiccation.update_dried_fraction`.  Returns the step's energy
        tallies; the coolant's share is booked as a fixed sink, so the balance stays exact.
        """
        cem43 = cem43_minutes if cem43_minutes is not None else _NO_DOSE
        if constants.cem43_enabled > 0.0 and cem43.shape != temperature_c.shape:
            raise ValueError("cem43_enabled needs a cem43_minutes field of the grid's shape")
        dried = dried_fraction if dried_fraction is not None else _NO_DRYING
        raw = heat_step(temperature_c, new_temperature_c, material, boundary.fixed, vascular_damage,
                        peak_temperature_c, heating_per_conductivity, solve_conductivity, external_power, cem43,
                        self.materials, constants, float(voltage_squared), dried, boundary.row_materials(material))
        tallies = StepTallies(*raw)
        if boundary.coolant is None:
            return tallies
        removed = self._cool_partial_voxels(new_temperature_c, boundary.coolant, material, constants)
        return tallies._replace(stored_j=tallies.stored_j - removed, fixed_sink_j=tallies.fixed_sink_j + removed)

    @staticmethod
    def fused_damage_constants(constants: HeatConstants, arrhenius: tuple[float, float, float] | None,
                               cem43: bool, vascular_damage: np.ndarray,
                               peak_temperature_c: np.ndarray) -> HeatConstants:
        """``constants`` with the damage doses the step accumulates itself.

        Parameters
        ----------
        arrhenius : (A (1/s), Ea/R (K), minimum (degC)) or None
            The Arrhenius dose to accumulate into ``vascular_damage``; None: read only.
        cem43 : bool
            Accumulate the CEM43 dose (minutes) into the step's ``cem43_minutes``.
        vascular_damage, peak_temperature_c : ndarray
            The starting fields: Omega is read only past the peak-temperature gate when no
            voxel at or below the gate already holds a dose.
        """
        if arrhenius is None:
            return constants._replace(arrhenius_frequency_factor_per_s=0.0, cem43_enabled=1.0 if cem43 else 0.0,
                                      omega_gate_c=-math.inf)
        frequency, activation, minimum = arrhenius
        gate = minimum - OMEGA_GATE_MARGIN_C
        if np.any((vascular_damage != 0) & (peak_temperature_c <= gate)):
            gate = -math.inf
        return constants._replace(arrhenius_frequency_factor_per_s=float(frequency),
                                  arrhenius_activation_temperature_k=float(activation),
                                  arrhenius_minimum_c=float(minimum), omega_gate_c=float(gate),
                                  cem43_enabled=1.0 if cem43 else 0.0)

    def _cool_partial_voxels(self, temperature_c: np.ndarray, coupling: CoolantCoupling, material: np.ndarray,
                             constants: HeatConstants) -> float:
        """Point-implicit coolant exchange of partly cooled voxels (unconditionally stable).

        ``T <- (T + a T_c) / (1 + a)`` with ``a = dt g / C`` (C: apparent heat capacity).
        Returns the heat removed (J), from the enthalpy change.
        """
        flat = temperature_c.ravel()
        codes = material.ravel()[coupling.index]
        before = flat[coupling.index]
        density = self.table.density_kg_per_m3[codes]
        heat = self.table.specific_heat_j_per_kg_k[codes]
        latent = self.materials.latent_heat_j_per_kg[codes]
        volume = constants.spacing_m**3
        capacity = apparent_heat_capacity(density, heat, latent, before, constants) * volume
        a = constants.time_step_s * coupling.conductance_w_per_k / capacity
        after = (before + a * coupling.coolant_temperature_c) / (1.0 + a)
        flat[coupling.index] = after
        return float(np.sum(
            enthalpy_density(density, heat, latent, before, constants)
            - enthalpy_density(density, heat, latent, after, constants)
        )) * volume


# --- Readable NumPy twins (the tests check the Numba kernel against these) -------------------


def conductivity_reference(sigma_reference: np.ndarray, coefficient: np.ndarray, temperature: np.ndarray,
                           constants: HeatConstants, dried: np.ndarray | float = 0.0) -> np.ndarray:
    """sigma(T) (S/m): ``sigma_37 (1 + a (T - 37))``, then a log-linear drop over the vaporisation
    window, following the larger of the vaporised and the remembered dried fraction."""
    factor = np.maximum(1.0 + coefficient * (temperature - constants.reference_temperature_c), 0.05)
    if constants.vaporization_enabled > 0:
        fraction = np.clip((temperature - constants.vaporization_onset_c) / constants.vaporization_width_c, 0.0, 1.0)
        factor = factor * np.exp(constants.vaporization_log_drop * np.maximum(fraction, dried))
    return sigma_reference * factor


def perfusion_factor_reference(omega: np.ndarray, constants: HeatConstants) -> np.ndarray:
    """NumPy twin of :func:`rfasim.physics.bioheat_kernel.perfusion_factor`."""
    mode = constants.perfusion_stasis
    if mode < 0.5:
        return np.where(omega < 1.0, 1.0, 0.0)
    remaining = np.exp(-omega)
    if mode < 1.5:
        return remaining
    stasis, peak, rise = 1.0 - remaining, constants.hyperaemia_peak_stasis, constants.hyperaemia_factor
    return np.where(stasis <= peak, 1.0 + (rise - 1.0) * stasis / peak, rise * remaining / (1.0 - peak))


def _vaporized_fraction(temperature: np.ndarray, constants: HeatConstants) -> np.ndarray:
    return np.clip((temperature - constants.vaporization_onset_c) / constants.vaporization_width_c, 0.0, 1.0)


def enthalpy_density(density: np.ndarray, specific_heat: np.ndarray, latent: np.ndarray, temperature: np.ndarray,
                     constants: HeatConstants) -> np.ndarray:
    """Enthalpy (J/m^3) relative to the vaporisation onset, latent heat included."""
    enthalpy = density * specific_heat * (temperature - constants.vaporization_onset_c)
    if constants.vaporization_enabled > 0:
        enthalpy = enthalpy + density * latent * _vaporized_fraction(temperature, constants)
    return enthalpy


def apparent_heat_capacity(density: np.ndarray, specific_heat: np.ndarray, latent: np.ndarray,
                           temperature: np.ndarray, constants: HeatConstants) -> np.ndarray:
    """Apparent volumetric heat capacity dH/dT (J/(m^3 K)), latent heat spread over the window."""
    capacity = density * specific_heat
    if constants.vaporization_enabled > 0:
        onset, width = constants.vaporization_onset_c, constants.vaporization_width_c
        inside = (temperature >= onset) & (temperature < onset + width)
        capacity = capacity + np.where(inside, density * latent / width, 0.0)
    return capacity


def heat_temperature_reference(density: np.ndarray, specific_heat: np.ndarray, latent: np.ndarray,
                               temperature: np.ndarray, energy_density: np.ndarray,
                               constants: HeatConstants) -> np.ndarray:
    """Temperature after adding ``energy_density`` (J/m^3): the enthalpy method, vectorised."""
    rho_c = density * specific_heat
    if constants.vaporization_enabled <= 0:
        return temperature + energy_density / rho_c
    onset, width = constants.vaporization_onset_c, constants.vaporization_width_c
    rho_latent = density * latent
    target = enthalpy_density(density, specific_heat, latent, temperature, constants) + energy_density
    plateau_top = rho_c * width + rho_latent
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            target <= 0.0,
            onset + target / rho_c,
            np.where(target <= plateau_top, onset + target / (rho_c + rho_latent / width),
                     onset + (target - rho_latent) / rho_c),
        )


def _conduction_reference(temperature: np.ndarray, material: np.ndarray, fixed: np.ndarray,
                          materials: MaterialTable, spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Conductive inflow (W) into every voxel from its six neighbours, and the share from fixed ones."""
    r = materials.half_resistance_m2_k_per_w[material]
    flux = np.zeros_like(temperature)
    inflow_fixed = np.zeros_like(temperature)
    for axis in range(3):
        for shift in (-1, 1):
            neighbour_r = np.roll(r, shift, axis=axis)
            with np.errstate(divide="ignore", invalid="ignore"):
                g = np.where(r + neighbour_r < 1e300, spacing_m**2 / (r + neighbour_r), 0.0)
            q = g * (np.roll(temperature, shift, axis=axis) - temperature)
            flux += q
            inflow_fixed += np.where(np.roll(fixed, shift, axis=axis) != 0, q, 0.0)
    return flux, inflow_fixed


def _damage_reference(vascular_damage: np.ndarray, cem43_minutes: np.ndarray, temperature: np.ndarray,
                      free: np.ndarray, constants: HeatConstants) -> None:
    """The doses the heat step accumulates itself (twins of ArrheniusDamage and CEM43Dose)."""
    dt = constants.time_step_s
    if constants.arrhenius_frequency_factor_per_s > 0:
        hot = free & (temperature > constants.arrhenius_minimum_c)
        vascular_damage[hot] += dt * constants.arrhenius_frequency_factor_per_s * np.exp(
            -constants.arrhenius_activation_temperature_k / (temperature[hot] + 273.15))
    if constants.cem43_enabled > 0:
        warm = free & (temperature > 39.0)
        base = np.where(temperature >= 43.0, 0.5, 0.25)
        cem43_minutes[warm] += dt / 60.0 * base[warm] ** (43.0 - temperature[warm])


def heat_step_reference(temperature, new_temperature, material, fixed, vascular_damage, peak_temperature,
                        heating_per_conductivity, solve_conductivity, external_power, cem43_minutes,
                        materials: MaterialTable, constants: HeatConstants, voltage_squared: float,
                        desiccation=None, row_materials=None) -> np.ndarray:
    """NumPy twin of :func:`rfasim.physics.bioheat_kernel.heat_step` (same arguments, same results).

    The Omega gate (``constants.omega_gate_c``) and the vectorised path of one-material rows
    (``row_materials``) are exact shortcuts of the kernel and have no twin here: the twin always
    reads Omega and takes every voxel by the same formulas.
    """
    h, dt = constants.spacing_m, constants.time_step_s
    volume = h**3
    m, t = material, temperature
    free = fixed == 0
    sigma_reference = materials.electrical_conductivity_s_per_m[m]
    coefficient = materials.conductivity_temperature_coefficient_per_k[m]
    hpc = heating_per_conductivity
    dried = desiccation if desiccation is not None and desiccation.size else 0.0
    sigma_now = np.where(hpc > 0, conductivity_reference(sigma_reference, coefficient, t, constants, dried), 0.0)
    joule = hpc * sigma_now * voltage_squared
    extra = external_power if external_power.size else np.zeros_like(t)
    flux, inflow_fixed = _conduction_reference(t, m, fixed, materials, h)
    w = materials.perfusion_rate_per_s[m] * perfusion_factor_reference(vascular_damage, constants)
    perfusion_density = w * constants.blood_heat_capacity_j_per_m3_k * (t - constants.blood_temperature_c)
    rate = flux + (joule + extra + materials.metabolic_heat_w_per_m3[m] - perfusion_density) * volume
    density, heat, latent = materials.density_kg_per_m3[m], materials.specific_heat_j_per_kg_k[m], materials.latent_heat_j_per_kg[m]
    updated = heat_temperature_reference(density, heat, latent, t, dt * rate / volume, constants)
    new_temperature[...] = np.where(free, updated, t)
    np.maximum(peak_temperature, new_temperature, out=peak_temperature)
    _damage_reference(vascular_damage, cem43_minutes, t, free, constants)

    stored = (enthalpy_density(density, heat, latent, updated, constants)
              - enthalpy_density(density, heat, latent, t, constants)) * volume
    sigma_next = np.where(hpc > 0, conductivity_reference(sigma_reference, coefficient, new_temperature, constants,
                                                          dried), 0.0)
    tallies = np.zeros(TALLY_COUNT)
    tallies[0] = np.sum(joule) * volume * dt
    tallies[1] = np.sum(extra) * volume * dt
    tallies[2] = np.sum(np.where(free, materials.metabolic_heat_w_per_m3[m], 0.0)) * volume * dt
    tallies[3] = np.sum(np.where(free, stored, 0.0))
    tallies[4] = np.sum(np.where(free, perfusion_density, 0.0)) * volume * dt
    tallies[5] = -np.sum(np.where(free, inflow_fixed, 0.0)) * dt
    tallies[6] = np.sum(np.where(free, 0.0, joule + extra)) * volume * dt
    tallies[7] = np.sum(hpc * sigma_next) * volume
    tallies[8] = np.sum(np.where(hpc > 0, hpc * np.abs(sigma_next - solve_conductivity), 0.0)) * volume
    return tallies


def critical_time_step_reference(material: np.ndarray, fixed: np.ndarray, materials: MaterialTable,
                                 spacing_m: float, blood_heat_capacity: float) -> float:
    """NumPy twin of :func:`rfasim.physics.bioheat_kernel.critical_time_step`."""
    area, volume = spacing_m**2, spacing_m**3
    r = materials.half_resistance_m2_k_per_w[material]
    total = materials.perfusion_rate_per_s[material] * blood_heat_capacity * volume
    for axis in range(3):
        for shift in (-1, 1):
            with np.errstate(divide="ignore"):
                total = total + area / (r + np.roll(r, shift, axis=axis))
    interior = np.zeros(material.shape, bool)
    interior[1:-1, 1:-1, 1:-1] = True
    candidates = interior & (fixed == 0) & (total > 0)
    capacity = materials.density_kg_per_m3[material] * materials.specific_heat_j_per_kg_k[material] * volume
    limit = capacity / np.where(total > 0, total, 1.0)
    return float(limit[candidates].min()) if candidates.any() else float("inf")
