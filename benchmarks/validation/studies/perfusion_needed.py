"""How much Pennes perfusion would the in vivo experiments need? (issue 12, the in vivo gap)

Runs the fully stated in vivo experiment (Lee 2009) and Song 2015 in vivo at liver perfusion
rates from the measured human value (0.018 1/s) through the top of the measured range (0.0245 1/s,
CT perfusion) to rates no measurement supports (0.035-0.07 1/s), everything else at rfasim's
defaults, and prints one JSON line per run: volume, axes, delivered energy, roll-offs, and the
errors against the paper.  This is a sensitivity study, not a calibration: its point is to show
which perfusion the zones would need, not to set it (``docs/tissue-models.md``).

Usage (from the repository root)::

    python benchmarks/validation/studies/perfusion_needed.py --spacing 1.5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import harness  # noqa: E402
from corpus import load_corpus  # noqa: E402

EXPERIMENTS = ("lee2009-cooled-2cm-in-vivo", "song2015-cooled-17g-in-vivo")
RATES_PER_S = (0.018, 0.0245, 0.035, 0.05, 0.07)


def _error(predicted: float | None, measured: dict, quantity: str) -> float | None:
    entry = measured.get(quantity)
    if predicted is None or entry is None or entry.value == 0:
        return None
    return round(100.0 * (predicted / entry.value - 1.0), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacing", type=float, default=1.5, help="grid spacing (mm)")
    parser.add_argument("--rates", type=float, nargs="+", default=list(RATES_PER_S), help="perfusion rates (1/s)")
    parser.add_argument("experiments", nargs="*", default=list(EXPERIMENTS))
    arguments = parser.parse_args(argv)
    corpus = load_corpus()
    for name in arguments.experiments:
        experiment = corpus[name]
        measured = experiment.measured
        for rate in arguments.rates:
            run = harness.run_experiment(experiment, arguments.spacing,
                                         tissue_overrides={"liver.perfusion_rate_per_s": rate})
            predicted = run.prediction
            energy_kj = predicted.energy_j / 1000.0
            row = {
                "experiment": name, "spacing_mm": arguments.spacing, "perfusion_per_s": rate,
                "volume_ml": round(predicted.volume_ml, 2), "long_axis_mm": round(predicted.long_axis_mm, 1),
                "short_axis_mm": round(predicted.short_axis_mm, 1), "energy_kj": round(energy_kj, 1),
                "rolloffs": predicted.rolloffs,
                "error_pct": {
                    "volume": _error(predicted.volume_ml, measured, "volume_ml"),
                    "long_axis": _error(predicted.long_axis_mm, measured, "long_axis_mm"),
                    "short_axis": _error(predicted.short_axis_mm, measured, "short_axis_mm"),
                    "energy": _error(predicted.energy_j, measured, "energy_j"),
                },
            }
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
