"""The real-CT-like phantom end to end (issue 15): what a radiologist would see on a real CT.

``ct-like-dome``: body tissue left unlabelled (label 0, fat and soft tissue on the CT), a tumor
under the dome whose simulation box is cut by the image's edge, and a body-wall vessel across the
needle path far outside the box.  3 mm grid, 2 min, a 50 degC isotherm: seconds.
"""

from __future__ import annotations

import json

from rfasim.cli import main
from rfasim.phantoms import write_phantom


def test_ct_like_dome_plan_reports_the_body_the_edge_and_the_whole_path(tmp_path, capsys):
    paths = write_phantom("ct-like-dome", tmp_path / "case")
    case = paths["case"]
    case.write_text(case.read_text().replace("spacing_mm = 1.0", "spacing_mm = 3.0")
                    .replace("duration_s = 720.0", "duration_s = 120.0").replace("threshold_c = 100.0", "threshold_c = 50.0"))
    out = tmp_path / "plan"
    assert main(["plan", str(case), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    warnings = metrics["warnings"]
    # 1: unlabelled body voxels are tissue, classified from the CT
    assert metrics["unlabelled_tissue"]["ct_used"] is True
    assert metrics["unlabelled_tissue"]["volumes_ml"]["soft tissue"] > 10.0
    # 2: the box is cut by the image above the tumor and the zone comes close to that edge
    domain = metrics["domain"]
    assert "superior" in domain["image_edge_faces"]
    assert domain["clearance_mm"]["superior"] < 10.0
    assert any("image's edge (superior)" in w for w in warnings)
    # 3: the body-wall vessel on the needle path, outside the simulated region
    (path,) = metrics["needle_paths"]
    (crossing,) = path["vessel_crossings"]
    assert crossing["inside_simulated_region"] is False and 5.0 < crossing["calibre_mm"] < 7.5
    assert any("path crosses a large vessel" in w and "outside the simulated region" in w for w in warnings)
    assert path["liver_entries"] == 1
    # 4: the zone file is the written temperature thresholded
    assert metrics["zone"]["zone_file_volume_ml"] > 0
    # 5: which tumor is which
    assert metrics["tumor"]["id"] == 1 and metrics["other_tumors"] == []
    assert "warning: probe 1: path crosses a large vessel" in capsys.readouterr().out
