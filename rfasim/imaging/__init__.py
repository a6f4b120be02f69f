"""The imaging layer: reading images, mapping labels, finding tumors, resampling.

World coordinates are RAS+ millimetres everywhere (as NIfTI and 3D Slicer define them); images
keep their own orientation and spacing, and simulation results are mapped back onto them.
"""

from __future__ import annotations

from rfasim.imaging.io import (
    Volume,
    apply_affine,
    check_same_space,
    corner_points_mm,
    integer_labels,
    load_ct,
    load_image,
    load_labels,
    save_nifti,
)
from rfasim.imaging.labels import (
    CLASS_BY_NAME,
    PRESETS,
    LabelMapping,
    merge_totalsegmentator_liver_vessels,
)
from rfasim.imaging.resample import (
    available_memory_bytes,
    check_memory,
    estimate_memory_bytes,
    resample_ct,
    resample_labels,
    resample_to_grid,
    resample_to_volume,
    simulation_grid,
)
from rfasim.imaging.tumors import (
    Tumor,
    distances_to_tumors_mm,
    find_tumors,
    max_diameter_mm,
    select_target,
)

__all__ = [
    "CLASS_BY_NAME",
    "PRESETS",
    "LabelMapping",
    "Tumor",
    "Volume",
    "apply_affine",
    "available_memory_bytes",
    "check_memory",
    "check_same_space",
    "corner_points_mm",
    "distances_to_tumors_mm",
    "estimate_memory_bytes",
    "find_tumors",
    "integer_labels",
    "load_ct",
    "load_image",
    "load_labels",
    "max_diameter_mm",
    "merge_totalsegmentator_liver_vessels",
    "resample_ct",
    "resample_labels",
    "resample_to_grid",
    "resample_to_volume",
    "save_nifti",
    "select_target",
    "simulation_grid",
]
