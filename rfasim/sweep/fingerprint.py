"""Fingerprints of a sweep's input images: a results folder belongs to one set of images.

A sweep resumed after an image changed (a corrected segmentation, another CT) must not mix rows
computed on the old image with rows computed on the new one.  The manifest (``sweep.json``)
records a hash of each image's bytes (a DICOM folder: of every file in it, by name), and a resumed
sweep compares them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def image_fingerprint(path: str | Path) -> str:
    """SHA-256 (16 hex digits) of an image file's bytes, or of a folder's files and names.

    Parameters
    ----------
    path : str or Path
        A NIfTI file or a DICOM series folder.  A missing path gives ``"missing"`` (the run that
        needs it fails with its own message).

    Returns
    -------
    str
        16 hexadecimal digits, or ``"missing"``.
    """
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(path)).encode())
            _add_bytes(digest, file)
    elif path.is_file():
        _add_bytes(digest, path)
    else:
        return "missing"
    return digest.hexdigest()[:16]


def _add_bytes(digest: Any, file: Path) -> None:
    with file.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)


def image_paths(case_tables: Iterable[dict[str, Any]], case_folder: Path) -> list[Path]:
    """Every image (labels, CT) the case tables refer to, resolved against the case folder, sorted.

    Parameters
    ----------
    case_tables : iterable of dict
        Parsed case tables (the base case and each run's).
    case_folder : pathlib.Path
        The folder relative image paths are resolved against.

    Returns
    -------
    list of pathlib.Path
    """
    paths = set()
    for table in case_tables:
        images = table.get("images")
        if not isinstance(images, dict):
            continue
        for key in ("labels", "ct"):
            if isinstance(images.get(key), str):
                paths.add((case_folder / images[key]).resolve())
    return sorted(paths)


def image_fingerprints(case_tables: Iterable[dict[str, Any]], case_folder: Path) -> dict[str, str]:
    """``{image path: fingerprint}`` for every image of the case tables (see :func:`image_fingerprint`).

    Parameters
    ----------
    case_tables : iterable of dict
        Parsed case tables (the base case and each run's).
    case_folder : pathlib.Path
        The folder relative image paths are resolved against.

    Returns
    -------
    dict of str to str
    """
    return {str(path): image_fingerprint(path) for path in image_paths(case_tables, case_folder)}


def changed_images(recorded: dict[str, str] | None, current: dict[str, str]) -> list[str]:
    """The images whose fingerprint differs from the one recorded (images not recorded: unchanged).

    Parameters
    ----------
    recorded : dict of str to str, optional
        Fingerprints stored with earlier results (None or not a dict: nothing recorded).
    current : dict of str to str
        Fingerprints now, as :func:`image_fingerprints` gives them.

    Returns
    -------
    list of str
        Paths of the changed images.
    """
    if not isinstance(recorded, dict):
        return []
    return [path for path, value in current.items() if path in recorded and recorded[path] != value]
