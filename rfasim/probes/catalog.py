"""The probe catalog: one TOML file per device model in ``rfasim/data/probes/``.

A :class:`ProbeModel` holds a device's geometry (gauge, active length, needles, tines, bipolar
layout), its cooling and its default generator protocol (a dict with the keys of the case file's
``[generator]`` table).  A user may define a new probe in a TOML file of the same layout and pass
its path wherever a catalog name is accepted; no code change is needed.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field, fields
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from rfasim.errors import ProbeError
from rfasim.generators import COMMON_GENERATOR_KEYS, generator_keys, generator_modes

if TYPE_CHECKING:
    from importlib.abc import Traversable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Probe kinds understood by :mod:`rfasim.probes.placement`.
PROBE_KINDS = ("straight", "cluster", "multitine", "bipolar")

#: Bipolar layouts: two parallel needles, or two electrodes on one shaft.
BIPOLAR_LAYOUTS = ("two-needles", "one-shaft")

#: Outer diameter (mm) of the usual needle gauges (Stubs gauge, thin-wall tubing).
GAUGE_DIAMETER_MM = {13: 2.41, 14: 2.11, 15: 1.83, 16: 1.65, 17: 1.47, 18: 1.27, 19: 1.07, 20: 0.91}


@dataclass(frozen=True)
class ProbeModel:
    """One RFA device model.

    Parameters
    ----------
    name : str
        Catalog name (``cooltip-17g-3cm``).
    description : str
        One line for listings.
    kind : str
        ``"straight"`` (one needle), ``"cluster"`` (several parallel needles driven as one
        electrode), ``"multitine"`` (a cannula with deployable curved tines) or ``"bipolar"``.
    shaft_diameter_mm : float
        Outer diameter of the needle / cannula (mm), from its gauge.
    active_length_mm : float
        Exposed (active) metal length of each needle (mm).  For a one-shaft bipolar probe: the
        whole active part, both electrodes and the insulator between them.  For multi-tine probes:
        the exposed cannula tip (often 0: only the tines are active).
    cooled : bool
        Internally cooled (perfused with chilled saline).
    coolant_temperature_c : float
        Temperature (degC) at which a cooled electrode's metal is held.
    needle_count : int
        Needles of a cluster (3 for the Cool-tip cluster) or of a bipolar pair (2); 1 otherwise.
    needle_spacing_mm : float
        Distance (mm) between neighbouring needle axes (cluster: side of the triangle; bipolar
        two-needles: distance between the two needles).
    tine_count : int
        Number of tines of a multi-tine probe.
    max_deployment_diameter_mm : float
        Largest diameter (mm) the tines can open to.
    tine_diameter_mm : float
        Diameter (mm) of one tine wire.
    tine_arc_deg : float
        Angle (deg) through which a fully deployed tine curves away from the shaft direction:
        ~160 for an umbrella whose tines curve back (LeVeen), ~100 for a forward array (StarBurst).
    central_tine : bool
        Whether one additional straight tine continues along the shaft axis.
    tine_tip_thermocouples : int
        Number of tines carrying a thermocouple at their tip (0: none).
    bipolar_layout : str
        ``"two-needles"`` or ``"one-shaft"`` for bipolar probes, empty otherwise.
    insulator_gap_mm : float
        Length (mm) of the insulator between the two electrodes of a one-shaft bipolar probe.
    shaft_length_mm : float
        Length (mm) of the insulated shaft behind the active part (rasterised up to the grid's edge).
    generator : dict
        Default generator protocol, keys as the case file's ``[generator]`` table.
    source : str
        Manufacturer document or paper the geometry and protocol come from, and how sure they are.

    Examples
    --------
    >>> model = get_probe_model("cooltip-17g-3cm")
    >>> model.kind, model.active_length_mm, model.generator["mode"]
    ('straight', 30.0, 'impedance')
    """

    name: str
    description: str
    kind: str
    shaft_diameter_mm: float
    active_length_mm: float
    cooled: bool = False
    coolant_temperature_c: float = 20.0
    needle_count: int = 1
    needle_spacing_mm: float = 0.0
    tine_count: int = 0
    max_deployment_diameter_mm: float = 0.0
    tine_diameter_mm: float = 0.0
    tine_arc_deg: float = 0.0
    central_tine: bool = False
    tine_tip_thermocouples: int = 0
    bipolar_layout: str = ""
    insulator_gap_mm: float = 0.0
    shaft_length_mm: float = 150.0
    generator: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        _validate_model(self)

    @property
    def shaft_radius_mm(self) -> float:
        """Outer radius (mm) of the needle / cannula."""
        return self.shaft_diameter_mm / 2.0

    @property
    def electrode_count(self) -> int:
        """Independently driven electrodes: 2 for bipolar probes, 1 otherwise."""
        return 2 if self.kind == "bipolar" else 1


def _fail(name: str, message: str) -> NoReturn:
    raise ProbeError(f"probe model {name!r}: {message}")


def _positive(name: str, field_name: str, value: object, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(name, f"{field_name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        relation = "non-negative" if allow_zero else "positive"
        _fail(name, f"{field_name} must be {relation}, got {value!r}")


def _validate_model(model: ProbeModel) -> None:
    name: object = model.name  # checked at run time: the model may come from a TOML file
    if not isinstance(name, str) or not name:
        raise ProbeError(f"probe model name must be a non-empty string, got {name!r}")
    if model.kind not in PROBE_KINDS:
        _fail(name, f"kind must be one of {', '.join(PROBE_KINDS)}, got {model.kind!r}")
    _positive(name, "shaft_diameter_mm", model.shaft_diameter_mm)
    _positive(name, "active_length_mm", model.active_length_mm, allow_zero=model.kind == "multitine")
    _positive(name, "needle_spacing_mm", model.needle_spacing_mm, allow_zero=True)
    _positive(name, "shaft_length_mm", model.shaft_length_mm, allow_zero=True)
    if not math.isfinite(model.coolant_temperature_c):
        _fail(name, f"coolant_temperature_c must be finite, got {model.coolant_temperature_c!r}")
    for count_name in ("needle_count", "tine_count", "tine_tip_thermocouples"):
        value = getattr(model, count_name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            _fail(name, f"{count_name} must be a non-negative integer, got {value!r}")
    if model.kind == "cluster":
        if model.needle_count < 2:
            _fail(name, f"a cluster needs needle_count >= 2, got {model.needle_count}")
        if model.needle_spacing_mm <= model.shaft_diameter_mm:
            _fail(name, "needle_spacing_mm must exceed shaft_diameter_mm (the needles would touch)")
    elif model.kind == "multitine":
        if model.tine_count < 1:
            _fail(name, "a multi-tine probe needs tine_count >= 1")
        _positive(name, "max_deployment_diameter_mm", model.max_deployment_diameter_mm)
        _positive(name, "tine_diameter_mm", model.tine_diameter_mm)
        _positive(name, "tine_arc_deg", model.tine_arc_deg)
        if model.tine_arc_deg > 180.0:
            _fail(name, f"tine_arc_deg must not exceed 180, got {model.tine_arc_deg}")
        if model.tine_tip_thermocouples > model.tine_count + int(model.central_tine):
            _fail(name, "tine_tip_thermocouples exceeds the number of tines")
    elif model.kind == "bipolar":
        if model.bipolar_layout not in BIPOLAR_LAYOUTS:
            _fail(name, f"bipolar_layout must be one of {', '.join(BIPOLAR_LAYOUTS)}, got {model.bipolar_layout!r}")
        if model.bipolar_layout == "two-needles":
            if model.needle_count != 2:
                _fail(name, f"a two-needle bipolar probe has needle_count = 2, got {model.needle_count}")
            if model.needle_spacing_mm <= model.shaft_diameter_mm:
                _fail(name, "needle_spacing_mm must exceed shaft_diameter_mm (the needles would touch)")
        else:
            _positive(name, "insulator_gap_mm", model.insulator_gap_mm)
            if model.insulator_gap_mm >= model.active_length_mm:
                _fail(name, "insulator_gap_mm must be shorter than active_length_mm")
    elif model.needle_count != 1:
        _fail(name, f"a straight probe has needle_count = 1, got {model.needle_count}")
    if model.kind != "bipolar" and model.bipolar_layout:
        _fail(name, "bipolar_layout is only for kind = 'bipolar'")
    _validate_generator(name, model.generator)


def _validate_generator(name: str, generator: dict[str, Any]) -> None:
    if not isinstance(generator, dict):
        _fail(name, "[generator] must be a table")
    if not generator:
        return
    modes = generator_modes()
    if generator.get("mode") not in modes:
        _fail(name, f"[generator] mode must be one of {', '.join(modes)}, got {generator.get('mode')!r}")
    valid = COMMON_GENERATOR_KEYS + generator_keys(generator["mode"])
    unknown = sorted(set(generator) - set(valid))
    if unknown:
        _fail(name, f"unknown [generator] key {unknown[0]!r}; valid keys: {', '.join(valid)}")
    for key, value in generator.items():
        if key in ("mode", "probe_schedule"):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            _fail(name, f"[generator] {key} must be a non-negative number, got {value!r}")


_FIELD_NAMES = tuple(f.name for f in fields(ProbeModel))


def probe_model_from_dict(table: dict[str, Any], origin: str) -> ProbeModel:
    """Build a :class:`ProbeModel` from a parsed TOML table.

    Parameters
    ----------
    table : dict
        Top-level keys are :class:`ProbeModel` fields; ``[generator]`` a sub-table.
    origin : str
        Where the table came from (a file path), named in error messages.

    Raises
    ------
    ProbeError
        On unknown or missing keys and invalid values.
    """
    unknown = sorted(set(table) - set(_FIELD_NAMES))
    if unknown:
        raise ProbeError(f"{origin}: unknown probe key {unknown[0]!r}; valid keys: {', '.join(_FIELD_NAMES)}")
    missing = [key for key in ("name", "kind", "shaft_diameter_mm", "active_length_mm") if key not in table]
    if missing:
        raise ProbeError(f"{origin}: missing probe key {missing[0]!r}")
    values = dict(table)
    values.setdefault("description", "")
    values["generator"] = dict(values.get("generator", {}))
    for key in ("shaft_diameter_mm", "active_length_mm"):
        if isinstance(values[key], int) and not isinstance(values[key], bool):
            values[key] = float(values[key])
    try:
        return ProbeModel(**values)
    except ProbeError as error:
        raise ProbeError(f"{origin}: {error}") from None
    except TypeError as error:  # a wrongly typed value the dataclass cannot take
        raise ProbeError(f"{origin}: {error}") from None


def load_probe_file(path: str | Path) -> ProbeModel:
    """Read one probe TOML file (catalog entry or a user's own probe).

    Raises
    ------
    ProbeError
        If the file is missing, not valid TOML, or not a valid probe.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle)
    except FileNotFoundError:
        raise ProbeError(f"probe file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ProbeError(f"{path}: not valid TOML ({error})") from None
    return probe_model_from_dict(table, str(path))


#: Environment variable naming extra catalog folders (path-separator separated): a new probe
#: model is one TOML file in such a folder, listed and selectable by name like the built-in ones.
PROBE_PATH_VARIABLE = "RFASIM_PROBE_PATH"


def _catalog_folders() -> list[Traversable]:
    folders: list[Traversable] = [resources.files("rfasim") / "data" / "probes"]
    for item in os.environ.get(PROBE_PATH_VARIABLE, "").split(os.pathsep):
        if not item.strip():
            continue
        if not Path(item).is_dir():
            raise ProbeError(f"{PROBE_PATH_VARIABLE}: {item!r} is not a folder")
        folders.append(Path(item))
    return folders


@lru_cache(maxsize=4)
def _catalog_from(probe_path: str) -> dict[str, ProbeModel]:
    del probe_path  # the cache key: the catalog is re-read when RFASIM_PROBE_PATH changes
    models: dict[str, ProbeModel] = {}
    for folder in _catalog_folders():
        for entry in sorted(folder.iterdir(), key=lambda item: item.name):
            if not entry.name.endswith(".toml"):
                continue
            origin = f"catalog file {entry}"
            try:
                with entry.open("rb") as handle:
                    table = tomllib.load(handle)
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
                raise ProbeError(f"{origin}: not valid TOML ({error})") from None
            model = probe_model_from_dict(table, origin)
            if model.name in models:
                raise ProbeError(f"{origin}: duplicate probe name {model.name!r}")
            models[model.name] = model
    return models


def _catalog() -> dict[str, ProbeModel]:
    return _catalog_from(os.environ.get(PROBE_PATH_VARIABLE, ""))


def load_catalog() -> dict[str, ProbeModel]:
    """All catalog probe models, keyed by name (a fresh dict; the models are immutable).

    Examples
    --------
    >>> "cooltip-17g-3cm" in load_catalog()
    True
    """
    return dict(_catalog())


def get_probe_model(name_or_path: str | Path | ProbeModel) -> ProbeModel:
    """A probe model by catalog name, or from a user's probe TOML file.

    Parameters
    ----------
    name_or_path : str, Path or ProbeModel
        A catalog name, or a path to a ``.toml`` file (anything ending in ``.toml`` or holding a
        path separator is read as a path).  A :class:`ProbeModel` is returned as is.

    Raises
    ------
    ProbeError
        Unknown name (the message lists the valid names), or a bad file.
    """
    if isinstance(name_or_path, ProbeModel):
        return name_or_path
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text or "\\" in text:
        return load_probe_file(text)
    catalog = _catalog()
    if text not in catalog:
        raise ProbeError(f"unknown probe model {text!r}; valid names: {', '.join(sorted(catalog))}")
    return catalog[text]


def catalog_table() -> str:
    """The catalog as text, one line per probe (what ``rfasim probes`` prints).

    Examples
    --------
    >>> print(catalog_table().splitlines()[0])  # doctest: +ELLIPSIS
    bipolar-pair-17g ...
    """
    lines = []
    catalog = _catalog()
    width = max(len(name) for name in catalog)
    for name in sorted(catalog):
        model = catalog[name]
        generator = model.generator
        protocol = f"{generator.get('mode', '-')} {generator.get('power_w', 0):g} W" if generator else "-"
        geometry = f"{model.shaft_diameter_mm:.2f} mm, active {model.active_length_mm:g} mm"
        if model.kind == "multitine":
            geometry = f"{model.tine_count} tines to {model.max_deployment_diameter_mm:g} mm"
        elif model.kind == "cluster":
            geometry += f" x{model.needle_count} @ {model.needle_spacing_mm:g} mm"
        cooling = f", cooled {model.coolant_temperature_c:g} C" if model.cooled else ""
        lines.append(f"{name:<{width}}  {model.kind:<9}  {geometry}{cooling}; {protocol}; {model.description}")
    return "\n".join(lines)
