"""The shipped zone library (rfasim/data/zones) is current: built by today's physics and inputs.

It fails after any change of the physics, the solver, the probe catalog or the calibration that
moves the physics fingerprint or an input hash: then regenerate the library with
``python scripts/build_zone_library.py`` (docs/planner.md).  A stale library is never used (its
file names no longer match), so this test guards speed, not correctness.
"""

from __future__ import annotations

import json

from rfasim.planner.fingerprint import physics_fingerprint
from rfasim.planner.library import load_entry, shipped_folder
from rfasim.planner.shipped import (
    SHIPPED,
    SHIPPED_SINGLE,
    expected_files,
    manifest_path,
    stale_files,
)


def test_shipped_library_matches_the_physics() -> None:
    manifest = json.loads(manifest_path().read_text(encoding="utf-8"))
    changed = {k: (manifest["fingerprint"].get(k), v) for k, v in physics_fingerprint()
               if manifest["fingerprint"].get(k) != v}
    assert not changed, (f"the physics fingerprint moved (shipped, now): {changed}; "
                         "regenerate: python scripts/build_zone_library.py")
    assert not stale_files(), f"missing shipped files {stale_files()}: python scripts/build_zone_library.py"
    assert sorted(manifest["files"]) == sorted(expected_files())


def test_shipped_entries_load_and_are_the_named_devices() -> None:
    names = [n for n in expected_files() if n.startswith("zone-")]
    for (device, spacing), name in zip(SHIPPED + SHIPPED_SINGLE, names, strict=True):
        entry = load_entry(shipped_folder() / name)
        assert entry is not None and entry.device == device and entry.spacing_mm == spacing


def test_a_changed_fingerprint_changes_every_name(monkeypatch) -> None:
    import rfasim.planner.fingerprint as fingerprint

    before = expected_files()
    monkeypatch.setattr(fingerprint, "fingerprint_hash", lambda figures=None: "0" * 16)
    after = expected_files()
    assert not set(before) & set(after)
