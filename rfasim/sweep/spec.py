"""The sweep file (``sweep.toml``): parsing, validation, designs and per-run cases.

The format is documented in ``docs/sweep-file.md``.  Every error is a
:class:`~rfasim.errors.CaseFileError` (exit code 2) naming the file, the field and the value at
fault.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from rfasim.case import (
    OPTIONS_KEYS,
    SECTIONS,
    TISSUE_CLASS_TABLES,
    TISSUE_GLOBAL_KEYS,
    parse_case,
    read_toml,
)
from rfasim.errors import CaseFileError
from rfasim.generators import all_generator_keys
from rfasim.tissue import TissueProperties

#: Sampling designs of a sweep.
DESIGNS = ("list", "grid", "random", "lhs", "oat", "morris")
#: Designs that sample ``range`` parameters (``values`` parameters are sampled as categories).
SAMPLED_DESIGNS = ("random", "lhs", "morris")
#: The special probe parameter: an offset added to both the tip and the entry point.
TIP_OFFSET = "tip_offset_mm"

SWEEP_KEYS = (
    "case", "design", "samples", "seed", "save_plans", "force", "trajectories", "levels",
)
PARAMETER_KEYS = ("path", "values", "range", "steps", "scale", "baseline")
PROBE_KEYS = ("model", "tip_mm", "entry_mm", "direction", "deployment_diameter_mm", "rotation_deg", TIP_OFFSET)


def valid_parameter_paths(probe_count: int = 1) -> list[str]:
    """Every parameter path a sweep may vary (``<n>`` stands for a probe index).

    Parameters
    ----------
    probe_count : int
        Number of probes in the base case; the probe paths are listed for each.

    Returns
    -------
    list of str
        Dotted paths into the case table, e.g. ``generator.power_w``.
    """
    paths = [f"generator.{key}" for key in sorted(all_generator_keys())]
    for index in range(max(probe_count, 1)):
        paths += [f"probes.{index}.{key}" for key in PROBE_KEYS]
    paths += [f"tissue.{key}" for key in TISSUE_GLOBAL_KEYS]
    property_names = [f.name for f in fields(TissueProperties)]
    paths += [f"tissue.{name}.{key}" for name in TISSUE_CLASS_TABLES for key in property_names]
    paths += ["grid.spacing_mm", "grid.margin_mm", "zone.criterion", "zone.threshold_c", "margin.target_mm"]
    paths += ["target.tumor_id", "target.point_mm", "images.labels", "images.ct"]
    paths += [f"options.{key}" for key in OPTIONS_KEYS]
    return paths


def check_parameter_path(path: str, probe_count: int, where: str) -> None:
    """Raise a :class:`CaseFileError` listing valid paths unless ``path`` addresses a case value.

    Parameters
    ----------
    path : str
        Dotted path, e.g. ``tissue.liver.perfusion_rate_per_s``.
    probe_count : int
        Number of probes in the base case (``probes.<n>`` must exist).
    where : str
        Location for the message (file and field).
    """
    valid = valid_parameter_paths(probe_count)
    if path in valid:
        return
    parts = path.split(".")
    if parts[0] == "probes" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) >= probe_count:
        raise CaseFileError(
            f"{where}: parameter path {path!r} addresses probe {parts[1]} but the base case has "
            f"{probe_count} probe(s) (indices from 0)"
        )
    section = parts[0]
    if section not in SECTIONS or section == "labels":
        same = list(valid)
        sections = sorted({p.split(".")[0] for p in valid})
        raise CaseFileError(
            f"{where}: unknown parameter path {path!r}: section {section!r} cannot be varied "
            f"(valid sections: {', '.join(sections)}){_suggest(path, same)}"
        )
    prefix = ".".join(parts[:2]) + "." if section in ("tissue", "probes") and len(parts) == 3 else section + "."
    same = [p for p in valid if p.startswith(prefix)] or [p for p in valid if p.startswith(section + ".")]
    raise CaseFileError(
        f"{where}: unknown parameter path {path!r}{_suggest(path, valid)} (valid: {', '.join(same)})"
    )


def _suggest(path: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(path, valid, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class Parameter:
    """One varied case value.

    Attributes
    ----------
    path : str
        Dotted path into the case table (see :func:`valid_parameter_paths`).
    values : tuple or None
        Explicit values (numbers, strings or ``[x, y, z]`` lists), or None for a range.
    range : tuple of float or None
        ``(low, high)`` in the parameter's own unit, for sampled designs (or a grid with ``steps``).
    steps : int or None
        Number of evenly spaced values over ``range`` for ``grid`` and ``oat`` designs.
    scale : str
        ``"linear"`` or ``"log"`` (samples and steps evenly spaced in the logarithm).
    baseline : object or None
        Value of the parameter while others vary (``oat`` design); default: the base case value if
        it is among the candidates, else the middle value or the middle of the range.
    """

    path: str
    values: tuple[Any, ...] | None = None
    range: tuple[float, float] | None = None
    steps: int | None = None
    scale: str = "linear"
    baseline: Any = None

    def grid_values(self) -> list[Any]:
        """The discrete values of a ``values`` list, or ``steps`` values over the range.

        Returns
        -------
        list
            Values in the parameter's unit (linear or geometric spacing, as ``scale`` says).
        """
        if self.values is not None:
            return list(self.values)
        assert self.range is not None
        low, high = self.range
        steps = self.steps or 0
        if self.scale == "log":
            return [float(v) for v in np.geomspace(low, high, steps)]
        return [float(v) for v in np.linspace(low, high, steps)]

    def from_unit(self, unit: float) -> Any:
        """The parameter value at ``unit`` in [0, 1] (a category index for ``values`` lists).

        Parameters
        ----------
        unit : float
            Position in the unit interval (dimensionless).

        Returns
        -------
        Any
            The value in the parameter's unit, or an element of ``values``.
        """
        if self.values is not None:
            index = min(int(unit * len(self.values)), len(self.values) - 1)
            return self.values[index]
        assert self.range is not None
        low, high = self.range
        if self.scale == "log":
            return float(math.exp(math.log(low) + unit * (math.log(high) - math.log(low))))
        return float(low + unit * (high - low))


@dataclass
class SweepSpec:
    """A validated sweep file.

    Attributes
    ----------
    path : Path
        The sweep file.
    case_path : Path
        The base case file (resolved).
    case_data : dict
        The base case as parsed from TOML (each run substitutes its values into a copy).
    design : str
        One of :data:`DESIGNS`.
    parameters : list of Parameter
    samples : int
        Number of samples (``random``, ``lhs``).
    seed : int
        Random seed (``random``, ``lhs``, ``morris``).
    trajectories, levels : int
        Morris design: number of trajectories and of grid levels per factor.
    save_plans : bool
        Write a plan folder per run (``plans/<run id>``).
    force : bool
        Simulate tumors that are not eligible (research).
    """

    path: Path
    case_path: Path
    case_data: dict[str, Any]
    design: str
    parameters: list[Parameter]
    samples: int = 0
    seed: int = 0
    trajectories: int = 4
    levels: int = 4
    save_plans: bool = False
    force: bool = False
    runs: list[RunSpec] = field(default_factory=list)

    @property
    def parameter_paths(self) -> list[str]:
        """The varied paths, in file order."""
        return [parameter.path for parameter in self.parameters]

    def case_fingerprint(self) -> str:
        """A hash of the base case table (a results folder belongs to one base case).

        Returns
        -------
        str
            16 hexadecimal digits of the SHA-256 of the table as sorted JSON.
        """
        text = json.dumps(_plain(self.case_data), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep.

    Attributes
    ----------
    run_id : str
        Stable hash of the varied inputs (12 hex digits).
    index : int
        Position in the design (first occurrence).
    inputs : dict
        Parameter path to value.
    case_data : dict
        The run's case table (validated by :func:`rfasim.case.parse_case`).
    """

    run_id: str
    index: int
    inputs: dict[str, Any]
    case_data: dict[str, Any]


