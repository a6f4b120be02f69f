"""Physical bounds of case values, and a bound on the work one plan may take.

Two checks that :func:`rfasim.case.parse_case` runs before any image is read:

- :func:`check_physical_tissue`: tissue properties and temperatures given in a case's
  ``[tissue]`` table must be physical (a liver that does not conduct, a body at -300 degC, a
  specific heat of 1e-30 J/(kg K) are refused, each naming the field and the bounds).
- :func:`check_work`: the number of explicit heat steps the run would take (duration over the
  time step, the step being bounded by the stability limit of the explicit scheme) must stay below
  :data:`MAX_HEAT_STEPS`, so that no case runs without end.

The bounds are deliberately wide: they bracket every soft tissue, fat, lung and bone value the
usual compilations list (IT'IS database; Duck 1990, *Physical Properties of Tissue*) with an
order of magnitude or more to spare, and are there to catch typing errors and unit mistakes, not
to judge a plausible choice.  They are an assumption of rfasim, not literature values.
"""

from __future__ import annotations

import math
from typing import Any

from rfasim.errors import CaseFileError
from rfasim.tissue import TissueClass, TissueModel

#: Accepted range of each tissue property set in a case file (SI units; see the module docstring).
TISSUE_PROPERTY_BOUNDS: dict[str, tuple[float, float]] = {
    "density_kg_per_m3": (50.0, 5000.0),
    "specific_heat_j_per_kg_k": (100.0, 10000.0),
    "thermal_conductivity_w_per_m_k": (0.01, 10.0),
    "electrical_conductivity_s_per_m": (1e-4, 20.0),
    "conductivity_temperature_coefficient_per_k": (-0.1, 0.1),
    "perfusion_rate_per_s": (0.0, 0.5),
    "metabolic_heat_w_per_m3": (0.0, 1e6),
    "water_mass_fraction": (0.0, 1.0),
}
#: Accepted body (initial and arterial) temperature, degC: from a cooled specimen to fever.
BODY_TEMPERATURE_BOUNDS_C = (0.0, 45.0)
#: Accepted onset of vaporisation, degC.
VAPORIZATION_ONSET_BOUNDS_C = (60.0, 150.0)
#: Accepted wall heat-transfer coefficient of large vessels, W/(m^2 K).
VESSEL_HEAT_TRANSFER_BOUNDS = (1.0, 1e6)
#: Most explicit heat steps one plan may take (a 12 min ablation at 1 mm takes 720).
MAX_HEAT_STEPS = 1_000_000
#: Safety factor of the step estimate: a voxel beside an isothermal needle or vessel exchanges
#: heat through half a voxel on that face, so the stable step there can be up to half the
#: uniform-tissue one.  The estimate takes that worst case.
_NEIGHBOUR_FACTOR = 12.0


