"""``rfasim demo``: a planner-found plan, one line per criterion, never a failure to a newcomer.

Run at a coarse verification spacing (3 mm) to stay quick; the default (1 mm) is measured in
benchmarks/README.md (cold and warm), never timed here.
"""

from __future__ import annotations

import json

import numpy as np

from rfasim.case import load_case
from rfasim.cli import EXIT_OK, main
from rfasim.planner.guard import label_map_violations


def test_demo_presents_a_verified_plan_with_one_line_per_criterion(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet", "--spacing", "3"]) == EXIT_OK
    text = capsys.readouterr().out
    assert "what the >= 100 degC line shows:" in text
    assert "what the Arrhenius line shows:" in text
    assert "design criterion (>= 100 degC):" in text and "coagulation zone (Arrhenius):" in text
    assert "internal error" not in text and "rfasim: error" not in text
    assert "PLAN MEETS THE MARGIN TARGET" in text or "the software worked" in text
    report = json.loads((out / "planner.json").read_text())
    assert report["verifications"], "the demo verifies its plan with the full simulation"
    proposed = load_case(out / "plan.toml")
    case = load_case(out / "input" / "case.toml")
    tips = np.array([p.tip_mm for p in proposed.probes])
    entries = np.array([p.entry_mm for p in proposed.probes])
    centroid = report["verifications"][0]["verified"]["isotherm"]  # any: the target is the only tumor
    assert centroid is not None
    from rfasim.imaging import find_tumors, load_labels

    labels = load_labels(case.labels_path)
    target = find_tumors(labels.data == 2, labels.affine)[0]
    assert label_map_violations(case, proposed.probes[0].model, tips, entries, target.centroid_mm) == []
