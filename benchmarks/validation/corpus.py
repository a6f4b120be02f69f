"""The validation corpus: published experiments recorded as data (``experiments/*.toml``).

One TOML file per experiment.  Each file holds what the paper did (device, time, tissue, spread
of the measurements), where every number comes from (citation, link, the quoted sentence or
table), and, under ``[assumptions]``, every field the source we could read does not state.
How rfasim reproduces it is written with the case file's own vocabulary: ``[generator]`` keys
are merged over the catalog probe's protocol and built by :func:`rfasim.case.build_generator`,
``[tissue]`` is a case file's ``[tissue]`` table (:func:`rfasim.case.build_tissue_model`).

This module only reads and checks the files; :mod:`harness` runs them.

Examples
--------
>>> corpus = load_corpus()
>>> corpus["lee2009-cooled-2cm-ex-vivo"].measured["short_axis_mm"].value
26.2
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rfasim.case import PROBE_SCHEDULES, build_tissue_model, read_toml
from rfasim.errors import InputError
from rfasim.generators import COMMON_GENERATOR_KEYS, generator_keys, generator_modes
from rfasim.probes import get_probe_model

HERE = Path(__file__).resolve().parent
#: Folder of the published experiments.
EXPERIMENTS_DIR = HERE / "experiments"
#: Folder of configurations without measurements (grid convergence only).
CONFIGURATIONS_DIR = HERE / "configurations"

#: Measured quantities an experiment may report, with their units.
QUANTITIES: dict[str, str] = {
    "long_axis_mm": "mm",
    "short_axis_mm": "mm",
    "volume_ml": "mL",
    "energy_j": "J",
}
KINDS = ("zone", "heat-sink", "configuration")
SETTINGS = ("ex vivo", "in vivo", "perfused ex vivo")
CATEGORIES = (
    "single cooled needle", "cluster", "multi-tine", "bipolar", "multi-probe", "multi-probe switching",
    "perfused organ", "heat sink",
)
#: How a spread was reported: standard deviation, SD derived from a coefficient of variation,
#: standard error, a range (value is half its width), or "±" without saying which.
SPREAD_KINDS = ("sd", "sd-from-cv", "sem", "range", "unspecified")

_TOP_KEYS = (
    "name", "kind", "category", "setting", "species", "samples", "samples_quote", "protocol_fully_stated",
    "compare_with", "summary", "source", "device", "probes", "generator", "tissue", "domain", "measured",
    "vessels", "assumptions",
)
_SOURCE_KEYS = ("citation", "doi", "url", "read", "quote")
_DEVICE_KEYS = ("description", "probe", "active_length_mm", "active_length_quote", "duration_s", "duration_quote")
_PROBE_KEYS = ("model", "center_mm", "direction", "deployment_diameter_mm", "rotation_deg")
_MEASUREMENT_KEYS = ("value", "quote", "spread", "spread_kind", "spread_quote", "derivation")
_TEMPERATURE_KEYS = ("position_mm", "value_c", "spread_c", "time", "quote")
_VESSEL_KEYS = ("diameter_mm", "wall_distance_mm", "expect_viable_cuff", "quote")


class CorpusError(InputError):
    """An experiment file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Source:
    """Where the numbers of an experiment come from.

    Attributes
    ----------
    citation : str
        Authors, title, journal, year (as far as the page we read shows them).
    url : str
        The page we read.
    read : str
        What we could read there (abstract, table, full text).
    quote : str
        The sentences or table cells the numbers are taken from.
    doi : str or None
    """

    citation: str
    url: str
    read: str
    quote: str
    doi: str | None = None

    @property
    def link(self) -> str:
        """A DOI link when there is a DOI, otherwise the page read."""
        return f"https://doi.org/{self.doi}" if self.doi else self.url


@dataclass(frozen=True)
class Measurement:
    """One measured mean with its spread.

    Attributes
    ----------
    quantity : str
        Key of :data:`QUANTITIES`.
    value : float
        The mean (unit of the quantity).
    quote : str
        The text it was read from.
    spread : float or None
        One standard deviation (or what ``spread_kind`` says), same unit.
    spread_kind : str or None
        Key of :data:`SPREAD_KINDS`.
    spread_quote : str or None
    derivation : str or None
        How the value was derived from the quoted text (unit conversion, regression line).
    """

    quantity: str
    value: float
    quote: str
    spread: float | None = None
    spread_kind: str | None = None
    spread_quote: str | None = None
    derivation: str | None = None

    @property
    def relative_spread(self) -> float | None:
        """Spread / value, or None without a spread."""
        return None if self.spread is None else self.spread / self.value


