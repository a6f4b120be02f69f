"""Which tumor is which (issue 15, point 5): ``rfasim tumors``, ``plan --list-tumors``, ``other_tumors``."""

from __future__ import annotations

import json

import pytest

from rfasim.cli import main


def test_tumors_command_lists_id_volume_diameter_centroid_eligibility(small_case, tmp_path, capsys):
    case = small_case("two-tumors")
    assert main(["tumors", str(case)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "2 tumors" in lines[0]
    assert "volume" in lines[1] and "max diam" in lines[1] and "centroid" in lines[1] and "RFA" in lines[1]
    first, second = lines[2].split(), lines[3].split()
    assert first[0] == "1" and second[0] == "2"
    assert float(first[2]) == pytest.approx(20.0, abs=1.0) and float(second[2]) == pytest.approx(15.0, abs=1.0)
    assert float(first[1]) > float(second[1]) > 0  # mL, by decreasing volume
    assert "eligible" in lines[2] and "target (tumor_id = 1)" in lines[2] and "target" not in lines[3]
    assert "[60.0, -20.0, 42.0]" in lines[2]  # centroid, world RAS mm
    # the same listing from `plan --list-tumors`, with nothing written and nothing simulated
    out = tmp_path / "never"
    assert main(["plan", str(case), "--list-tumors", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip().splitlines() == lines
    assert not out.exists()


def test_large_tumor_is_listed_as_not_eligible(small_case, capsys):
    assert main(["tumors", str(small_case("large-45mm"))]) == 0
    assert "NOT eligible" in capsys.readouterr().out


def test_metrics_list_the_other_tumors_with_their_ids(small_case, tmp_path):
    case = small_case("two-tumors")
    out = tmp_path / "plan"
    assert main(["plan", str(case), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["tumor"]["id"] == 1 and metrics["tumors_in_image"] == 2
    (other,) = metrics["other_tumors"]
    assert other["id"] == 2 and other["eligible"] is True
    assert other["max_diameter_mm"] == pytest.approx(15.0, abs=1.0)
    assert other["centroid_mm"] == pytest.approx([55.0, -12.0, 2.8], abs=0.5)
    # the zone is around tumor 1; tumor 2 is ~40 mm away (centre to centre), ~22 mm surface to surface
    assert 5.0 < other["distance_to_zone_mm"] < 40.0
