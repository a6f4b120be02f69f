"""Write ``rfasim/data/validation_errors.toml``: the out-of-sample error of each device class.

A plan states this error beside its zone (:mod:`rfasim.plan.uncertainty`).  The errors are those
of the parameters the plan runs with:

- ``basis = "defaults"``: the experiment table at the documented defaults (nothing was fitted
  to the corpus, so every experiment is out of sample);
- ``basis = "calibrated (leave-one-out)"``: when the defaults are the calibrated values, each
  experiment's verified prediction from a fit without it (:mod:`linear_calibration`).

Classes are the catalog probe ``kind`` of the experiment's probes; each class has an ``all``
subset and, where the corpus has some, an ``in_vivo`` one (a patient's liver is perfused).

Examples
--------
>>> summary = quantity_summary([10.0, -30.0, 50.0])
>>> summary["median_error_pct"], summary["median_abs_error_pct"], summary["max_abs_error_pct"]
(10.0, 30.0, 50.0)
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from corpus import Experiment

from rfasim.atomic import write_text
from rfasim.probes import get_probe_model

#: Where the plan reads it.
ERRORS_FILE = Path(__file__).resolve().parents[2] / "rfasim" / "data" / "validation_errors.toml"
QUANTITIES = ("volume_ml", "short_axis_mm", "long_axis_mm")


def device_class(experiment: Experiment) -> str:
    """Catalog ``kind`` of the experiment's probes (``"a+b"`` when they differ)."""
    return "+".join(sorted({get_probe_model(p.model).kind for p in experiment.probes}))


def quantity_summary(errors: Sequence[float]) -> dict[str, Any]:
    """Count, median signed, median absolute and largest absolute error (%) of a list."""
    magnitudes = [abs(e) for e in errors]
    return {"n": len(errors), "median_error_pct": round(statistics.median(errors), 1),
            "median_abs_error_pct": round(statistics.median(magnitudes), 1),
            "max_abs_error_pct": round(max(magnitudes), 1)}


def class_table(corpus: Mapping[str, Experiment], errors: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """``{kind: {"all": {...}, "in_vivo": {...}}}`` from per-experiment errors (%)."""
    classes: dict[str, Any] = {}
    for kind in sorted({device_class(corpus[name]) for name in errors}):
        members = [name for name in errors if device_class(corpus[name]) == kind]
        entry = {}
        for subset, chosen in (("all", members), ("in_vivo", [n for n in members if corpus[n].setting == "in vivo"])):
            table: dict[str, Any] = {}
            for quantity in QUANTITIES:
                values = [errors[n][quantity] for n in chosen if errors[n].get(quantity) is not None]
                if values:
                    table[quantity] = quantity_summary(values)
            if table:
                entry[subset] = {"experiments": sorted(chosen), **table}
        if entry:
            classes[kind] = entry
    return classes


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(classes: Mapping[str, Any], provenance: Mapping[str, Any]) -> str:
    """The TOML text (scalars first, then one table per class, subset and quantity)."""
    lines = ["# Written by benchmarks/validation/run_validation.py: do not edit by hand.",
             "# Out-of-sample errors (%, 100 (predicted - measured) / measured) of rfasim's Arrhenius zone",
             "# per device class (catalog probe kind); read by rfasim/plan/uncertainty.py.", ""]
    lines += [f"{key} = {_toml_value(value)}" for key, value in provenance.items() if value is not None]
    for kind, entry in classes.items():
        for subset, table in entry.items():
            lines += ["", f"[classes.{kind}.{subset}]", f"experiments = {_toml_value(table['experiments'])}"]
            for quantity in QUANTITIES:
                if quantity in table:
                    lines += [f"[classes.{kind}.{subset}.{quantity}]"]
                    lines += [f"{k} = {_toml_value(v)}" for k, v in table[quantity].items()]
    return "\n".join(lines) + "\n"


def write_validation_errors(corpus: Mapping[str, Experiment], errors: Mapping[str, Mapping[str, float]],
                            provenance: Mapping[str, Any], path: Path = ERRORS_FILE) -> dict[str, Any]:
    """Write the file atomically; returns the class table written."""
    classes = class_table(corpus, errors)
    write_text(path, render(classes, provenance))
    return classes