def _plain(value: Any) -> Any:
    """JSON-friendly copy: numpy scalars to Python, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def run_id_of(inputs: dict[str, Any]) -> str:
    """Stable 12-hex-digit hash of a run's varied inputs (same inputs, same id, any machine).

    Parameters
    ----------
    inputs : dict
        Parameter path to value.

    Returns
    -------
    str
    """
    canonical = json.dumps(_plain(inputs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file, and expand its design into runs.

    Parameters
    ----------
    path : str or Path
        The ``sweep.toml``.

    Returns
    -------
    SweepSpec
        With ``runs`` filled in, each run's case already validated.

    Raises
    ------
    CaseFileError
        Naming the file, the field and the value at fault.
    """
    path = Path(path)
    return parse_sweep(read_toml(path, "sweep file"), path)


def _integer(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CaseFileError(f"{where}: expected an integer, got {value!r}")
    if value < minimum:
        raise CaseFileError(f"{where}: must be at least {minimum}, got {value!r}")
    return value


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CaseFileError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _parse_parameter(table: Any, number: int, name: str, design: str, probe_count: int) -> Parameter:
    where = f"{name} [[parameter]] #{number}"
    if not isinstance(table, dict):
        raise CaseFileError(f"{where}: expected a table")
    unknown = sorted(set(table) - set(PARAMETER_KEYS))
    if unknown:
        raise CaseFileError(f"{where}: unknown key {unknown[0]!r} (valid keys: {', '.join(PARAMETER_KEYS)})")
    path = table.get("path")
    if not isinstance(path, str) or not path:
        raise CaseFileError(f"{where}: 'path' (a dotted case path such as 'generator.power_w') is required")
    where = f"{where} ({path})"
    check_parameter_path(path, probe_count, where)
    if ("values" in table) == ("range" in table):
        raise CaseFileError(f"{where}: give exactly one of 'values' (a list) or 'range' ([low, high])")
    scale = table.get("scale", "linear")
    if scale not in ("linear", "log"):
        raise CaseFileError(f"{where} scale: unknown {scale!r} (valid: linear, log)")
    values = None
    value_range = None
    steps = None
    if "values" in table:
        raw = table["values"]
        if not isinstance(raw, list):
            raise CaseFileError(f"{where} values: expected a list, got {raw!r}")
        if not raw:
            raise CaseFileError(f"{where} values: the list is empty")
        if path.endswith(TIP_OFFSET):
            for value in raw:
                _check_offset(value, f"{where} values")
        values = tuple(raw)
        if "steps" in table:
            raise CaseFileError(f"{where} steps: only a 'range' takes steps")
    else:
        raw = table["range"]
        if not isinstance(raw, list) or len(raw) != 2:
            raise CaseFileError(f"{where} range: expected [low, high], got {raw!r}")
        low, high = (_finite(v, f"{where} range") for v in raw)
        if not high > low:
            raise CaseFileError(f"{where} range: empty range [{low:g}, {high:g}] (high must exceed low)")
        if scale == "log" and low <= 0:
            raise CaseFileError(f"{where} range: a log scale needs a positive low end, got {low:g}")
        value_range = (low, high)
        if "steps" in table:
            steps = _integer(table["steps"], f"{where} steps", 1)
        elif design in ("grid", "oat", "list"):
            raise CaseFileError(f"{where}: a range in a {design!r} design needs 'steps' (number of values)")
    return Parameter(path=path, values=values, range=value_range, steps=steps, scale=scale,
                     baseline=table.get("baseline"))


def _check_offset(value: Any, where: str) -> None:
    if isinstance(value, list):
        if len(value) != 3:
            raise CaseFileError(f"{where}: a tip offset is [dx, dy, dz] in mm or a number, got {value!r}")
        for component in value:
            _finite(component, where)
    else:
        _finite(value, where)


def parse_sweep(data: dict[str, Any], path: Path) -> SweepSpec:
    """Validate a parsed sweep table (see :func:`load_sweep`).

    Parameters
    ----------
    data : dict
        The sweep file's TOML content.
    path : Path
        The sweep file (the base case path is relative to its folder).

    Returns
    -------
    SweepSpec
    """
    name = str(path)
    unknown = sorted(set(data) - {"sweep", "parameter"})
    if unknown:
        raise CaseFileError(f"{name}: unknown table {unknown[0]!r} (valid: sweep, parameter)")
    sweep = data.get("sweep")
    if not isinstance(sweep, dict):
        raise CaseFileError(f"{name}: a [sweep] table with the base 'case' is required")
    bad = sorted(set(sweep) - set(SWEEP_KEYS))
    if bad:
        raise CaseFileError(f"{name} [sweep]: unknown key {bad[0]!r} (valid keys: {', '.join(SWEEP_KEYS)})")
    if not isinstance(sweep.get("case"), str):
        raise CaseFileError(f"{name} [sweep] case: the base case file (a path relative to the sweep file) is required")
    case_path = (path.parent / sweep["case"]).resolve()
    if not case_path.is_file():
        raise CaseFileError(f"{name} [sweep] case: base case file {case_path} not found")
    case_data = read_toml(case_path, "base case file")
    parse_case(case_data, case_path)  # the base case itself must be valid
    design = sweep.get("design", "grid")
    if design not in DESIGNS:
        raise CaseFileError(f"{name} [sweep] design: unknown {design!r} (valid: {', '.join(DESIGNS)})")
    spec = SweepSpec(path=path, case_path=case_path, case_data=case_data, design=design, parameters=[])
    for key in ("save_plans", "force"):
        value = sweep.get(key, False)
        if not isinstance(value, bool):
            raise CaseFileError(f"{name} [sweep] {key}: expected true or false, got {value!r}")
        setattr(spec, key, value)
    spec.seed = _integer(sweep.get("seed", 0), f"{name} [sweep] seed", 0)
    if design in ("random", "lhs"):
        if "samples" not in sweep:
            raise CaseFileError(f"{name} [sweep] samples: a {design!r} design needs a sample count")
        spec.samples = _integer(sweep["samples"], f"{name} [sweep] samples", 1)
    elif "samples" in sweep:
        raise CaseFileError(f"{name} [sweep] samples: only random and lhs designs take a sample count")
    if design == "morris":
        spec.trajectories = _integer(sweep.get("trajectories", 4), f"{name} [sweep] trajectories", 1)
        spec.levels = _integer(sweep.get("levels", 4), f"{name} [sweep] levels", 2)

    raw_parameters = data.get("parameter")
    if not isinstance(raw_parameters, list) or not raw_parameters:
        raise CaseFileError(f"{name}: at least one [[parameter]] (path and values or range) is required")
    probe_count = len(case_data.get("probes", []))
    seen: set[str] = set()
    for number, table in enumerate(raw_parameters, start=1):
        parameter = _parse_parameter(table, number, name, design, probe_count)
        if parameter.path in seen:
            raise CaseFileError(f"{name} [[parameter]] #{number}: path {parameter.path!r} is varied twice")
        seen.add(parameter.path)
        spec.parameters.append(parameter)
    if design == "list":
        lengths = {p.path: len(p.grid_values()) for p in spec.parameters}
        if len(set(lengths.values())) != 1:
            listed = ", ".join(f"{k}: {v}" for k, v in lengths.items())
            raise CaseFileError(f"{name}: a 'list' design pairs values run by run; the lists differ in length ({listed})")
    spec.runs = build_runs(spec)
    return spec


# ---------------------------------------------------------------------------------------------
# Designs


def design_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """The design's input points (parameter path to value), in design order, duplicates kept.

    Parameters
    ----------
    spec : SweepSpec

    Returns
    -------
    list of dict
    """
    parameters = spec.parameters
    paths = spec.parameter_paths
    if spec.design == "list":
        columns = [p.grid_values() for p in parameters]
        return [dict(zip(paths, row, strict=False)) for row in zip(*columns, strict=False)]
    if spec.design == "grid":
        columns = [p.grid_values() for p in parameters]
        return [dict(zip(paths, row, strict=False)) for row in itertools.product(*columns)]
    if spec.design == "oat":
        return [point for _, point in oat_points(spec)]
    if spec.design == "morris":
        return [point for _, _, point in morris_points(spec)]
    units = unit_samples(spec.design, len(parameters), spec.samples, spec.seed)
    return [{p.path: p.from_unit(float(u)) for p, u in zip(parameters, row, strict=False)} for row in units]


def unit_samples(design: str, dimensions: int, samples: int, seed: int) -> np.ndarray:
    """Samples in the unit hypercube: uniform ``random`` or ``lhs`` (Latin hypercube).

    Parameters
    ----------
    design : str
        ``"random"`` or ``"lhs"``.
    dimensions, samples, seed : int

    Returns
    -------
    ndarray, shape (samples, dimensions)
    """
    if design == "lhs":
        from scipy.stats import qmc

        return qmc.LatinHypercube(d=dimensions, seed=np.random.default_rng(seed)).random(samples)
    return np.random.default_rng(seed).random((samples, dimensions))


def baseline_of(spec: SweepSpec, parameter: Parameter) -> Any:
    """The value a parameter keeps while another one varies (``oat`` design).

    Parameters
    ----------
    spec : SweepSpec
        The parsed sweep.
    parameter : Parameter
        One of its parameters.

    Returns
    -------
    Any
        The parameter's ``baseline``, else the base case's value when it is one of the grid
        values, else the middle grid value.
    """
    if parameter.baseline is not None:
        return parameter.baseline
    candidates = parameter.grid_values()
    current = get_case_value(spec.case_data, parameter.path)
    if current is not None and current in candidates:
        return current
    return candidates[len(candidates) // 2]


def oat_points(spec: SweepSpec) -> list[tuple[str | None, dict[str, Any]]]:
    """One-at-a-time design: the baseline, then each parameter over its values, others at baseline.

    Parameters
    ----------
    spec : SweepSpec
        The parsed sweep.

    Returns
    -------
    list of (str or None, dict)
        The varied path (None for the baseline) and the point.
    """
    baseline = {p.path: baseline_of(spec, p) for p in spec.parameters}
    points: list[tuple[str | None, dict[str, Any]]] = [(None, dict(baseline))]
    for parameter in spec.parameters:
        for value in parameter.grid_values():
            if value == baseline[parameter.path]:
                continue
            point = dict(baseline)
            point[parameter.path] = value
            points.append((parameter.path, point))
    return points


def morris_unit_trajectories(dimensions: int, trajectories: int, levels: int, seed: int) -> np.ndarray:
    """Morris (1991) trajectories on a ``levels``-level grid of the unit hypercube.

    Each trajectory starts at a random grid point and moves one factor at a time, in random
    order, by ``delta = levels / (2 (levels - 1))`` (up when that stays inside [0, 1], else down).

    Parameters
    ----------
    dimensions : int
        Number of factors (varied parameters).
    trajectories : int
        Number of trajectories.
    levels : int
        Grid levels per factor (at least 2).
    seed : int
        Seed of the random starts and orders (:func:`numpy.random.default_rng`).

    Returns
    -------
    ndarray, shape (trajectories, dimensions + 1, dimensions)
        Points in the unit hypercube (dimensionless), in trajectory order.
    """
    rng = np.random.default_rng(seed)
    delta = levels / (2.0 * (levels - 1))
    grid = np.arange(levels) / (levels - 1)
    result = np.empty((trajectories, dimensions + 1, dimensions))
    for t in range(trajectories):
        point = rng.choice(grid, size=dimensions)
        result[t, 0] = point
        for step, factor in enumerate(rng.permutation(dimensions), start=1):
            point = point.copy()
            point[factor] = point[factor] + delta if point[factor] + delta <= 1.0 + 1e-12 else point[factor] - delta
            result[t, step] = point
    return result


def morris_points(spec: SweepSpec) -> list[tuple[int, int, dict[str, Any]]]:
    """The Morris design in parameter units: (trajectory, step, point) per run.

    Parameters
    ----------
    spec : SweepSpec
        The parsed sweep.

    Returns
    -------
    list of (int, int, dict)
        Trajectory index, step within it, and the point (parameter path to value).
    """
    units = morris_unit_trajectories(len(spec.parameters), spec.trajectories, spec.levels, spec.seed)
    points = []
    for t, trajectory in enumerate(units):
        for s, row in enumerate(trajectory):
            points.append((t, s, {p.path: p.from_unit(float(u)) for p, u in zip(spec.parameters, row, strict=False)}))
    return points


# ---------------------------------------------------------------------------------------------
# Cases


def get_case_value(case_data: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of a case table, or None where it is not set.

    Parameters
    ----------
    case_data : dict
        A parsed case table.
    path : str
        Dotted path, list items by index (``"probes.0.power_w"``).

    Returns
    -------
    Any
    """
    node: Any = case_data
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def apply_inputs(case_data: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """A copy of a case table with the run's values substituted.

    ``probes.<n>.tip_offset_mm`` moves probe ``n`` rigidly: a vector ``[dx, dy, dz]`` (mm) is added
    to ``tip_mm`` and ``entry_mm``; a number moves it along its axis (positive: deeper, from the
    entry towards the tip).  Offsets apply after the other substitutions.

    Parameters
    ----------
    case_data : dict
        Base case table (not modified).
    inputs : dict
        Parameter path to value.

    Returns
    -------
    dict
    """
    data = copy.deepcopy(case_data)
    offsets = []
    for path, given in inputs.items():
        parts = path.split(".")
        value = _plain(given)
        if parts[-1] == TIP_OFFSET:
            offsets.append((int(parts[1]), value))
            continue
        node: Any = data
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        node[parts[-1]] = value
    for index, offset in offsets:
        probe = data["probes"][index]
        tip = np.asarray(probe["tip_mm"], dtype=float)
        if isinstance(offset, list):
            shift = np.asarray(offset, dtype=float)
        else:
            if "entry_mm" in probe:
                axis = tip - np.asarray(probe["entry_mm"], dtype=float)
            else:
                axis = np.asarray(probe["direction"], dtype=float)
            length = float(np.linalg.norm(axis))
            if length == 0.0:
                raise CaseFileError(f"probes.{index}.{TIP_OFFSET}: the probe has no axis (entry equals tip)")
            shift = float(offset) * axis / length
        probe["tip_mm"] = [float(v) for v in tip + shift]
        if "entry_mm" in probe:
            probe["entry_mm"] = [float(v) for v in np.asarray(probe["entry_mm"], dtype=float) + shift]
    return data


def build_runs(spec: SweepSpec) -> list[RunSpec]:
    """The sweep's runs (duplicates of the same inputs merged), each case validated.

    Parameters
    ----------
    spec : SweepSpec
        The parsed sweep.

    Returns
    -------
    list of RunSpec
        In design order.

    Raises
    ------
    CaseFileError
        When a run's case does not validate: names the run's inputs and the case field.
    """
    runs: list[RunSpec] = []
    seen: set[str] = set()
    for index, point in enumerate(design_points(spec)):
        inputs = {path: _plain(value) for path, value in point.items()}
        run_id = run_id_of(inputs)
        if run_id in seen:
            continue
        seen.add(run_id)
        case_data = apply_inputs(spec.case_data, inputs)
        try:
            parse_case(case_data, spec.case_path)
        except CaseFileError as error:
            shown = ", ".join(f"{k} = {json.dumps(v)}" for k, v in inputs.items())
            raise CaseFileError(f"{spec.path}: run {run_id} ({shown}) makes an invalid case: {error}") from None
        runs.append(RunSpec(run_id=run_id, index=index, inputs=inputs, case_data=case_data))
    return runs
