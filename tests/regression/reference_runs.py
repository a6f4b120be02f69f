"""Plan outputs on every named phantom, recorded so a refactor can prove it changes nothing.

``python tests/regression/reference_runs.py --write`` records ``reference_plans.npz`` at the
current commit; ``tests/regression/test_plan_regression.py`` recomputes the same runs and
compares metrics and fields to round-off.  Regenerate the reference only when the physics or
its defaults change on purpose (say so in the commit message).

The runs are the phantoms' own case files at a coarse spacing and a shortened protocol
(``SPACING_MM``, ``DURATION_S``) so the test takes seconds, not minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
REFERENCE = HERE / "reference_plans.npz"
PHANTOMS = ("liver-25mm", "vessel-30mm", "two-tumors", "large-45mm")
SPACING_MM = 3.0
DURATION_S = 150.0
IMAGE_SPACING_MM = 2.0
#: Run statistics (wall times, solve counts) measure speed, not the plan; the version changes.
#: ``out_of_sample_error`` is read from rfasim/data/validation_errors.toml, which the validation
#: command rewrites (tests/validation checks it against the page): not the solver's output.
IGNORED_KEYS = ("wall_s", "electric_s", "electric_solves", "rfasim_version", "out_of_sample_error")


def _numbers(tree: object, prefix: str = "") -> dict[str, float]:
    """Every number in a JSON-like tree, keyed by its path (wall times excluded)."""
    out: dict[str, float] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in IGNORED_KEYS:
                continue
            out.update(_numbers(value, f"{prefix}{key}."))
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            out.update(_numbers(value, f"{prefix}{index}."))
    elif isinstance(tree, bool):
        out[prefix.rstrip(".")] = float(tree)
    elif isinstance(tree, (int, float)):
        out[prefix.rstrip(".")] = float(tree) if tree is not None else float("nan")
    return out


def run_phantom(name: str, folder: Path) -> dict[str, np.ndarray]:
    """Run one phantom's case (coarse, short); fields and metric numbers as arrays."""
    import nibabel

    from rfasim.case import load_case
    from rfasim.phantoms import write_phantom
    from rfasim.plan.outputs import write_plan_folder
    from rfasim.plan.pipeline import run_case

    paths = write_phantom(name, folder / name, spacing_mm=(IMAGE_SPACING_MM,) * 3)
    case = load_case(paths["case"])
    case.spacing_mm = SPACING_MM
    if case.generator_table:
        case.generator_table = {**case.generator_table, "duration_s": DURATION_S}
    plan = run_case(case, force=True, progress=False)
    out = folder / name / "plan"
    write_plan_folder(plan, out)
    metrics = json.loads((out / "metrics.json").read_text())
    numbers = _numbers(metrics)
    keys = sorted(numbers)
    arrays = {
        f"{name}/metric_keys": np.array(keys),
        f"{name}/metric_values": np.array([numbers[k] for k in keys]),
        f"{name}/warnings": np.array(list(metrics.get("warnings", [])) or [""]),
    }
    fields = {
        field: np.asarray(nibabel.load(out / f"{field}.nii.gz").dataobj)
        for field in ("temperature_max", "damage", "zone")
        if (out / f"{field}.nii.gz").exists()
    }
    if fields:
        # Only the heated box is stored (the rest is body temperature, no damage, no zone).
        heated = np.argwhere(fields["temperature_max"] > 37.01)
        low, high = heated.min(axis=0), heated.max(axis=0) + 1
        arrays[f"{name}/box"] = np.concatenate([low, high])
        box = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
        for field, values in fields.items():
            arrays[f"{name}/{field}"] = values[box]
            arrays[f"{name}/{field}_outside_sum"] = np.array(float(values.sum() - values[box].sum()))
    return arrays


def run_all() -> dict[str, np.ndarray]:
    """All phantoms' arrays."""
    arrays: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in PHANTOMS:
            arrays.update(run_phantom(name, Path(folder)))
    return arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="record the reference at this commit")
    arguments = parser.parse_args(argv)
    arrays = run_all()
    if arguments.write:
        np.savez_compressed(REFERENCE, **arrays)
        print(json.dumps({"written": str(REFERENCE), "entries": len(arrays)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
