"""Heating animation: one GIF frame per snapshot."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from rfasim.trackers import SnapshotTracker
from rfasim.viz.animation import animate_heating


def _snapshots(plan, count: int) -> SnapshotTracker:
    tracker = SnapshotTracker()
    for index in range(count):
        fraction = index / (count - 1)
        tracker.times_s.append(60.0 * index)
        tracker.temperatures_c.append(
            (37.0 + (plan.peak_temperature_c - 37.0) * fraction).astype(np.float32)
        )
    return tracker


def test_gif_has_one_frame_per_snapshot(plan, tmp_path: Path) -> None:
    from PIL import Image

    written = animate_heating(
        _snapshots(plan, 5), plan.grid, plan, tmp_path / "heating.gif", plane="coronal"
    )
    assert written == tmp_path / "heating.gif"
    with Image.open(written) as image:
        assert image.n_frames == 5
        first = np.asarray(image.convert("RGB"), dtype=float)
        image.seek(4)
        last = np.asarray(image.convert("RGB"), dtype=float)
    assert np.abs(last - first).mean() > 5.0  # the slice heats up
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heating.gif"]


def test_mp4_request_without_plan(plan, tmp_path: Path) -> None:
    from matplotlib import animation

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = animate_heating(
            _snapshots(plan, 3), plan.grid, path=tmp_path / "heating.mp4", plane="sagittal"
        )
    if animation.writers.is_available("ffmpeg"):
        assert written.suffix == ".mp4"
    else:
        assert written.suffix == ".gif"
        assert any("ffmpeg" in str(w.message) for w in caught)
    assert written.stat().st_size > 1000


def test_no_snapshots_is_an_error(plan, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one snapshot"):
        animate_heating(SnapshotTracker(), plan.grid, plan, tmp_path / "heating.gif")
