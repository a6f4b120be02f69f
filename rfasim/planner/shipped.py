"""The zone library shipped with rfasim: what it holds and whether it is current.

``rfasim/data/zones`` holds library entries and calibrations of the devices most plans use
(:data:`SHIPPED`), built by ``scripts/build_zone_library.py`` with the same file names as a user's
cache (:mod:`rfasim.planner.library`): hashes of every input and of the physics fingerprint
(:mod:`rfasim.planner.fingerprint`).  A fresh install then plans without the 1-4 minutes of
library and calibration runs per device.  When the physics changes, the names change: the shipped
files are no longer found (the planner computes and caches new ones, as for any other device) and
:func:`stale_files` names them (``tests/planner/test_shipped_library.py`` fails).
"""

from __future__ import annotations

from pathlib import Path

#: (device, spacing in mm) shipped with calibrations: the demo's and the benchmarks' devices at the
#: search spacing.
SHIPPED = (("leveen-3cm", 2.0), ("cooltip-17g-3cm", 2.0))
#: (device, spacing in mm) shipped as single-probe entries only: the demo's verification spacing,
#: for the fast model's spacing correction (:meth:`LibraryZoneModel.correct_for_spacing`).
SHIPPED_SINGLE = (("leveen-3cm", 1.0), ("cooltip-17g-3cm", 1.0))


def manifest_path() -> Path:
    """``rfasim/data/zones/manifest.json``."""
    from rfasim.planner.library import shipped_folder

    return shipped_folder() / "manifest.json"


def expected_files() -> list[str]:
    """The file names the shipped devices have under the current physics and inputs."""
    from rfasim.planner.calibration import calibration_key, calibration_name
    from rfasim.planner.library import entry_name, library_key
    from rfasim.probes import get_probe_model

    names = []
    for device, spacing in SHIPPED:
        model = get_probe_model(device)
        generator = dict(model.generator)
        generator.pop("probe_schedule", None)
        names.append(entry_name(library_key(model, generator, {}, spacing)))
        names.append(calibration_name(calibration_key(model, generator, {}, spacing)))
    for device, spacing in SHIPPED_SINGLE:
        model = get_probe_model(device)
        generator = dict(model.generator)
        generator.pop("probe_schedule", None)
        names.append(entry_name(library_key(model, generator, {}, spacing)))
    return names


def stale_files() -> list[str]:
    """Expected shipped files that are missing (empty: the shipped library is current)."""
    from rfasim.planner.library import shipped_folder

    folder = shipped_folder()
    return [name for name in expected_files() if not (folder / name).is_file()]


__all__ = ["SHIPPED", "SHIPPED_SINGLE", "expected_files", "manifest_path", "stale_files"]
