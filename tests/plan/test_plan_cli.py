"""The plan end to end through the command line: spec outputs, exit codes, verdicts, affines."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from rfasim.cli import main
from rfasim.imaging import load_labels

SPEC_KEYS = {"rfasim_version", "eligibility", "tumor", "zone", "zone_arrhenius", "margin", "generator",
             "peak_temperature_c", "warnings", "run"}
SPEC_FILES = {"metrics.json", "timeseries.csv", "temperature_max.nii.gz", "damage.nii.gz", "zone.nii.gz",
              "summary.png", "scene.png"}


def test_eligible_plan_writes_the_spec_folder(small_case, tmp_path, capsys):
    case = small_case("liver-25mm")
    out = tmp_path / "plan"
    assert main(["plan", str(case), "--out", str(out), "--quiet"]) == 0
    assert SPEC_FILES <= {p.name for p in out.iterdir()}
    metrics = json.loads((out / "metrics.json").read_text())
    assert SPEC_KEYS <= set(metrics)
    assert metrics["eligibility"]["eligible"] is True and metrics["eligibility"]["limit_mm"] == 40.0
    assert 22.0 < metrics["eligibility"]["tumor_max_diameter_mm"] < 28.0
    assert set(metrics["tumor"]) >= {"id", "volume_ml", "centroid_mm", "coverage_pct"}
    assert set(metrics["zone"]) >= {"criterion", "threshold_c", "volume_ml", "axes_mm"}
    assert metrics["zone"]["threshold_c"] == 100.0 and len(metrics["zone"]["axes_mm"]) == 3
    assert set(metrics["margin"]) >= {"min_mm", "target_mm", "surface_pct_at_target", "ok", "thinnest_at_mm"}
    assert set(metrics["generator"]) >= {"mode", "energy_j", "mean_power_w", "rolloffs", "final_impedance_ohm"}
    assert metrics["generator"]["energy_j"] > 0 and metrics["peak_temperature_c"] > 60.0
    assert metrics["run"]["grid_shape"] and metrics["run"]["spacing_mm"] == 2.0
    header = (out / "timeseries.csv").read_text().splitlines()[0]
    assert header == "t_s,power_w,voltage_v,current_a,impedance_ohm,tip_temperature_c,energy_j"
    # Results overlay the input: same shape and affine as the labels.
    labels = load_labels(case.parent / "labels.nii.gz")
    for name in ("temperature_max.nii.gz", "damage.nii.gz", "zone.nii.gz"):
        image = nib.load(out / name)
        assert image.shape == labels.data.shape
        np.testing.assert_allclose(image.affine, labels.affine, atol=1e-6)
    zone = np.asarray(nib.load(out / "zone.nii.gz").dataobj)
    assert zone.dtype == np.uint8 and set(np.unique(zone)) <= {0, 1}
    assert "eligible" in capsys.readouterr().out
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_large_tumor_is_refused_with_exit_code_3(small_case, tmp_path, capsys):
    case = small_case("large-45mm")
    out = tmp_path / "refused"
    assert main(["plan", str(case), "--out", str(out), "--quiet"]) == 3
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["eligibility"]["eligible"] is False
    assert metrics["eligibility"]["tumor_max_diameter_mm"] > 40.0
    assert "resection" in metrics["eligibility"]["reason"] and "embolization" in metrics["eligibility"]["reason"]
    assert "tumor" in metrics and "zone" not in metrics
    assert not (out / "zone.nii.gz").exists()
    assert "NOT ELIGIBLE" in capsys.readouterr().out


def test_large_tumor_forced_is_simulated_and_animated(small_case, tmp_path):
    case = small_case("large-45mm")
    out = tmp_path / "forced"
    assert main(["plan", str(case), "--out", str(out), "--quiet", "--force", "--animate"]) == 0
    assert (out / "heating.gif").stat().st_size > 1000
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["eligibility"]["eligible"] is False
    assert metrics["zone"]["volume_ml"] is not None and metrics["run"]["simulated"] is True
    assert any("forced" in warning for warning in metrics["warnings"])


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda t: t + "\n[surprise]\nkey = 1\n", "unknown key 'surprise'"),
        (lambda t: t.replace('mode = "impedance"', 'mode = "impedance"\nwattage = 5'), "unknown key 'wattage'"),
        (lambda t: t.replace('model = "cooltip-17g-3cm"', 'model = "no-such-probe"'), "no-such-probe"),
        (lambda t: t.replace("power_w = 200.0", "power_w = -5.0"), "power_w"),
        (lambda t: t.replace("duration_s = 60.0", "duration_s = 0.0"), "duration_s"),
        (lambda t: t.replace("tumor_id = 1", "tumor_id = 7"), "7"),
        (lambda t: t.replace('labels = "labels.nii.gz"', 'labels = "missing.nii.gz"'), "missing.nii.gz"),
        (lambda t: t.replace("[[probes]]", "[tissue.liver]\nelectrical_conductivity_s_per_m = -1.0\n\n[[probes]]"),
         "electrical_conductivity_s_per_m"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_output(small_case, tmp_path, capsys, edit, needle):
    case = small_case("liver-25mm")
    case.write_text(edit(case.read_text()))
    out = tmp_path / "bad"
    assert main(["plan", str(case), "--out", str(out), "--quiet"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and needle in error[0] and "Traceback" not in error[0]
    assert not out.exists() or not any(out.iterdir())


def test_probe_outside_the_image_is_bad_input(small_case, tmp_path, capsys):
    case = small_case("liver-25mm")
    text = case.read_text()
    start = text.index("tip_mm = [")
    end = text.index("]", start)
    case.write_text(text[:start] + "tip_mm = [900.0, 900.0, 900.0" + text[end:])
    assert main(["plan", str(case), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "outside" in capsys.readouterr().err


def test_oblique_lps_phantom_round_trip(small_case, tmp_path):
    """An oblique image: the zone lands in the input space around the tumor centroid."""
    case = small_case("liver-25mm", orientation="oblique", spacing_mm=(1.5, 1.5, 2.0))
    out = tmp_path / "oblique"
    assert main(["plan", str(case), "--out", str(out), "--quiet"]) == 0
    image = nib.load(out / "temperature_max.nii.gz")
    labels = load_labels(case.parent / "labels.nii.gz")
    np.testing.assert_allclose(image.affine, labels.affine, atol=1e-6)
    metrics = json.loads((out / "metrics.json").read_text())
    peak = np.asarray(image.dataobj)
    hottest = np.unravel_index(np.argmax(peak), peak.shape)
    hottest_mm = labels.affine[:3, :3] @ np.asarray(hottest) + labels.affine[:3, 3]
    # The hottest voxel lies near the probe, i.e. within ~20 mm of the tumor centroid.
    assert np.linalg.norm(hottest_mm - np.asarray(metrics["tumor"]["centroid_mm"])) < 20.0


def test_phantom_and_probes_commands(tmp_path, capsys):
    assert main(["phantom", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "liver-25mm" in listing and "large-45mm" in listing
    assert main(["phantom", "two-tumors", "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "case.toml").exists()
    assert main(["phantom", "nope", "--out", str(tmp_path / "q")]) == 2
    assert main(["probes"]) == 0
    assert "cooltip-17g-3cm" in capsys.readouterr().out
