"""The case file (``case.toml``): parsing and validation.

The format is documented in ``docs/case-file.md``.  Unknown keys are errors; every error is a
:class:`~rfasim.errors.CaseFileError` naming the file, the field and the value at fault.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rfasim.bounds import check_physical_tissue, check_work
from rfasim.errors import CaseFileError
from rfasim.generators import (
    COMMON_GENERATOR_KEYS,
    Generator,
    Switched,
    generator_from_table,
    generator_keys,
    generator_modes,
)
from rfasim.metrics.criteria import get_zone_criterion, zone_criterion_names
from rfasim.physics.damage import damage_model_names
from rfasim.simulation.options import SimulationOptions
from rfasim.tissue import (
    ArrheniusParameters,
    TissueClass,
    TissueModel,
    TissueProperties,
    VaporizationModel,
    VesselModel,
    homogeneous_liver,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

OPTIONS_KEYS = ("electric_update_tolerance", "maximum_time_step_s", "snapshot_interval_s", "damage_models",
                "electric_update")
SECTIONS = ("images", "labels", "target", "probes", "generator", "zone", "grid", "margin", "tissue", "options")
PROBE_SCHEDULES = ("simultaneous", "switched", "sequential")

@dataclass(frozen=True)
class ProbeSpec:
    """One ``[[probes]]`` entry: catalog model and placement in world RAS mm."""

    model: str
    tip_mm: tuple[float, float, float]
    entry_mm: tuple[float, float, float] | None = None
    direction: tuple[float, float, float] | None = None
    deployment_diameter_mm: float | None = None
    rotation_deg: float = 0.0


@dataclass
class Case:
    """A validated case file.

    Attributes
    ----------
    path : Path
        The case file (paths inside it are relative to its folder).
    labels_path, ct_path : Path, Path or None
        Label map and optional CT.
    labels_table : dict
        The ``[labels]`` table (parsed by :class:`rfasim.imaging.LabelMapping`).
    target_tumor_id, target_point_mm : int or None, tuple or None
        Target selection; neither: the tumor nearest the first probe's tip.
    probes : list of ProbeSpec
    generator_table : dict
        The ``[generator]`` table ({} = each probe model's default protocol).
    zone_criterion : str
        A registered criterion (:mod:`rfasim.metrics.criteria`): ``"isotherm"``, ``"arrhenius"``...
    zone_threshold_c : float or None
        Isotherm temperature (degC) for the isotherm criterion.
    spacing_mm, roi_margin_mm : float
        Simulation spacing and region-of-interest margin (mm).
    margin_target_mm : float
        Safety-margin target (mm).
    tissue_table : dict
        Tissue overrides (see :func:`build_tissue_model`).
    grow_domain : bool
        Grow the simulation box while a zone comes close to it (:mod:`rfasim.plan.domain`).
    """

    path: Path
    labels_path: Path
    ct_path: Path | None = None
    labels_table: dict[str, Any] = field(default_factory=dict)
    target_tumor_id: int | None = None
    target_point_mm: tuple[float, float, float] | None = None
    probes: list[ProbeSpec] = field(default_factory=list)
    generator_table: dict[str, Any] = field(default_factory=dict)
    zone_criterion: str = "isotherm"
    zone_threshold_c: float | None = 100.0
    spacing_mm: float = 1.0
    roi_margin_mm: float = 20.0
    margin_target_mm: float = 5.0
    tissue_table: dict[str, Any] = field(default_factory=dict)
    options_table: dict[str, Any] = field(default_factory=dict)
    grow_domain: bool = True

    @property
    def folder(self) -> Path:
        """Folder of the case file."""
        return self.path.parent


def _fail(where: str, message: str) -> CaseFileError:
    return CaseFileError(f"{where}: {message}")


def _check_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r} (valid keys: {', '.join(allowed)})")


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """The sub-table ``data[key]`` ({} when absent); anything but a table is an error naming it."""
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise _fail(where, f"expected a table ([{key}] with keys), got {value!r}")
    return value


def _number(value: Any, where: str, positive: bool = False, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(where, f"expected a finite number, got {value!r}")
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        raise _fail(where, f"must be {'non-negative' if allow_zero else 'positive'}, got {value!r}")
    return float(value)


def _point(value: Any, where: str) -> tuple[float, float, float]:
    if not isinstance(value, list) or len(value) != 3:
        raise _fail(where, f"expected three numbers [x, y, z] in mm, got {value!r}")
    return tuple(_number(v, where) for v in value)  # type: ignore[return-value]


def load_case(path: str | Path) -> Case:
    """Read and validate a case file.

    Parameters
    ----------
    path : str or Path
        The ``case.toml``.

    Returns
    -------
    Case

    Raises
    ------
    CaseFileError
        Naming the file, the field and the value at fault.
    """
    path = Path(path)
    return parse_case(read_toml(path, "case file"), path)


def read_toml(path: Path, kind: str) -> dict[str, Any]:
    """Parse a TOML file, or raise :class:`CaseFileError` naming it (``kind``: for the message)."""
    if not path.is_file():
        raise CaseFileError(f"{path}: {kind} not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CaseFileError(f"{path}: not valid TOML ({error})") from None


def parse_case(data: dict[str, Any], path: Path) -> Case:
    """Validate a parsed case table (see :func:`load_case`)."""
    name = str(path)
    _check_keys(data, SECTIONS, name)
    images = _table(data, "images", f"{name} [images]")
    if "labels" not in images:
        raise _fail(f"{name} [images]", "a 'labels' image is required")
    _check_keys(images, ("labels", "ct"), f"{name} [images]")
    for key, value in images.items():
        if not isinstance(value, str) or not value.strip():
            raise _fail(f"{name} [images] {key}", f"expected a file or folder path (text), got {value!r}")
    folder = path.parent
    labels_path = folder / str(images["labels"])
    ct_path = folder / str(images["ct"]) if "ct" in images else None

    case = Case(path=path, labels_path=labels_path, ct_path=ct_path)
    labels = _table(data, "labels", f"{name} [labels]") if "labels" in data else {"preset": "rfasim"}
    from rfasim.imaging.labels import LabelMapping

    LabelMapping.from_case(labels, where=f"{name} [labels]")  # validate now, before any work
    case.labels_table = labels

    target = _table(data, "target", f"{name} [target]")
    _check_keys(target, ("tumor_id", "point_mm", "nearest_to_probe"), f"{name} [target]")
    chosen = [key for key in ("tumor_id", "point_mm") if key in target]
    if len(chosen) > 1:
        raise _fail(f"{name} [target]", "give tumor_id or point_mm, not both")
    if "tumor_id" in target:
        tumor_id = target["tumor_id"]
        if isinstance(tumor_id, bool) or not isinstance(tumor_id, int) or tumor_id < 1:
            raise _fail(f"{name} [target] tumor_id", f"expected a positive integer, got {tumor_id!r}")
        case.target_tumor_id = tumor_id
    if "point_mm" in target:
        case.target_point_mm = _point(target["point_mm"], f"{name} [target] point_mm")
    if "nearest_to_probe" in target and target["nearest_to_probe"] is not True:
        raise _fail(f"{name} [target] nearest_to_probe", f"expected true, got {target['nearest_to_probe']!r}")
    if "nearest_to_probe" in target and chosen:
        raise _fail(f"{name} [target]", f"give {chosen[0]} or nearest_to_probe, not both")

    probes = data.get("probes")
    if isinstance(probes, dict):
        raise _fail(f"{name} [[probes]]", "expected an array of tables: write [[probes]], not [probes]")
    if not isinstance(probes, list) or not probes:
        raise _fail(f"{name} [[probes]]", "at least one probe is required")
    for number, table in enumerate(probes, start=1):
        where = f"{name} [[probes]] #{number}"
        if not isinstance(table, dict):
            raise _fail(where, "expected a table")
        _check_keys(table, ("model", "tip_mm", "entry_mm", "direction", "deployment_diameter_mm", "rotation_deg"), where)
        if "model" not in table or "tip_mm" not in table:
            raise _fail(where, "'model' and 'tip_mm' are required")
        if ("entry_mm" in table) == ("direction" in table):
            raise _fail(where, "give exactly one of 'entry_mm' or 'direction'")
        model = table["model"]
        if not isinstance(model, str) or not model.strip():
            raise _fail(f"{where} model", f"expected a catalog name or a probe file path (text), got {model!r}")
        if model.endswith(".toml") or "/" in model or "\\" in model:
            model = str((folder / model).resolve())  # relative to the case file, not the current folder
        _check_probe_model(model, f"{where} model")
        case.probes.append(
            ProbeSpec(
                model=model,
                tip_mm=_point(table["tip_mm"], f"{where} tip_mm"),
                entry_mm=_point(table["entry_mm"], f"{where} entry_mm") if "entry_mm" in table else None,
                direction=_point(table["direction"], f"{where} direction") if "direction" in table else None,
                deployment_diameter_mm=(
                    _number(table["deployment_diameter_mm"], f"{where} deployment_diameter_mm", positive=True)
                    if "deployment_diameter_mm" in table else None
                ),
                rotation_deg=_number(table.get("rotation_deg", 0.0), f"{where} rotation_deg"),
            )
        )

    generator = _table(data, "generator", f"{name} [generator]")
    if generator:
        mode = generator.get("mode")
        modes = generator_modes()
        if mode not in modes:
            raise _fail(f"{name} [generator] mode", f"unknown mode {mode!r} (valid: {', '.join(modes)})")
        _check_keys(generator, COMMON_GENERATOR_KEYS + generator_keys(mode), f"{name} [generator]")
        schedule = generator.get("probe_schedule", "simultaneous")
        if schedule not in PROBE_SCHEDULES:
            raise _fail(f"{name} [generator] probe_schedule", f"unknown {schedule!r} (valid: {', '.join(PROBE_SCHEDULES)})")
        for key, value in generator.items():
            if key not in ("mode", "probe_schedule"):
                _number(value, f"{name} [generator] {key}", positive=True, allow_zero=key in ("pause_s", "reposition_s"))
    case.generator_table = generator

    zone = _table(data, "zone", f"{name} [zone]")
    _check_keys(zone, ("criterion", "threshold_c"), f"{name} [zone]")
    criterion = zone.get("criterion", "isotherm")
    if not isinstance(criterion, str) or criterion not in zone_criterion_names():
        raise _fail(f"{name} [zone] criterion", f"unknown {criterion!r} (valid: {', '.join(zone_criterion_names())})")
    case.zone_criterion = criterion
    rule = get_zone_criterion(criterion)
    if rule.adjustable and rule.threshold_range is not None:
        low, high = rule.threshold_range
        case.zone_threshold_c = _number(zone.get("threshold_c", rule.threshold), f"{name} [zone] threshold_c")
        if not low <= case.zone_threshold_c <= high:
            raise _fail(f"{name} [zone] threshold_c", f"must lie between {low:g} and {high:g} degC, got {case.zone_threshold_c}")
    elif "threshold_c" in zone:
        adjustable = ", ".join(n for n in zone_criterion_names() if get_zone_criterion(n).adjustable)
        raise _fail(f"{name} [zone] threshold_c", f"only the {adjustable} criterion takes a threshold, not {criterion!r}")
    else:
        case.zone_threshold_c = None

    grid = _table(data, "grid", f"{name} [grid]")
    _check_keys(grid, ("spacing_mm", "margin_mm", "grow_domain"), f"{name} [grid]")
    case.grow_domain = grid.get("grow_domain", True)
    if not isinstance(case.grow_domain, bool):
        raise _fail(f"{name} [grid] grow_domain", f"expected true or false, got {case.grow_domain!r}")
    case.spacing_mm = _number(grid.get("spacing_mm", 1.0), f"{name} [grid] spacing_mm", positive=True)
    if not 0.2 <= case.spacing_mm <= 5.0:
        raise _fail(f"{name} [grid] spacing_mm", f"must lie between 0.2 and 5 mm, got {case.spacing_mm}")
    case.roi_margin_mm = _number(grid.get("margin_mm", 20.0), f"{name} [grid] margin_mm", positive=True)

    margin = _table(data, "margin", f"{name} [margin]")
    _check_keys(margin, ("target_mm",), f"{name} [margin]")
    case.margin_target_mm = _number(margin.get("target_mm", 5.0), f"{name} [margin] target_mm", positive=True, allow_zero=True)

    tissue = _table(data, "tissue", f"{name} [tissue]")
    case.tissue_table = tissue
    model = build_tissue_model(tissue, f"{name} [tissue]")  # validate now, before any work
    check_physical_tissue(tissue, model, f"{name} [tissue]")

    options = _table(data, "options", f"{name} [options]")
    _check_keys(options, OPTIONS_KEYS, f"{name} [options]")
    for key, value in options.items():
        if key not in ("damage_models", "electric_update"):
            _number(value, f"{name} [options] {key}", positive=True)
    simulation_options(options, f"{name} [options]")  # validate now, before any work
    case.options_table = options
    check_work(case, model, name)
    return case


def _check_probe_model(model: str, where: str) -> None:
    """Load the probe model now (catalog name or file), so that a bad one fails before any work."""
    from rfasim.errors import ProbeError
    from rfasim.probes import get_probe_model

    try:
        get_probe_model(model)
    except ProbeError as error:
        raise _fail(where, str(error)) from None


def simulation_options(table: dict[str, Any], where: str = "[options]") -> SimulationOptions:
    """The :class:`~rfasim.simulation.SimulationOptions` of an ``[options]`` table.

    Keys: ``electric_update_tolerance``, ``maximum_time_step_s``, ``electric_update``
    (``"global"`` or ``"local"``: how the field is re-solved, :class:`SimulationOptions`) and
    ``damage_models`` (names of registered damage models accumulated beside Arrhenius, default
    ``["arrhenius", "cem43"]``).
    """
    models = table.get("damage_models", list(SimulationOptions.damage_models))
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise _fail(f"{where} damage_models", f"expected a list of model names, got {models!r}")
    known = damage_model_names()
    unknown = [m for m in models if m not in known]
    if unknown:
        raise _fail(f"{where} damage_models", f"unknown damage model {unknown[0]!r} (known: {', '.join(known)})")
    try:
        return SimulationOptions(
            electric_update_tolerance=float(table.get("electric_update_tolerance", 0.02)),
            maximum_time_step_s=float(table.get("maximum_time_step_s", 1.0)),
            electric_update=str(table.get("electric_update", SimulationOptions.electric_update)),
            damage_models=tuple(models),
        )
    except ValueError as error:
        raise _fail(where, str(error)) from None


TISSUE_GLOBAL_KEYS = (
    "perfused", "body_temperature_c", "vessel_model", "vessel_heat_transfer_w_per_m2_k",
    "arrhenius_frequency_factor_per_s", "arrhenius_activation_energy_j_per_mol",
    "vaporization", "vaporization_onset_c", "vaporization_conductivity_drop_factor", "perfusion_response",
    "hyperaemia_factor", "vaporization_hysteresis", "rehydration_time_s",
    "vessel_wall_model", "vessel_diameter_mm", "vessel_velocity_m_per_s", "vessel_thrombosis_diameter_mm",
)
VESSEL_KEYS = ("vessel_model", "vessel_heat_transfer_w_per_m2_k", "vessel_wall_model", "vessel_diameter_mm",
               "vessel_velocity_m_per_s", "vessel_thrombosis_diameter_mm")
TISSUE_CLASS_TABLES = ("liver", "tumor", "vessel", "other", "forbidden", "fat", "lung", "bone")


def build_tissue_model(table: dict[str, Any], where: str = "[tissue]") -> TissueModel:
    """The :class:`~rfasim.tissue.TissueModel` described by a ``[tissue]`` table.

    Keys: ``perfused`` (bool), ``body_temperature_c``, ``vessel_model``
    (``"convective"``/``"lumen"``/``"none"``), ``vessel_heat_transfer_w_per_m2_k``,
    ``arrhenius_frequency_factor_per_s``, ``arrhenius_activation_energy_j_per_mol``,
    ``vaporization`` (bool), ``vaporization_onset_c``, ``vaporization_conductivity_drop_factor``,
    and per-class sub-tables (``[tissue.liver]`` ...) with :class:`~rfasim.tissue.TissueProperties` fields.
    """
    _check_keys(table, TISSUE_GLOBAL_KEYS + TISSUE_CLASS_TABLES, where)
    perfused = table.get("perfused", True)
    if not isinstance(perfused, bool):
        raise _fail(f"{where} perfused", f"expected true or false, got {perfused!r}")
    model = homogeneous_liver(perfused=perfused)
    try:
        if "body_temperature_c" in table:
            model = _replace(model, body_temperature_c=_number(table["body_temperature_c"], f"{where} body_temperature_c"))
        vessel = model.vessels
        if any(key in table for key in VESSEL_KEYS):
            vessel = _vessel_model(table, vessel, model.body_temperature_c, where)
        model = _replace(model, vessels=vessel)
        if "arrhenius_frequency_factor_per_s" in table or "arrhenius_activation_energy_j_per_mol" in table:
            model = _replace(model, arrhenius=ArrheniusParameters(
                frequency_factor_per_s=_number(table.get("arrhenius_frequency_factor_per_s", 7.39e39), f"{where} arrhenius_frequency_factor_per_s", positive=True),
                activation_energy_j_per_mol=_number(table.get("arrhenius_activation_energy_j_per_mol", 2.577e5), f"{where} arrhenius_activation_energy_j_per_mol", positive=True),
            ))
        if "perfusion_response" in table:
            model = _replace(model, perfusion_response=str(table["perfusion_response"]))
        if "hyperaemia_factor" in table:
            model = _replace(model, hyperaemia_factor=_number(table["hyperaemia_factor"], f"{where} hyperaemia_factor"))
        vaporization = model.vaporization
        enabled = table.get("vaporization", vaporization.enabled)
        if not isinstance(enabled, bool):
            raise _fail(f"{where} vaporization", f"expected true or false, got {enabled!r}")
        model = _replace(model, vaporization=VaporizationModel(
            onset_c=_number(table.get("vaporization_onset_c", vaporization.onset_c), f"{where} vaporization_onset_c"),
            width_c=vaporization.width_c,
            conductivity_drop_factor=_number(
                table.get("vaporization_conductivity_drop_factor", vaporization.conductivity_drop_factor),
                f"{where} vaporization_conductivity_drop_factor", positive=True,
            ),
            latent_heat_j_per_kg=vaporization.latent_heat_j_per_kg,
            enabled=enabled,
            hysteresis=_flag(table.get("vaporization_hysteresis", vaporization.hysteresis),
                             f"{where} vaporization_hysteresis"),
            rehydration_time_s=(_number(table["rehydration_time_s"], f"{where} rehydration_time_s", positive=True)
                                if "rehydration_time_s" in table else vaporization.rehydration_time_s),
        ))
        valid = tuple(f.name for f in fields(TissueProperties))
        for class_name in TISSUE_CLASS_TABLES:
            overrides = table.get(class_name)
            if overrides is None:
                continue
            if not isinstance(overrides, dict):
                raise _fail(f"{where}.{class_name}", "expected a table")
            _check_keys(overrides, valid, f"{where}.{class_name}")
            values = {key: _number(value, f"{where}.{class_name} {key}") for key, value in overrides.items()}
            model = model.with_class(TissueClass[class_name.upper()], **values)
    except CaseFileError:
        raise
    except ValueError as error:
        raise _fail(where, str(error)) from None
    return model


def _vessel_model(table: dict[str, Any], vessel: VesselModel, blood_temperature_c: float, where: str) -> VesselModel:
    """The ``vessel_*`` keys of a ``[tissue]`` table on top of ``vessel``."""
    def optional(key: str, default: float | None) -> float | None:
        return _number(table[key], f"{where} {key}", positive=True) if key in table else default

    def number(key: str, default: float) -> float:
        return _number(table[key], f"{where} {key}", positive=True) if key in table else default

    return VesselModel(
        kind=str(table.get("vessel_model", vessel.kind)),
        wall_heat_transfer_w_per_m2_k=number("vessel_heat_transfer_w_per_m2_k", vessel.wall_heat_transfer_w_per_m2_k),
        blood_temperature_c=blood_temperature_c,
        wall_model=str(table.get("vessel_wall_model", vessel.wall_model)),
        diameter_mm=optional("vessel_diameter_mm", vessel.diameter_mm),
        velocity_m_per_s=number("vessel_velocity_m_per_s", vessel.velocity_m_per_s),
        heated_length_mm=vessel.heated_length_mm,
        thrombosis_diameter_mm=number("vessel_thrombosis_diameter_mm", vessel.thrombosis_diameter_mm),
    )


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, f"expected true or false, got {value!r}")
    return value


def _replace(model: TissueModel, **changes: Any) -> TissueModel:
    from dataclasses import replace

    return replace(model, **changes)


def build_generator(
    table: dict[str, Any], probe_groups: list[list[int]], where: str = "[generator]"
) -> tuple[Generator, str, float]:
    """The generator described by a ``[generator]`` table.

    ``probe_groups`` lists, per probe, the indices of its electrodes (a switched generator
    connects one probe at a time).

    Returns the generator, the probe schedule (``simultaneous``, ``switched``, ``sequential``)
    and the repositioning time between sequential ablations (s).
    """
    try:
        generator: Generator = generator_from_table(table, where)
    except ValueError as error:
        raise CaseFileError(str(error)) from None
    schedule = table.get("probe_schedule", "simultaneous")
    if schedule == "switched" and len(probe_groups) > 1:
        generator = Switched(
            inner=generator, groups=probe_groups,
            dwell_s=float(table.get("switch_dwell_s", 30.0)),
        )
    return generator, schedule, float(table.get("reposition_s", 60.0))
