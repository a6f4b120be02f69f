"""Effect of the tissue-physics models of issue 12 (item 1) on the validation experiments.

Runs chosen corpus experiments with a named variant of the tissue model (and generator) and
writes one JSON line per run to ``results/tissue_models.jsonl``.  Nothing is tuned: each variant
is a literature model switched on with its documented defaults.

Usage (from the repository root)::

    PYTHONPATH=$PWD nice python benchmarks/validation/studies/tissue_models.py \
        --variant baseline --spacing 3 lee2009-cooled-2cm-ex-vivo lee2009-cooled-2cm-in-vivo
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import harness  # noqa: E402
from corpus import load_corpus  # noqa: E402

from rfasim.tissue import (  # noqa: E402
    HEPATIC_PERFUSION_HUMAN_PER_S,
    HEPATIC_PERFUSION_PORCINE_PER_S,
    TissueClass,
)

VARIANTS: dict = {}
#: rfasim's in vivo liver perfusion before issue 12 (Tungjitkusolmun et al. 2002): experiments
#: that state no perfusion of their own carry it.
OLD_DEFAULT_PERFUSION = 0.0064


def variant(name):
    def register(function):
        VARIANTS[name] = function
        return function
    return register


def with_tissue(setup, **changes):
    return replace(setup, tissue=replace(setup.tissue, **changes))


#: The experiment being run (set by :func:`run`): variants change only what it leaves to the defaults.
CURRENT: dict = {}


def with_liver_perfusion(setup, rate):
    """The liver's perfusion set to ``rate`` where the experiment leaves it to rfasim's in vivo
    default (perfused, no ``[tissue.liver] perfusion_rate_per_s`` of its own)."""
    experiment = CURRENT.get("experiment")
    table = experiment.tissue_table if experiment is not None else {}
    if not table.get("perfused", True) or "perfusion_rate_per_s" in table.get("liver", {}):
        return setup
    return replace(setup, tissue=setup.tissue.with_class(TissueClass.LIVER, perfusion_rate_per_s=rate))


@variant("old-defaults")
def _old_defaults(setup):  # rfasim before issue 12: perfusion 0.0064, constant wall film, no thrombosis
    setup = with_liver_perfusion(setup, OLD_DEFAULT_PERFUSION)
    return with_vessels(setup, wall_model="constant", thrombosis_diameter_mm=0.0)


@variant("old-default-perfusion")
def _old_default_perfusion(setup):  # rfasim before issue 12: 0.0064 1/s
    return with_liver_perfusion(setup, OLD_DEFAULT_PERFUSION)


def with_vaporization(setup, **changes):
    return with_tissue(setup, vaporization=replace(setup.tissue.vaporization, **changes))


@variant("baseline")
def _baseline(setup):
    return setup


@variant("perfusion-human")
def _perfusion_human(setup):
    return with_liver_perfusion(setup, HEPATIC_PERFUSION_HUMAN_PER_S)


@variant("perfusion-porcine")
def _perfusion_porcine(setup):
    return with_liver_perfusion(setup, HEPATIC_PERFUSION_PORCINE_PER_S)


@variant("stasis")
def _stasis(setup):
    return with_tissue(setup, perfusion_response="stasis")


@variant("perfusion-porcine+stasis")
def _porcine_stasis(setup):
    return with_tissue(_perfusion_porcine(setup), perfusion_response="stasis")


@variant("perfusion-porcine+hyperaemia2")
def _porcine_hyperaemia(setup):  # sensitivity only: the factor 2 is not from a source we read
    return with_tissue(_perfusion_porcine(setup), perfusion_response="hyperaemia", hyperaemia_factor=2.0)


@variant("hysteresis")
def _hysteresis(setup):
    return with_vaporization(setup, hysteresis=True)


@variant("hysteresis-tau60")
def _hysteresis_tau60(setup):  # sensitivity: rehydration within a minute
    return with_vaporization(setup, hysteresis=True, rehydration_time_s=60.0)


@variant("perfusion-porcine+stasis+hysteresis")
def _porcine_stasis_hysteresis(setup):
    return with_vaporization(_porcine_stasis(setup), hysteresis=True)


@variant("perfusion-ct-upper")
def _perfusion_ct_upper(setup):  # upper end read: 1.47 mL/min/mL total hepatic perfusion (CT, smoothing)
    return with_liver_perfusion(setup, 1.47 / 60.0)


@variant("hysteresis-tau20")
def _hysteresis_tau20(setup):
    return with_vaporization(setup, hysteresis=True, rehydration_time_s=20.0)


@variant("in-vivo-unperfused")
def _in_vivo_unperfused(setup):  # decomposition: the in vivo block at 37 degC without any perfusion
    return with_liver_perfusion(setup, 0.0)


@variant("ex-vivo-at-37")
def _ex_vivo_at_37(setup):  # decomposition: the ex vivo block started at body temperature
    if setup.tissue.body_temperature_c >= 37.0:
        return setup
    return with_tissue(setup, body_temperature_c=37.0)


@variant("perfusion-porcine+hysteresis")
def _porcine_hysteresis(setup):
    return with_vaporization(_perfusion_porcine(setup), hysteresis=True)


def with_vessels(setup, **changes):
    return with_tissue(setup, vessels=replace(setup.tissue.vessels, **changes))


@variant("no-thrombosis")
def _no_thrombosis(setup):  # vessels: the Nusselt film alone
    return with_vessels(setup, thrombosis_diameter_mm=0.0)


@variant("constant-wall")
def _constant_wall(setup):  # vessels: thrombosis alone (the old constant 1000 W/(m^2 K) film)
    return with_vessels(setup, wall_model="constant")


def heat_sink(spacing, variant_name, out):
    """Lu 2002: the heat-sink study (reference, 8 mm and 2 mm vessel) under a variant."""
    experiment = load_corpus()["lu2002-heat-sink-in-vivo"]
    CURRENT["experiment"] = experiment
    original = harness.build_run

    def patched(*args, **kwargs):
        return VARIANTS[variant_name](original(*args, **kwargs))

    harness.build_run = patched
    try:
        results = harness.heat_sink_study(experiment, spacing)
    finally:
        harness.build_run = original
    for result in results:
        record = {"experiment": experiment.name, "variant": variant_name, "spacing_mm": spacing,
                  "vessel_diameter_mm": result.vessel_diameter_mm,
                  "radius_toward_vessel_mm": round(result.radius_toward_vessel_mm, 1),
                  "radius_away_mm": round(result.radius_away_mm, 1),
                  "cuff_ablated_fraction": None if result.cuff_ablated_fraction != result.cuff_ablated_fraction
                  else round(result.cuff_ablated_fraction, 3),
                  "viable_cuff": result.viable_cuff, "expect_viable_cuff": result.expect_viable_cuff,
                  "volume_ml": round(result.volume_ml, 2)}
        print(json.dumps(record), flush=True)
        with open(out, "a") as handle:
            handle.write(json.dumps(record) + "\n")


def run(names, spacing, variant_name, out):
    corpus = load_corpus()
    original = harness.build_run

    def patched(*args, **kwargs):
        return VARIANTS[variant_name](original(*args, **kwargs))

    for name in names:
        experiment = corpus[name]
        CURRENT["experiment"] = experiment
        start = time.process_time()
        harness.build_run = patched
        try:
            output = harness.run_experiment(experiment, spacing)
        finally:
            harness.build_run = original
        p = output.prediction
        record = {"experiment": name, "variant": variant_name, "spacing_mm": spacing,
                  "long_axis_mm": round(p.long_axis_mm, 1), "short_axis_mm": round(p.short_axis_mm, 1),
                  "volume_ml": round(p.volume_ml, 2), "energy_kj": round(p.energy_j / 1e3, 1),
                  "rolloffs": p.rolloffs, "wall_s": round(p.wall_s, 1),
                  "cpu_s": round(time.process_time() - start, 1),
                  "measured": {q: m.value for q, m in experiment.measured.items()}}
        print(json.dumps(record), flush=True)
        with open(out, "a") as handle:
            handle.write(json.dumps(record) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="+")
    parser.add_argument("--variant", default="baseline")
    parser.add_argument("--spacing", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=HERE.parent / "results" / "tissue_models.jsonl")
    args = parser.parse_args()
    if args.variant not in VARIANTS:
        parser.error(f"unknown variant {args.variant!r}; known: {', '.join(VARIANTS)}")
    if args.experiments == ["heat-sink"]:
        heat_sink(args.spacing, args.variant, args.out.with_name("tissue_models_heat_sink.jsonl"))
    else:
        run(args.experiments, args.spacing, args.variant, args.out)


if __name__ == "__main__":
    main()
