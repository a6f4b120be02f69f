"""Build the zone library shipped with rfasim (``rfasim/data/zones``), from the full solver.

    python scripts/build_zone_library.py            # the shipped devices and spacings
    python scripts/build_zone_library.py --check    # only say whether the shipped library is current

For every shipped device and spacing, :func:`rfasim.planner.calibration.device_zones` computes
the single-probe library entry and its calibrations (heat sink, protocols) with
``RFASIM_CACHE_DIR`` pointed at ``rfasim/data/zones``, so that the files carry the same names
(hashes of every input and of the physics fingerprint, :mod:`rfasim.planner.fingerprint`) as a
user's cache would.  Files of other fingerprints are removed, and ``manifest.json`` records the
fingerprint, the entries and the wall time of the build.  Run it after any change of the physics,
the solver, the probe catalog or the calibration (``tests/planner/test_shipped_library.py`` fails
until then).  It takes about 5-10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the shipped library is current")
    arguments = parser.parse_args()
    from rfasim.planner.shipped import (
        SHIPPED,
        SHIPPED_SINGLE,
        expected_files,
        manifest_path,
        stale_files,
    )

    stale = stale_files()
    if arguments.check:
        print("shipped zone library: " + ("current" if not stale else f"STALE, missing {', '.join(stale)}"))
        return 1 if stale else 0
    folder = manifest_path().parent
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["RFASIM_CACHE_DIR"] = str(folder)
    from rfasim.planner.calibration import device_zones
    from rfasim.planner.fingerprint import physics_fingerprint
    from rfasim.planner.library import library_entry
    from rfasim.probes import get_probe_model

    start = time.perf_counter()
    walls = {}
    for device, spacing in SHIPPED:
        step = time.perf_counter()
        device_zones(device, spacing, {}, progress=True)
        walls[f"{device}@{spacing:g}mm"] = round(time.perf_counter() - step, 1)
        print(f"{device} at {spacing:g} mm: {walls[f'{device}@{spacing:g}mm']} s", flush=True)
    for device, spacing in SHIPPED_SINGLE:
        step = time.perf_counter()
        model = get_probe_model(device)
        generator = dict(model.generator)
        generator.pop("probe_schedule", None)
        library_entry(model, spacing, generator, {}, progress=True)
        walls[f"{device}@{spacing:g}mm (single)"] = round(time.perf_counter() - step, 1)
        print(f"{device} at {spacing:g} mm (single probe): {walls[f'{device}@{spacing:g}mm (single)']} s", flush=True)
    keep = set(expected_files())
    for path in folder.iterdir():
        if path.name != "manifest.json" and path.name not in keep:
            path.unlink()
    manifest = {
        "fingerprint": dict(physics_fingerprint()),
        "entries": [{"device": d, "spacing_mm": s, "calibrated": True} for d, s in SHIPPED]
        + [{"device": d, "spacing_mm": s, "calibrated": False} for d, s in SHIPPED_SINGLE],
        "files": sorted(keep),
        "build_wall_s": walls,
        "total_wall_s": round(time.perf_counter() - start, 1),
    }
    from rfasim.atomic import write_text

    write_text(manifest_path(), json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {manifest_path()} ({len(keep)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
