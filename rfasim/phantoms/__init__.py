"""Synthetic liver phantoms, generated deterministically by code (no data files are shipped).

Use :func:`list_phantoms` for the named phantoms, :func:`make_phantom` to get one in memory
(labels, CT, affine, metadata) and :func:`write_phantom` to write ``ct.nii.gz``,
``labels.nii.gz`` and a ready ``case.toml`` (what ``rfasim phantom NAME --out DIR`` does).
"""

from __future__ import annotations

from rfasim.phantoms.catalog import DEFAULT_PHANTOM, list_phantoms, make_phantom, make_spec
from rfasim.phantoms.generator import (
    LABEL_CODES,
    Phantom,
    PhantomSpec,
    TumorSpec,
    generate_phantom,
    orientation_matrix,
)
from rfasim.phantoms.geometry import Ellipsoid, VesselSegment, grow_vessel_tree
from rfasim.phantoms.writer import case_toml_text, write_phantom

__all__ = [
    "DEFAULT_PHANTOM",
    "LABEL_CODES",
    "Ellipsoid",
    "Phantom",
    "PhantomSpec",
    "TumorSpec",
    "VesselSegment",
    "case_toml_text",
    "generate_phantom",
    "grow_vessel_tree",
    "list_phantoms",
    "make_phantom",
    "make_spec",
    "orientation_matrix",
    "write_phantom",
]