def _check_range(value: float, bounds: tuple[float, float], where: str, unit: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        suffix = f" {unit}" if unit else ""
        raise CaseFileError(f"{where}: {value:g}{suffix} is not physical (accepted {low:g} to {high:g}{suffix})")


_UNITS = {
    "density_kg_per_m3": "kg/m^3",
    "specific_heat_j_per_kg_k": "J/(kg K)",
    "thermal_conductivity_w_per_m_k": "W/(m K)",
    "electrical_conductivity_s_per_m": "S/m",
    "conductivity_temperature_coefficient_per_k": "1/K",
    "perfusion_rate_per_s": "1/s",
    "metabolic_heat_w_per_m3": "W/m^3",
    "water_mass_fraction": "",
}


def check_physical_tissue(table: dict[str, Any], model: TissueModel, where: str = "[tissue]") -> None:
    """Refuse non-physical values in a case's ``[tissue]`` table.

    Parameters
    ----------
    table : dict
        The ``[tissue]`` table as parsed (types already checked by
        :func:`rfasim.case.build_tissue_model`).
    model : TissueModel
        The model built from it.
    where : str
        How messages name the table (``case.toml [tissue]``).

    Raises
    ------
    CaseFileError
        Naming the field, its value and the accepted range.
    """
    _check_range(model.body_temperature_c, BODY_TEMPERATURE_BOUNDS_C, f"{where} body_temperature_c", "degC")
    if "vaporization_onset_c" in table:
        _check_range(model.vaporization.onset_c, VAPORIZATION_ONSET_BOUNDS_C, f"{where} vaporization_onset_c", "degC")
    if "vessel_heat_transfer_w_per_m2_k" in table:
        _check_range(model.vessels.wall_heat_transfer_w_per_m2_k, VESSEL_HEAT_TRANSFER_BOUNDS,
                     f"{where} vessel_heat_transfer_w_per_m2_k", "W/(m^2 K)")
    for class_name, overrides in table.items():
        if not isinstance(overrides, dict):
            continue
        for key, value in overrides.items():
            if key in TISSUE_PROPERTY_BOUNDS:
                _check_range(float(value), TISSUE_PROPERTY_BOUNDS[key], f"{where}.{class_name} {key}", _UNITS[key])


def stable_time_step_estimate_s(model: TissueModel, spacing_mm: float) -> tuple[float, str]:
    """A conservative estimate of the explicit scheme's stable heat step (s), and the class that sets it.

    ``rho c / (12 k / h^2 + w_b rho_b c_b)`` over the conducting tissue classes: the 7-point
    stencil's limit ``rho c h^2 / (6 k)`` halved for voxels beside isothermal metal or vessels.
    Only a bound on the work (:func:`check_work`); the solver derives its own step.
    """
    h = spacing_mm * 1e-3
    best, owner = math.inf, ""
    blood = model.blood_heat_capacity_j_per_m3_k
    for tissue_class, properties in model.classes.items():
        if tissue_class in (TissueClass.INSULATOR, TissueClass.COOLED_METAL):
            continue
        k = properties.thermal_conductivity_w_per_m_k
        if not (k > 0 and math.isfinite(k)):
            continue
        rate = _NEIGHBOUR_FACTOR * k / h**2 + properties.perfusion_rate_per_s * blood
        step = properties.density_kg_per_m3 * properties.specific_heat_j_per_kg_k / rate
        if step < best:
            best, owner = step, tissue_class.name.lower()
    return best, owner


def check_work(case: Any, model: TissueModel, name: str) -> int:
    """Refuse a case whose simulation would take more than :data:`MAX_HEAT_STEPS` heat steps.

    Parameters
    ----------
    case : rfasim.case.Case
        The parsed case (generator table, probes, spacing, options).
    model : TissueModel
        Its tissue model.
    name : str
        The case file, for messages.

    Returns
    -------
    int
        The estimated number of heat steps.

    Raises
    ------
    CaseFileError
        Naming what makes the run too long: the duration, the maximum time step, or the spacing
        and tissue class that set the stable step.
    """
    generator = dict(case.generator_table)
    where = f"{name} [generator] duration_s"
    if not generator and case.probes:
        from rfasim.probes import get_probe_model

        generator = dict(get_probe_model(case.probes[0].model).generator)
        where = f"{name} [[probes]] #1 model {case.probes[0].model!r} (its default protocol's duration_s)"
    duration = float(generator.get("duration_s", 720.0))
    ablations = len(case.probes) if generator.get("probe_schedule") == "sequential" else 1
    total = ablations * duration + (ablations - 1) * float(generator.get("reposition_s", 60.0))
    maximum = float(case.options_table.get("maximum_time_step_s", 1.0))
    stable, owner = stable_time_step_estimate_s(model, case.spacing_mm)
    step = min(0.9 * stable, maximum, total)
    steps = math.ceil(total / step - 1e-9)
    if steps <= MAX_HEAT_STEPS:
        return steps
    if total > MAX_HEAT_STEPS * 1.0:  # too long even at the default 1 s step
        cause = f"{where} = {duration:g} s"
    elif 0.9 * stable < maximum:
        cause = (
            f"{name} [grid] spacing_mm = {case.spacing_mm:g} with the {owner} properties "
            f"(stable heat step about {stable:.3g} s)"
        )
    else:
        cause = f"{name} [options] maximum_time_step_s = {maximum:g} s"
    raise CaseFileError(
        f"{cause}: the simulation would take about {steps:.3g} heat steps of {step:.3g} s for "
        f"{total:g} s of ablation, more than the {MAX_HEAT_STEPS:,} allowed; shorten the ablation, "
        "coarsen the grid or check the tissue values"
    )