@dataclass(frozen=True)
class TemperatureReading:
    """A thermocouple reading: temperature at a point (mm from the block centre) at a time."""

    position_mm: tuple[float, float, float]
    value_c: float
    quote: str
    spread_c: float | None = None
    time: str = "end"


@dataclass(frozen=True)
class ProbeEntry:
    """A catalog probe placed with the centre of its active part at ``center_mm``."""

    model: str
    center_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, float, float] = (0.0, 0.0, -1.0)
    deployment_diameter_mm: float | None = None
    rotation_deg: float = 0.0


@dataclass(frozen=True)
class VesselCase:
    """One vessel of a heat-sink study and the outcome the paper reports for its calibre."""

    diameter_mm: float
    wall_distance_mm: float
    expect_viable_cuff: bool
    quote: str


@dataclass(frozen=True)
class Experiment:
    """One published experiment (or a configuration without measurements).

    Attributes
    ----------
    name : str
        File stem and key of :func:`load_corpus`.
    kind : str
        ``"zone"`` (zone sizes), ``"heat-sink"`` (vessel study) or ``"configuration"``.
    category, setting, species, summary : str
    protocol_fully_stated : bool
        Whether device, time and tissue are all stated in the source we read; the agreement
        targets of issue 12 apply to these only.
    source : Source or None
    device : dict
        Device description, the catalog ``probe`` used, quoted active length and duration.
    probes : tuple of ProbeEntry
        Placements (default: the device probe centred on the block).
    generator_overrides : dict
        Case-file ``[generator]`` keys merged over the catalog protocol.
    tissue_table : dict
        Case-file ``[tissue]`` table.
    extent_mm : float
        Edge of the cubic liver block (mm).
    measured : dict of str to Measurement
    temperatures : tuple of TemperatureReading
    vessels : tuple of VesselCase
    assumptions : dict of str to str
    samples : int or None
    compare_with : str or None
        A companion experiment (ex vivo for an in vivo one, unperfused for a perfused one):
        the predicted and measured size ratios are compared.
    path : Path
    sha256 : str
        Hash of the file's bytes (run caches key on it).
    """

    name: str
    kind: str
    category: str
    setting: str
    species: str
    summary: str
    protocol_fully_stated: bool
    source: Source | None
    device: dict[str, Any]
    probes: tuple[ProbeEntry, ...]
    generator_overrides: dict[str, Any]
    tissue_table: dict[str, Any]
    extent_mm: float
    measured: dict[str, Measurement] = field(default_factory=dict)
    temperatures: tuple[TemperatureReading, ...] = ()
    vessels: tuple[VesselCase, ...] = ()
    assumptions: dict[str, str] = field(default_factory=dict)
    samples: int | None = None
    compare_with: str | None = None
    path: Path = Path()
    sha256: str = ""

    @property
    def probe(self) -> str:
        """Catalog name of the (first) probe."""
        return self.probes[0].model

    def generator_table(self) -> dict[str, Any]:
        """The ``[generator]`` table of the run: the catalog protocol with the overrides."""
        table = dict(get_probe_model(self.probe).generator)
        if "mode" in self.generator_overrides and self.generator_overrides["mode"] != table.get("mode"):
            table = {}  # another mode: the catalog's mode-specific keys do not apply
        table.update(self.generator_overrides)
        return table


def _fail(path: Path, where: str, message: str) -> CorpusError:
    return CorpusError(f"{path}: {where}: {message}")


def _check_keys(table: Any, allowed: tuple[str, ...], path: Path, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise _fail(path, where, f"expected a table, got {type(table).__name__}")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise _fail(path, f"{where}{unknown[0]}", f"unknown key (valid: {', '.join(allowed)})")
    return table


def _text(table: dict[str, Any], key: str, path: Path, where: str, required: bool = True) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise _fail(path, f"{where}{key}", "missing")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, f"{where}{key}", f"expected non-empty text, got {value!r}")
    return value


