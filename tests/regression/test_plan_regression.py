"""Plan outputs on every named phantom are unchanged to round-off (refactor guard).

The reference (``reference_plans.npz``) was recorded by ``reference_runs.py --write`` before the
simulation core was restructured.  A deliberate physics change regenerates it (and says so).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import reference_runs  # noqa: E402

REFERENCE = np.load(reference_runs.REFERENCE)


@pytest.fixture(scope="module")
def recomputed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    folder = tmp_path_factory.mktemp("regression")
    arrays: dict[str, np.ndarray] = {}
    for name in reference_runs.PHANTOMS:
        arrays.update(reference_runs.run_phantom(name, folder))
    return arrays


@pytest.mark.parametrize("name", reference_runs.PHANTOMS)
def test_metrics_unchanged(recomputed: dict[str, np.ndarray], name: str) -> None:
    reference = {
        key: value
        for key, value in zip(REFERENCE[f"{name}/metric_keys"], REFERENCE[f"{name}/metric_values"], strict=True)
        if not set(str(key).split(".")) & set(reference_runs.IGNORED_KEYS)
    }
    now = dict(zip(recomputed[f"{name}/metric_keys"], recomputed[f"{name}/metric_values"], strict=True))
    missing = sorted(set(reference) - set(now))
    assert not missing, f"{name}: metrics.json lost keys {missing}"
    for key, value in reference.items():
        # metrics.json rounds to 2-3 digits: allow one unit in the last place, nothing more.
        assert now[key] == pytest.approx(value, rel=1e-6, abs=0.011), f"{name}: {key}"


@pytest.mark.parametrize("name", reference_runs.PHANTOMS)
def test_fields_unchanged(recomputed: dict[str, np.ndarray], name: str) -> None:
    if f"{name}/box" not in REFERENCE.files:
        assert f"{name}/box" not in recomputed
        return
    np.testing.assert_array_equal(recomputed[f"{name}/box"], REFERENCE[f"{name}/box"])
    np.testing.assert_allclose(recomputed[f"{name}/temperature_max"], REFERENCE[f"{name}/temperature_max"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(recomputed[f"{name}/damage"], REFERENCE[f"{name}/damage"], rtol=1e-4, atol=1e-6)
    zone_now, zone_then = recomputed[f"{name}/zone"], REFERENCE[f"{name}/zone"]
    # A voxel exactly at the threshold may flip with round-off; no more than a handful.
    assert int(np.sum(zone_now != zone_then)) <= 2
    for field in ("temperature_max", "damage", "zone"):
        key = f"{name}/{field}_outside_sum"
        assert float(recomputed[key]) == pytest.approx(float(REFERENCE[key]), rel=1e-6, abs=1e-3)
