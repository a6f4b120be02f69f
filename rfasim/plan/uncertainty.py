"""The model's out-of-sample error, stated beside a plan's zone (issue 12, item 6).

``rfasim/data/validation_errors.toml`` is written by ``benchmarks/validation/run_validation.py``
(never by hand): for each device class (the catalog probe ``kind``: ``straight``, ``cluster``,
``multitine``, ``bipolar``) the errors of rfasim's predicted Arrhenius zone against published
experiments that were not used to set the parameters the plan runs with, with the commit and
physics hash they were computed on.  A plan reads the entry of its probes' class and prefers the
in vivo experiments (a patient's liver is perfused); a class without an entry is reported as
``"not validated"`` -- nothing is extrapolated from other classes.

Examples
--------
>>> uncertainty_for_kinds(["straight"], table={}).status
'not validated'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomllib

from rfasim.plan.result import ModelUncertainty, QuantityError

#: The file the validation command writes.
VALIDATION_ERRORS_FILE = Path(__file__).resolve().parents[1] / "data" / "validation_errors.toml"
#: Quantities reported, in the order of the summary line.
QUANTITIES = ("volume_ml", "short_axis_mm", "long_axis_mm")
#: Subsets preferred for a patient, first match wins.
SUBSETS = (("in_vivo", "in vivo experiments"), ("all", "all experiments (none in vivo)"))


def load_validation_errors(path: str | Path = VALIDATION_ERRORS_FILE) -> dict[str, Any]:
    """The validation-error table, or ``{}`` when the file is absent or unreadable.

    Parameters
    ----------
    path : str or Path
        TOML file written by the validation command.

    Returns
    -------
    dict
        ``{"classes": {kind: ...}, "physics_hash": ..., ...}`` or ``{}``.
    """
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _quantity_errors(table: Mapping[str, Any]) -> dict[str, QuantityError]:
    out = {}
    for quantity in QUANTITIES:
        entry = table.get(quantity)
        if isinstance(entry, Mapping) and int(entry.get("n", 0)) > 0:
            out[quantity] = QuantityError(
                n=int(entry["n"]), median_error_pct=float(entry["median_error_pct"]),
                median_abs_error_pct=float(entry["median_abs_error_pct"]),
                max_abs_error_pct=float(entry["max_abs_error_pct"]),
            )
    return out


def uncertainty_for_kinds(kinds: Sequence[str], table: Mapping[str, Any] | None = None) -> ModelUncertainty:
    """The out-of-sample error of the plan's device class.

    Parameters
    ----------
    kinds : sequence of str
        Catalog ``kind`` of each probe of the plan.
    table : mapping, optional
        A loaded validation-error table (default: :func:`load_validation_errors`).

    Returns
    -------
    ModelUncertainty
        ``status == "not validated"`` when the probes mix classes or the class has no entry.
    """
    table = load_validation_errors() if table is None else table
    classes = sorted(set(kinds))
    device_class = classes[0] if len(classes) == 1 else "+".join(classes) or "none"
    provenance = {k: table.get(k) for k in ("commit", "physics_hash", "spacing_mm", "basis", "generated")}
    entry = table.get("classes", {}).get(device_class) if len(classes) == 1 else None
    for subset, label in SUBSETS if isinstance(entry, Mapping) else ():
        errors = _quantity_errors(entry.get(subset, {}))
        if errors:
            experiments = [str(e) for e in entry.get(subset, {}).get("experiments", [])]
            return ModelUncertainty(device_class=device_class, status="validated", subset=label, errors=errors,
                                    experiments=experiments, **provenance)
    return ModelUncertainty(device_class=device_class, status="not validated", subset=None, errors={},
                            experiments=[], **provenance)


def uncertainty_json(uncertainty: ModelUncertainty | None) -> dict[str, Any] | None:
    """The ``out_of_sample_error`` object of ``metrics.json`` (see ``docs/plan-outputs.md``)."""
    if uncertainty is None:
        return None
    errors = {q: {"n": e.n, "median_pct": _round(e.median_error_pct), "median_abs_pct": _round(e.median_abs_error_pct),
                  "max_abs_pct": _round(e.max_abs_error_pct)} for q, e in uncertainty.errors.items()}
    return {"device_class": uncertainty.device_class, "status": uncertainty.status, "subset": uncertainty.subset,
            "measured_on": "arrhenius zone", "errors": errors, "experiments": list(uncertainty.experiments),
            "basis": uncertainty.basis, "spacing_mm": uncertainty.spacing_mm, "commit": uncertainty.commit,
            "physics_hash": uncertainty.physics_hash}


def uncertainty_line(uncertainty: ModelUncertainty | None) -> str:
    """One summary line: the class's signed median error (and median absolute error) per quantity."""
    if uncertainty is None or uncertainty.status != "validated":
        name = "n/a" if uncertainty is None else uncertainty.device_class
        return f"out-of-sample error: not validated for device class {name}"
    parts = [f"{q.split('_')[0]} {e.median_error_pct:+.0f} % (|median| {e.median_abs_error_pct:.0f} %, n={e.n})"
             for q, e in uncertainty.errors.items()]
    grid = "" if uncertainty.spacing_mm is None else f", {uncertainty.spacing_mm:g} mm grid"
    return (f"out-of-sample error of the Arrhenius zone ({uncertainty.device_class}, {uncertainty.subset}{grid}): "
            + "; ".join(parts))


def _round(value: float) -> float | None:
    return round(value, 1) if math.isfinite(value) else None