def _number(table: dict[str, Any], key: str, path: Path, where: str, *, required: bool = True,
            positive: bool = True) -> float | None:
    value = table.get(key)
    if value is None:
        if required:
            raise _fail(path, f"{where}{key}", "missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(path, f"{where}{key}", f"expected a finite number, got {value!r}")
    if positive and value <= 0:
        raise _fail(path, f"{where}{key}", f"must be positive, got {value!r}")
    return float(value)


def _point(value: Any, path: Path, where: str) -> tuple[float, float, float]:
    if (not isinstance(value, list) or len(value) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise _fail(path, where, f"expected three finite numbers (mm), got {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))


def _choice(table: dict[str, Any], key: str, choices: tuple[str, ...], path: Path, where: str = "") -> str:
    value = _text(table, key, path, where)
    if value not in choices:
        raise _fail(path, f"{where}{key}", f"unknown {value!r} (valid: {', '.join(choices)})")
    return value


def _source(data: dict[str, Any], path: Path) -> Source:
    table = _check_keys(data.get("source"), _SOURCE_KEYS, path, "[source] ")
    url = _text(table, "url", path, "[source] ")
    if not url.startswith(("http://", "https://")):
        raise _fail(path, "[source] url", f"expected an http(s) link, got {url!r}")
    doi = _text(table, "doi", path, "[source] ", required=False)
    if doi is not None and not doi.startswith("10."):
        raise _fail(path, "[source] doi", f"expected a DOI starting with '10.', got {doi!r}")
    return Source(
        citation=_text(table, "citation", path, "[source] "), url=url,
        read=_text(table, "read", path, "[source] "), quote=_text(table, "quote", path, "[source] "), doi=doi,
    )


def _measurement(quantity: str, table: Any, path: Path) -> Measurement:
    where = f"[measured.{quantity}] "
    table = _check_keys(table, _MEASUREMENT_KEYS, path, where)
    spread = _number(table, "spread", path, where, required=False)
    kind = None
    if spread is not None:
        kind = _choice(table, "spread_kind", SPREAD_KINDS, path, where)
        _text(table, "spread_quote", path, where)
    return Measurement(
        quantity=quantity, value=_number(table, "value", path, where), quote=_text(table, "quote", path, where),
        spread=spread, spread_kind=kind, spread_quote=table.get("spread_quote"),
        derivation=_text(table, "derivation", path, where, required=False),
    )


def _measured(data: dict[str, Any], path: Path) -> tuple[dict[str, Measurement], tuple[TemperatureReading, ...]]:
    table = data.get("measured", {})
    _check_keys(table, (*QUANTITIES, "temperatures"), path, "[measured] ")
    measured = {q: _measurement(q, table[q], path) for q in QUANTITIES if q in table}
    readings = []
    for number, raw in enumerate(table.get("temperatures", []), start=1):
        where = f"[[measured.temperatures]] #{number} "
        entry = _check_keys(raw, _TEMPERATURE_KEYS, path, where)
        time = entry.get("time", "end")
        if time != "end":
            raise _fail(path, f"{where}time", f"only 'end' is supported, got {time!r}")
        readings.append(TemperatureReading(
            position_mm=_point(entry.get("position_mm"), path, f"{where}position_mm"),
            value_c=_number(entry, "value_c", path, where), quote=_text(entry, "quote", path, where),
            spread_c=_number(entry, "spread_c", path, where, required=False), time=time,
        ))
    return measured, tuple(readings)


def _probes(data: dict[str, Any], device: dict[str, Any], path: Path) -> tuple[ProbeEntry, ...]:
    entries = data.get("probes")
    if entries is None:
        return (ProbeEntry(model=device["probe"]),)
    if not isinstance(entries, list) or not entries:
        raise _fail(path, "[[probes]]", "expected a non-empty array of tables")
    probes = []
    for number, raw in enumerate(entries, start=1):
        where = f"[[probes]] #{number} "
        entry = _check_keys(raw, _PROBE_KEYS, path, where)
        probes.append(ProbeEntry(
            model=_text(entry, "model", path, where),
            center_mm=_point(entry.get("center_mm", [0.0, 0.0, 0.0]), path, f"{where}center_mm"),
            direction=_point(entry.get("direction", [0.0, 0.0, -1.0]), path, f"{where}direction"),
            deployment_diameter_mm=_number(entry, "deployment_diameter_mm", path, where, required=False),
            rotation_deg=_number(entry, "rotation_deg", path, where, required=False, positive=False) or 0.0,
        ))
    return tuple(probes)


def _check_generator(experiment: Experiment, path: Path) -> None:
    table = experiment.generator_table()
    mode = table.get("mode")
    modes = generator_modes()
    if mode not in modes:
        raise _fail(path, "[generator] mode", f"unknown {mode!r} (valid: {', '.join(sorted(modes))})")
    allowed = COMMON_GENERATOR_KEYS + generator_keys(mode)
    for key in experiment.generator_overrides:
        if key not in allowed:
            raise _fail(path, f"[generator] {key}", f"not a key of mode {mode!r} (valid: {', '.join(allowed)})")
    schedule = table.get("probe_schedule", "simultaneous")
    if schedule not in PROBE_SCHEDULES:
        raise _fail(path, "[generator] probe_schedule", f"unknown {schedule!r} (valid: {', '.join(PROBE_SCHEDULES)})")
    if schedule != "simultaneous" and len(experiment.probes) < 2:
        raise _fail(path, "[generator] probe_schedule", f"{schedule!r} needs several [[probes]]")


def load_experiment(path: str | Path) -> Experiment:
    """Read and check one experiment (or configuration) file.

    Raises
    ------
    CorpusError
        Naming the file and the field at fault.
    """
    path = Path(path)
    data = read_toml(path, "experiment file")
    _check_keys(data, _TOP_KEYS, path, "")
    name = _text(data, "name", path, "")
    if name != path.stem:
        raise _fail(path, "name", f"{name!r} differs from the file name {path.stem!r}")
    kind = _choice(data, "kind", KINDS, path)
    setting = _choice(data, "setting", SETTINGS, path)
    category = _choice(data, "category", CATEGORIES, path)
    device = _check_keys(data.get("device"), _DEVICE_KEYS, path, "[device] ")
    _text(device, "description", path, "[device] ")
    try:
        get_probe_model(_text(device, "probe", path, "[device] "))
    except InputError as error:
        raise _fail(path, "[device] probe", str(error)) from None
    measured, temperatures = _measured(data, path)
    vessels = []
    for number, raw in enumerate(data.get("vessels", []), start=1):
        where = f"[[vessels]] #{number} "
        entry = _check_keys(raw, _VESSEL_KEYS, path, where)
        expect = entry.get("expect_viable_cuff")
        if not isinstance(expect, bool):
            raise _fail(path, f"{where}expect_viable_cuff", f"expected true or false, got {expect!r}")
        vessels.append(VesselCase(
            diameter_mm=_number(entry, "diameter_mm", path, where),
            wall_distance_mm=_number(entry, "wall_distance_mm", path, where),
            expect_viable_cuff=expect, quote=_text(entry, "quote", path, where),
        ))
    if kind == "zone" and not measured:
        raise _fail(path, "[measured]", "a zone experiment needs at least one measured quantity")
    if kind == "heat-sink" and not vessels:
        raise _fail(path, "[[vessels]]", "a heat-sink experiment needs at least one vessel")
    assumptions = _check_keys(data.get("assumptions", {}), tuple(data.get("assumptions", {})), path, "[assumptions] ")
    for key in assumptions:
        _text(assumptions, key, path, "[assumptions] ")
    fully = data.get("protocol_fully_stated", False)
    if not isinstance(fully, bool):
        raise _fail(path, "protocol_fully_stated", f"expected true or false, got {fully!r}")
    domain = _check_keys(data.get("domain", {}), ("extent_mm",), path, "[domain] ")
    samples = data.get("samples")
    if samples is not None and (not isinstance(samples, int) or isinstance(samples, bool) or samples <= 0):
        raise _fail(path, "samples", f"expected a positive integer, got {samples!r}")
    tissue = _check_keys(data.get("tissue", {}), tuple(data.get("tissue", {})), path, "[tissue] ")
    try:
        build_tissue_model(tissue, f"{path} [tissue]")
    except InputError as error:
        raise CorpusError(str(error)) from None
    experiment = Experiment(
        name=name, kind=kind, category=category, setting=setting,
        species=_text(data, "species", path, "", required=kind != "configuration") or "",
        summary=_text(data, "summary", path, ""), protocol_fully_stated=fully,
        source=None if kind == "configuration" else _source(data, path),
        device=dict(device), probes=_probes(data, device, path),
        generator_overrides=_check_keys(data.get("generator", {}), tuple(data.get("generator", {})), path,
                                        "[generator] "),
        tissue_table=dict(tissue), extent_mm=_number(domain, "extent_mm", path, "[domain] ", required=False) or 80.0,
        measured=measured, temperatures=temperatures, vessels=tuple(vessels), assumptions=dict(assumptions),
        samples=samples, compare_with=_text(data, "compare_with", path, "", required=False),
        path=path, sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )
    try:
        for probe in experiment.probes:
            get_probe_model(probe.model)
    except InputError as error:
        raise _fail(path, "[[probes]] model", str(error)) from None
    _check_generator(experiment, path)
    return experiment


def load_corpus(folder: str | Path = EXPERIMENTS_DIR) -> dict[str, Experiment]:
    """Every experiment file of a folder, by name (sorted).

    Raises
    ------
    CorpusError
        A malformed file, or a ``compare_with`` that names no experiment of the folder.
    """
    folder = Path(folder)
    experiments = {path.stem: load_experiment(path) for path in sorted(folder.glob("*.toml"))}
    if not experiments:
        raise CorpusError(f"{folder}: no experiment files (*.toml)")
    for experiment in experiments.values():
        if experiment.compare_with is not None and experiment.compare_with not in experiments:
            raise _fail(experiment.path, "compare_with", f"no experiment {experiment.compare_with!r} in {folder}")
    return experiments


def load_configuration(name: str) -> Experiment:
    """A configuration of :data:`CONFIGURATIONS_DIR` (e.g. ``"standard-case"``)."""
    return load_experiment(CONFIGURATIONS_DIR / f"{name}.toml")
