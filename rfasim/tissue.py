"""Tissue classes and their physical properties.

Every default lives here, with its literature source; :mod:`rfasim.physics` reads only the tables
built by :meth:`TissueModel.property_table`.  See ``docs/parameters.md`` for the ranges reported in the
literature.

Internal material codes (one ``uint8`` per voxel of the simulation grid) are the
:class:`TissueClass` values; a case's own label codes are mapped onto them by :mod:`rfasim.imaging`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from enum import IntEnum

import numpy as np


class TissueClass(IntEnum):
    """Material codes of the simulation grid."""

    BACKGROUND = 0  #: air outside the body: electrically and thermally insulating
    LIVER = 1
    TUMOR = 2
    VESSEL = 3  #: large blood vessel lumen (a heat sink, see :class:`VesselModel`)
    OTHER = 4  #: any other tissue inside the body
    FORBIDDEN = 5  #: structures a needle must not cross (lung, bone, bowel, gallbladder)
    INSULATOR = 6  #: insulated electrode shaft: carries no current
    COOLED_METAL = 7  #: metal of an internally cooled electrode: isothermal at the coolant temperature
    FAT = 8  #: unlabelled body tissue of fat density on the CT (-190 to -30 HU), see rfasim.imaging.body
    LUNG = 9  #: unlabelled aerated lung on the CT (-950 to -190 HU)
    BONE = 10  #: unlabelled bone on the CT (400 HU and above)
    THROMBUS = 11  #: lumen of a small vessel that thrombosed during the ablation: blood without flow


#: Class names as used in case files, keyed by class.
CLASS_NAMES: dict[TissueClass, str] = {c: c.name.lower() for c in TissueClass}

BODY_TEMPERATURE_C = 37.0
#: Dynamic viscosity of whole blood at 37 degC (Pa s): 3.352 +- 0.360 mPa s in 30 healthy
#: subjects (Wesolowski & Mlynarczak 2019, docs/parameters.md).
BLOOD_VISCOSITY_PA_S = 3.35e-3

#: Measured total hepatic blood flow as a Pennes perfusion rate (1/s): flow per gram of liver
#: times the liver density 1.079 g/mL (docs/parameters.md, "Perfusion: baseline").  Human: about
#: 100 mL/min per 100 g wet weight; pig (Danish Landrace x Yorkshire, transit-time flow probes):
#: 950 mL/min per L of liver.
HEPATIC_PERFUSION_HUMAN_PER_S = 1.00 * 1.079 / 60.0
HEPATIC_PERFUSION_PORCINE_PER_S = 0.950 / 60.0


def _require_positive(name: str, value: float, allow_zero: bool = False) -> None:
    bad = not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero)
    if bad:
        relation = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {relation} and finite, got {value!r}")


@dataclass(frozen=True)
class TissueProperties:
    """Physical properties of one tissue class (SI units).

    Parameters
    ----------
    density_kg_per_m3 : float
        Mass density rho (kg/m^3).
    specific_heat_j_per_kg_k : float
        Specific heat capacity c (J/(kg K)).
    thermal_conductivity_w_per_m_k : float
        Thermal conductivity k (W/(m K)); 0 makes the class thermally insulating.
    electrical_conductivity_s_per_m : float
        Electrical conductivity sigma at 37 degC and the RF frequency (S/m); 0 insulates.
    conductivity_temperature_coefficient_per_k : float
        Linear rise of sigma with temperature below vaporisation (1/K): sigma = sigma_37 (1 + a (T - 37)).
    perfusion_rate_per_s : float
        Pennes blood perfusion w_b (volumetric blood flow per tissue volume, 1/s).
    metabolic_heat_w_per_m3 : float
        Metabolic heat generation (W/m^3).  Default 0 so that the unheated body sits at 37 degC.
    water_mass_fraction : float
        Mass fraction of water, used for the latent heat of vaporisation (0..1).
    """

    density_kg_per_m3: float
    specific_heat_j_per_kg_k: float
    thermal_conductivity_w_per_m_k: float
    electrical_conductivity_s_per_m: float
    conductivity_temperature_coefficient_per_k: float = 0.015
    perfusion_rate_per_s: float = 0.0
    metabolic_heat_w_per_m3: float = 0.0
    water_mass_fraction: float = 0.0

    def __post_init__(self) -> None:
        _require_positive("density_kg_per_m3", self.density_kg_per_m3)
        _require_positive("specific_heat_j_per_kg_k", self.specific_heat_j_per_kg_k)
        _require_positive(
            "thermal_conductivity_w_per_m_k", self.thermal_conductivity_w_per_m_k, allow_zero=True
        )
        _require_positive(
            "electrical_conductivity_s_per_m", self.electrical_conductivity_s_per_m, allow_zero=True
        )
        if not math.isfinite(self.conductivity_temperature_coefficient_per_k):
            raise ValueError(
                "conductivity_temperature_coefficient_per_k must be finite, "
                f"got {self.conductivity_temperature_coefficient_per_k!r}"
            )
        _require_positive("perfusion_rate_per_s", self.perfusion_rate_per_s, allow_zero=True)
        if not math.isfinite(self.metabolic_heat_w_per_m3):
            raise ValueError(f"metabolic_heat_w_per_m3 must be finite, got {self.metabolic_heat_w_per_m3!r}")
        if not (0.0 <= self.water_mass_fraction <= 1.0):
            raise ValueError(f"water_mass_fraction must lie in [0, 1], got {self.water_mass_fraction!r}")


# Defaults: see docs/parameters.md for sources and ranges.
LIVER = TissueProperties(
    density_kg_per_m3=1079.0,  # IT'IS database v4.1, liver
    specific_heat_j_per_kg_k=3540.0,  # IT'IS database v4.1, liver
    thermal_conductivity_w_per_m_k=0.52,  # IT'IS database v4.1, liver
    electrical_conductivity_s_per_m=0.333,  # Tungjitkusolmun et al. 2002 (~500 kHz); in vivo range Haemmerich et al. 2003
    conductivity_temperature_coefficient_per_k=0.015,  # ~1.5 %/degC, Haemmerich & Wood 2006
    perfusion_rate_per_s=HEPATIC_PERFUSION_HUMAN_PER_S,  # measured total hepatic blood flow (was 0.0064, Tungjitkusolmun 2002)
    water_mass_fraction=0.78,  # Duck 1990
)
TUMOR = TissueProperties(
    density_kg_per_m3=1045.0,
    specific_heat_j_per_kg_k=3760.0,
    thermal_conductivity_w_per_m_k=0.51,
    electrical_conductivity_s_per_m=0.45,  # tumours conduct better than liver, Haemmerich 2003
    conductivity_temperature_coefficient_per_k=0.015,
    perfusion_rate_per_s=0.0050,
    water_mass_fraction=0.80,
)
BLOOD = TissueProperties(
    density_kg_per_m3=1050.0,  # IT'IS database v4.1, blood
    specific_heat_j_per_kg_k=3617.0,  # IT'IS database v4.1, blood
    thermal_conductivity_w_per_m_k=0.52,  # IT'IS database v4.1, blood
    electrical_conductivity_s_per_m=0.667,  # Tungjitkusolmun et al. 2002
    conductivity_temperature_coefficient_per_k=0.015,
    perfusion_rate_per_s=0.0,
    water_mass_fraction=0.80,
)
OTHER = TissueProperties(
    density_kg_per_m3=1090.0,  # IT'IS, muscle
    specific_heat_j_per_kg_k=3421.0,
    thermal_conductivity_w_per_m_k=0.49,
    electrical_conductivity_s_per_m=0.45,
    perfusion_rate_per_s=0.0064,
    water_mass_fraction=0.75,
)
AIR = TissueProperties(
    density_kg_per_m3=1.2,
    specific_heat_j_per_kg_k=1005.0,
    thermal_conductivity_w_per_m_k=0.0,  # modelled as insulating: see module docstring
    electrical_conductivity_s_per_m=0.0,
    conductivity_temperature_coefficient_per_k=0.0,
)


@dataclass(frozen=True)
class VaporizationModel:
    """Tissue desiccation and water vaporisation near 100 degC.

    Electrical conductivity falls log-linearly by ``conductivity_drop_factor`` between
    ``onset_c`` and ``onset_c + width_c`` (reversibly, so impedance recovers when tissue cools);
    over the same window the latent heat of the tissue water is spread as an apparent heat
    capacity (enthalpy method).  This is what produces impedance roll-off in rfasim.

    Parameters
    ----------
    onset_c : float
        Temperature (degC) where desiccation starts.
    width_c : float
        Width (degC) of the transition.
    conductivity_drop_factor : float
        sigma above the transition divided by sigma at the onset (0.01 = two orders of magnitude).
    latent_heat_j_per_kg : float
        Latent heat of vaporisation of water (J/kg).
    enabled : bool
        Switch the whole model off (pure Pennes with linear sigma(T)).
    hysteresis : bool
        Desiccation with memory (:mod:`rfasim.physics.desiccation`): sigma follows the larger of
        the present vaporised fraction and the dried fraction the voxel has reached, so dried
        tissue does not conduct again as soon as it cools.  Off: the drop is reversible.
    rehydration_time_s : float
        Time constant (s) with which a dried voxel below the window regains its water (inf:
        never, within an ablation).
    """

    onset_c: float = 100.0
    width_c: float = 5.0
    conductivity_drop_factor: float = 0.01
    latent_heat_j_per_kg: float = 2.257e6
    enabled: bool = True
    hysteresis: bool = False
    rehydration_time_s: float = math.inf

    def __post_init__(self) -> None:
        _require_positive("vaporization width_c", self.width_c)
        if not (self.rehydration_time_s > 0.0):
            raise ValueError(f"rehydration_time_s must be positive (inf: never), got {self.rehydration_time_s!r}")
        if not (0.0 < self.conductivity_drop_factor <= 1.0):
            raise ValueError(
                f"conductivity_drop_factor must lie in (0, 1], got {self.conductivity_drop_factor!r}"
            )
        _require_positive("latent_heat_j_per_kg", self.latent_heat_j_per_kg, allow_zero=True)


@dataclass(frozen=True)
class ArrheniusParameters:
    """First-order Arrhenius damage model, Omega = integral A exp(-Ea / (R T)) dt.

    Parameters
    ----------
    frequency_factor_per_s : float
        A (1/s).  Liver default 7.39e39 1/s (Jacques & Gaeeni, as used by Chang & Nguyen 2004).
    activation_energy_j_per_mol : float
        Ea (J/mol).  Liver default 2.577e5 J/mol.
    minimum_temperature_c : float
        Damage is integrated only above this temperature (degC).  With the liver parameters the
        rate at 37 degC is 2.9e-4 1/s, which would "kill" unheated tissue within an hour: an
        artefact of extrapolating the fit below its range, so the integral starts at the onset of
        hyperthermic damage (43 degC, as for CEM43).
    """

    frequency_factor_per_s: float = 7.39e39
    activation_energy_j_per_mol: float = 2.577e5
    minimum_temperature_c: float = 43.0

    def __post_init__(self) -> None:
        _require_positive("frequency_factor_per_s", self.frequency_factor_per_s)
        _require_positive("activation_energy_j_per_mol", self.activation_energy_j_per_mol)


def laminar_wall_coefficient(diameter_m: float, velocity_m_per_s: float, heated_length_m: float,
                             density_kg_per_m3: float, specific_heat_j_per_kg_k: float,
                             conductivity_w_per_m_k: float, viscosity_pa_s: float) -> float:
    """Wall heat-transfer coefficient (W/(m^2 K)) of blood flow in a vessel, ``Nu k / D``.

    Laminar (Re <= 2300): ``Nu = (3.66^3 + 1.61^3 Re Pr D / L)^(1/3)`` (constant wall
    temperature, thermal entrance length L included).  Turbulent: the larger of that and
    ``0.023 Re^0.8 Pr^0.4``.

    Examples
    --------
    >>> round(laminar_wall_coefficient(0.008, 0.0, 0.03, 1050, 3617, 0.52, 3.35e-3))  # no flow: Nu = 3.66
    238
    """
    reynolds = density_kg_per_m3 * velocity_m_per_s * diameter_m / viscosity_pa_s
    prandtl = specific_heat_j_per_kg_k * viscosity_pa_s / conductivity_w_per_m_k
    nusselt = (3.66**3 + 1.61**3 * reynolds * prandtl * diameter_m / heated_length_m) ** (1.0 / 3.0)
    if reynolds > 2300.0:
        nusselt = max(nusselt, 0.023 * reynolds**0.8 * prandtl**0.4)
    return nusselt * conductivity_w_per_m_k / diameter_m


@dataclass(frozen=True)
class VesselModel:
    """How large blood vessels carry heat away.

    Both models hold the lumen voxels at ``blood_temperature_c`` (fast blood flow mixes the
    lumen).  ``"lumen"``: the wall is the interface of two conducting half-voxels (no extra
    resistance) — the strongest sink.  ``"convective"``: a wall film of heat-transfer coefficient
    ``wall_heat_transfer_w_per_m2_k`` between lumen and tissue (a Nusselt-number film model;
    the default 1000 W/(m^2 K) is an order-of-magnitude value for large hepatic vessels, see
    docs/parameters.md for the literature range).  ``"none"``:
    vessels are ordinary blood-filled tissue without flow.

    Vessels by calibre (issue 12; :mod:`rfasim.physics.vessels`): ``wall_model = "nusselt"``
    replaces the constant h by ``Nu k / D`` of laminar flow at ``velocity_m_per_s`` through a
    vessel of ``diameter_mm`` (None: the median calibre of the non-thrombosing lumen, measured
    on the material map) over ``heated_length_mm``; ``thrombosis_diameter_mm > 0`` turns
    lumen voxels of a smaller local calibre into thrombus (no longer a heat sink) once a wall
    neighbour has coagulated (Lu et al. 2002 report the transition at 2-4 mm; 3 mm, the
    default, is the literature value; 0 switches it off).  Both are on by default (issue 12).
    """

    kind: str = "convective"
    wall_heat_transfer_w_per_m2_k: float = 1000.0
    blood_temperature_c: float = BODY_TEMPERATURE_C
    wall_model: str = "nusselt"
    diameter_mm: float | None = None
    velocity_m_per_s: float = 0.18
    heated_length_mm: float = 30.0
    thrombosis_diameter_mm: float = 3.0

    def __post_init__(self) -> None:
        if self.kind not in ("lumen", "convective", "none"):
            raise ValueError(f"vessel model kind must be 'lumen', 'convective' or 'none', got {self.kind!r}")
        if self.wall_model not in ("constant", "nusselt"):
            raise ValueError(f"vessel wall_model must be 'constant' or 'nusselt', got {self.wall_model!r}")
        _require_positive("wall_heat_transfer_w_per_m2_k", self.wall_heat_transfer_w_per_m2_k)
        _require_positive("velocity_m_per_s", self.velocity_m_per_s, allow_zero=True)
        _require_positive("heated_length_mm", self.heated_length_mm)
        _require_positive("thrombosis_diameter_mm", self.thrombosis_diameter_mm, allow_zero=True)
        if self.diameter_mm is not None:
            _require_positive("vessel diameter_mm", self.diameter_mm)

    def wall_coefficient(self, blood: TissueProperties) -> float:
        """Wall heat-transfer coefficient h (W/(m^2 K)): the constant, or ``Nu k / D`` of laminar
        flow at ``velocity_m_per_s`` in a vessel of ``diameter_mm`` (:mod:`rfasim.physics.vessels`).

        The Nusselt model without a diameter (no lumen measured yet: the simulation measures it on
        the material map) falls back to the constant.
        """
        if self.wall_model == "constant" or self.diameter_mm is None:
            return self.wall_heat_transfer_w_per_m2_k
        return laminar_wall_coefficient(
            self.diameter_mm * 1e-3, self.velocity_m_per_s, self.heated_length_mm * 1e-3, blood.density_kg_per_m3,
            blood.specific_heat_j_per_kg_k, blood.thermal_conductivity_w_per_m_k, BLOOD_VISCOSITY_PA_S,
        )


def _default_classes() -> dict[TissueClass, TissueProperties]:
    return {
        TissueClass.BACKGROUND: AIR,
        TissueClass.LIVER: LIVER,
        TissueClass.TUMOR: TUMOR,
        TissueClass.VESSEL: BLOOD,
        TissueClass.OTHER: OTHER,
        TissueClass.FORBIDDEN: OTHER,
        TissueClass.INSULATOR: replace(
            LIVER,
            electrical_conductivity_s_per_m=0.0,
            conductivity_temperature_coefficient_per_k=0.0,
            perfusion_rate_per_s=0.0,
        ),
        # Thermal conductivity is replaced by infinity in the property table (isothermal metal);
        # electrically the metal is a Dirichlet node, so sigma is not used.
        TissueClass.COOLED_METAL: replace(LIVER, perfusion_rate_per_s=0.0, water_mass_fraction=0.0),
        TissueClass.FAT: FAT,
        TissueClass.LUNG: LUNG,
        TissueClass.BONE: BONE,
        TissueClass.THROMBUS: replace(BLOOD, perfusion_rate_per_s=0.0),
    }


# Classes found from the CT in unlabelled body voxels (issue 15; docs/parameters.md, "Unlabelled
# body tissue", gives the sources; values marked "assumption" are not measurements).
FAT = TissueProperties(
    density_kg_per_m3=911.0,  # IT'IS v4.1 fat, as listed in the COMSOL Bioheat materials database
    specific_heat_j_per_kg_k=2348.0,  # same
    thermal_conductivity_w_per_m_k=0.21,  # same
    electrical_conductivity_s_per_m=0.025,  # Gabriel et al. 1996 4-Cole-Cole model, fat (not infiltrated), 480 kHz
    perfusion_rate_per_s=0.00064,  # assumption: a tenth of muscle's (fat is poorly perfused)
    water_mass_fraction=0.15,  # assumption (only scales the latent heat)
)
LUNG = TissueProperties(
    density_kg_per_m3=394.0,  # IT'IS v4.1, lung (inflated)
    specific_heat_j_per_kg_k=3421.0,  # assumption: per kg as its tissue (muscle-like); the air's mass is negligible
    thermal_conductivity_w_per_m_k=0.18,  # assumption: tissue fraction 394/1090 of muscle's 0.49
    electrical_conductivity_s_per_m=0.16,  # assumption: tissue fraction 394/1090 of soft tissue's 0.45
    perfusion_rate_per_s=0.0023,  # assumption: tissue fraction of muscle's 0.0064
    water_mass_fraction=0.75,  # assumption: as soft tissue
)
BONE = TissueProperties(
    density_kg_per_m3=1908.0,  # IT'IS v4.1 bone (cortical), as listed in the COMSOL Bioheat materials database
    specific_heat_j_per_kg_k=1313.0,  # same
    thermal_conductivity_w_per_m_k=0.32,  # same
    electrical_conductivity_s_per_m=0.022,  # Gabriel et al. 1996 4-Cole-Cole model, cortical bone, 480 kHz
    perfusion_rate_per_s=0.00064,  # assumption: a tenth of muscle's
    water_mass_fraction=0.15,  # assumption (only scales the latent heat)
)


@dataclass(frozen=True)
class PropertyTable:
    """Per-material property arrays indexed by :class:`TissueClass` value (what kernels read)."""

    density_kg_per_m3: np.ndarray
    specific_heat_j_per_kg_k: np.ndarray
    thermal_conductivity_w_per_m_k: np.ndarray
    electrical_conductivity_s_per_m: np.ndarray
    conductivity_temperature_coefficient_per_k: np.ndarray
    perfusion_rate_per_s: np.ndarray
    metabolic_heat_w_per_m3: np.ndarray
    latent_heat_j_per_kg: np.ndarray  #: water fraction x latent heat (J/kg tissue)
    wall_resistance_m2_k_per_w: np.ndarray  #: extra film resistance at this material's faces
    thermally_fixed: np.ndarray  #: uint8, 1 where the material is held at a fixed temperature
    fixed_temperature_c: np.ndarray


#: Perfusion responses to thermal damage (see :class:`TissueModel`).
PERFUSION_RESPONSES = ("cutoff", "stasis", "hyperaemia")
#: Kernel code of each response (:func:`rfasim.physics.bioheat_kernel.perfusion_factor`).
PERFUSION_RESPONSE_CODES = {"cutoff": 0.0, "stasis": 1.0, "hyperaemia": 2.0}


@dataclass(frozen=True)
class TissueModel:
    """All tissue physics parameters of a simulation.

    Parameters
    ----------
    classes : dict
        :class:`TissueProperties` per :class:`TissueClass`.
    blood : TissueProperties
        Arterial blood entering the Pennes perfusion term (density and heat capacity used).
    body_temperature_c : float
        Initial tissue temperature and Pennes arterial temperature (degC).
    vaporization : VaporizationModel
    arrhenius : ArrheniusParameters
    vessels : VesselModel
    perfusion_response : str
        How microvascular perfusion answers thermal damage (Arrhenius Omega): ``"cutoff"``
        (default: full perfusion until Omega reaches 1, none after) or ``"stasis"``
        (``w = w0 (1 - DS)`` with the degree of vascular stasis ``DS = 1 - exp(-Omega)``, the
        first-order Arrhenius stasis model compared by Schutt & Haemmerich, Med Phys 35:3462,
        2008), or ``"hyperaemia"`` (the same after a hyperaemic rise to ``hyperaemia_factor``
        times the baseline at ``DS = hyperaemia_peak_stasis``).
    hyperaemia_factor : float
        Peak perfusion over baseline of the ``"hyperaemia"`` response (no default from the
        literature we could read: 1.0 means no rise).
    hyperaemia_peak_stasis : float
        Degree of stasis of the peak (0.1: "less than ~10 %", docs/parameters.md).

    Examples
    --------
    >>> model = TissueModel()
    >>> model.classes[TissueClass.LIVER].thermal_conductivity_w_per_m_k
    0.52
    >>> hot = model.with_class(TissueClass.LIVER, perfusion_rate_per_s=0.0)
    """

    classes: dict[TissueClass, TissueProperties] = field(default_factory=_default_classes)
    blood: TissueProperties = BLOOD
    body_temperature_c: float = BODY_TEMPERATURE_C
    vaporization: VaporizationModel = field(default_factory=VaporizationModel)
    arrhenius: ArrheniusParameters = field(default_factory=ArrheniusParameters)
    vessels: VesselModel = field(default_factory=VesselModel)
    perfusion_response: str = "cutoff"
    hyperaemia_factor: float = 1.0
    hyperaemia_peak_stasis: float = 0.1

    def __post_init__(self) -> None:
        if not (self.hyperaemia_factor >= 1.0 and 0.0 < self.hyperaemia_peak_stasis < 1.0):
            raise ValueError(
                f"hyperaemia_factor must be >= 1 and hyperaemia_peak_stasis in (0, 1), got "
                f"{self.hyperaemia_factor!r} and {self.hyperaemia_peak_stasis!r}"
            )
        if self.perfusion_response not in PERFUSION_RESPONSES:
            raise ValueError(
                f"perfusion_response must be one of {', '.join(map(repr, PERFUSION_RESPONSES))}, "
                f"got {self.perfusion_response!r}"
            )
        missing = [c.name.lower() for c in TissueClass if c not in self.classes]
        if missing:
            raise ValueError(f"tissue model lacks properties for classes: {', '.join(missing)}")
        if not math.isfinite(self.body_temperature_c):
            raise ValueError(f"body_temperature_c must be finite, got {self.body_temperature_c!r}")

    def with_class(self, tissue_class: TissueClass, **changes: float) -> TissueModel:
        """A copy with some properties of one class changed (names as in :class:`TissueProperties`)."""
        valid = {f.name for f in fields(TissueProperties)}
        unknown = sorted(set(changes) - valid)
        if unknown:
            raise ValueError(
                f"unknown tissue property {unknown[0]!r}; valid properties: {', '.join(sorted(valid))}"
            )
        classes = dict(self.classes)
        classes[tissue_class] = replace(classes[tissue_class], **changes)
        return replace(self, classes=classes)

    @property
    def blood_heat_capacity_j_per_m3_k(self) -> float:
        """rho_b c_b of blood (J/(m^3 K))."""
        return self.blood.density_kg_per_m3 * self.blood.specific_heat_j_per_kg_k

    def property_table(self, spacing_m: float) -> PropertyTable:
        """Property arrays indexed by material code, for the kernels.

        Parameters
        ----------
        spacing_m : float
            Grid spacing (m); the convective vessel wall film is expressed per face.
        """
        del spacing_m  # the film resistance is per unit area; kept for future anisotropic grids
        count = len(TissueClass)

        def column(name: str) -> np.ndarray:
            return np.array([getattr(self.classes[TissueClass(i)], name) for i in range(count)], float)

        wall = np.zeros(count)
        fixed = np.zeros(count, np.uint8)
        fixed_temperature = np.full(count, np.nan)
        conductivity = column("thermal_conductivity_w_per_m_k")
        perfusion = column("perfusion_rate_per_s")
        if self.vessels.kind in ("lumen", "convective"):
            fixed[TissueClass.VESSEL] = 1
            fixed_temperature[TissueClass.VESSEL] = self.vessels.blood_temperature_c
            perfusion[TissueClass.VESSEL] = 0.0
            if self.vessels.kind == "convective":
                # Well-mixed lumen: no conduction resistance inside, only the wall film.
                conductivity[TissueClass.VESSEL] = np.inf
                wall[TissueClass.VESSEL] = 1.0 / self.vessels.wall_coefficient(self.blood)
        # Cooled metal is isothermal: no conduction resistance inside, the tissue voxel sees the
        # metal surface half a voxel away (as in the electric problem).
        conductivity[TissueClass.COOLED_METAL] = np.inf
        fixed[TissueClass.COOLED_METAL] = 1
        water = column("water_mass_fraction")
        latent = water * (self.vaporization.latent_heat_j_per_kg if self.vaporization.enabled else 0.0)
        return PropertyTable(
            density_kg_per_m3=column("density_kg_per_m3"),
            specific_heat_j_per_kg_k=column("specific_heat_j_per_kg_k"),
            thermal_conductivity_w_per_m_k=conductivity,
            electrical_conductivity_s_per_m=column("electrical_conductivity_s_per_m"),
            conductivity_temperature_coefficient_per_k=column(
                "conductivity_temperature_coefficient_per_k"
            ),
            perfusion_rate_per_s=perfusion,
            metabolic_heat_w_per_m3=column("metabolic_heat_w_per_m3"),
            latent_heat_j_per_kg=latent,
            wall_resistance_m2_k_per_w=wall,
            thermally_fixed=fixed,
            fixed_temperature_c=fixed_temperature,
        )


def homogeneous_liver(perfused: bool = True) -> TissueModel:
    """The default tissue model, optionally without perfusion (ex vivo liver).

    Examples
    --------
    >>> homogeneous_liver(perfused=False).classes[TissueClass.LIVER].perfusion_rate_per_s
    0.0
    """
    model = TissueModel()
    if not perfused:
        # Ex vivo: no blood flow anywhere (vessel lumen is a boundary condition, not perfusion).
        for tissue_class in (TissueClass.LIVER, TissueClass.TUMOR, TissueClass.OTHER, TissueClass.FORBIDDEN,
                             TissueClass.FAT, TissueClass.LUNG, TissueClass.BONE):
            model = model.with_class(tissue_class, perfusion_rate_per_s=0.0)
    return model
