"""Is ``docs/validation.md`` older than the physics it reports on?

:data:`PHYSICS_FILES` is the one list of what the validation page depends on: the physics and
its defaults (kernels, tissue properties, generators, the probe catalog, the solver), the
electrode and zone measures, and the corpus itself.  :func:`physics_hash` hashes those files;
the page stores the hash it was made with, and ``tests/validation/test_validation_page_fresh.py``
fails when the committed page's hash differs from the files at HEAD.  Regenerate the page with
``python benchmarks/validation/run_validation.py`` (``--quick`` for a coarse run).

Examples
--------
>>> len(physics_hash()) == 64
True
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
PAGE = REPOSITORY / "docs" / "validation.md"

#: Glob patterns (relative to the repository root) of every file whose change makes the
#: validation page stale.  Patterns that match nothing are allowed (for modules still to come).
PHYSICS_FILES: tuple[str, ...] = (
    "rfasim/physics/**/*.py",
    "rfasim/tissue.py",
    "rfasim/generators.py",
    "rfasim/generators/**/*.py",
    "rfasim/data/probes/*.toml",
    "rfasim/solver.py",
    "rfasim/simulation.py",
    "rfasim/simulation/**/*.py",
    "rfasim/sources.py",
    "rfasim/probes/rasterize.py",
    "rfasim/probes/well.py",
    "rfasim/metrics/zone.py",
    "rfasim/metrics/_geometry.py",
    "benchmarks/validation/experiments/*.toml",
    "benchmarks/validation/configurations/*.toml",
    "benchmarks/validation/calibration.toml",
)

_HASH_PATTERN = re.compile(r"<!--\s*physics-hash:\s*([0-9a-f]{64})\s*-->")


def hashed_files(root: Path = REPOSITORY) -> list[Path]:
    """The files :func:`physics_hash` reads, sorted by their path relative to ``root``."""
    found: set[Path] = set()
    for pattern in PHYSICS_FILES:
        found.update(path for path in root.glob(pattern) if path.is_file() and "__pycache__" not in path.parts)
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def physics_hash(root: Path = REPOSITORY) -> str:
    """SHA-256 over the relative path and bytes of every file of :func:`hashed_files`."""
    digest = hashlib.sha256()
    for path in hashed_files(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def hash_marker(value: str) -> str:
    """The HTML comment the page stores the hash in."""
    return f"<!-- physics-hash: {value} -->"


def page_hash(page: Path = PAGE) -> str | None:
    """The hash stored in a validation page, or None if it holds none."""
    if not page.is_file():
        return None
    match = _HASH_PATTERN.search(page.read_text(encoding="utf-8"))
    return match.group(1) if match else None
