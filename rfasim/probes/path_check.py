"""The whole needle path, from the skin entry to the tip, checked on the full label map.

:func:`rfasim.probes.check_trajectories` looks at the simulation grid only, a box a few cm
around the tumor; a needle crossing the aorta or the lung on its way in lies mostly outside it.
:func:`check_needle_paths` follows each probe's straight path from ``entry_mm`` (or, given only a
direction, from where the line enters the image) to the tip on the input image's own voxel
grid (any orientation and spacing) and reports, per probe:

- every large vessel it crosses, with the vessel's calibre there (twice the largest inscribed
  radius of that vessel near the crossing, from a Euclidean distance transform in world mm);
- every forbidden structure it crosses (with the label code, so that the user can tell which);
- every other tumor it passes through (needle-track seeding, and that tumor's own ablation);
- how many times it enters the liver (crossing the capsule), robust to one-voxel gaps in the
  labels: a gap along the path no longer than 1.5 voxel edges does not count as leaving the
  liver, and a vessel lies in the liver only when liver surrounds it along the path (the vena
  cava beside the liver is not a second entry);
- with a CT: unlabelled bone (ribs) and aerated lung it crosses, from the Hounsfield bands of
  :mod:`rfasim.imaging.body`;
- whether each crossing lies inside the simulated region.

The path is sampled every quarter of the smallest voxel edge; each sample takes its voxel's class
(nearest voxel centre).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from rfasim.grid import Grid
from rfasim.imaging.io import apply_affine
from rfasim.probes.placement import ProbePlacement
from rfasim.tissue import TissueClass

#: Gaps in the liver along the path up to this many voxel edges are label noise, not a way out.
LIVER_GAP_VOXELS = 1.5
#: Vessels at least this wide (mm) are large vessels (significant heat sinks, dangerous to cross;
#: docs/parameters.md, vessel calibre).  Smaller labelled vessels are reported as small.
LARGE_VESSEL_CALIBRE_MM = 3.0
#: Unlabelled bone or lung on the CT counts as a crossing from this length along the path (mm):
#: shorter runs are partial volumes at an interface.
CT_RUN_MINIMUM_MM = 2.0
#: Radius (mm) around a crossing within which the vessel's calibre is measured.
CALIBRE_SEARCH_RADIUS_MM = 12.0


@dataclass
class PathCrossing:
    """Where a needle path enters a structure.

    Attributes
    ----------
    point_mm : list of float
        World RAS point (mm) where the path enters it.
    length_mm : float
        Length of the path inside it (mm).
    inside_simulated_region : bool
        Whether the point lies in the simulation grid.
    calibre_mm : float or None
        Vessels: the vessel's calibre at the crossing (mm).
    label_code : int or None
        The input label code there (forbidden structures).
    tumor_id : int or None
        Other tumors: the tumor's id.
    """

    point_mm: list[float]
    length_mm: float
    inside_simulated_region: bool
    calibre_mm: float | None = None
    label_code: int | None = None
    tumor_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """For ``metrics.json`` (None fields left out)."""
        return {key: value for key, value in vars(self).items() if value is not None}


@dataclass
class NeedlePath:
    """One probe's whole path (see the module docstring)."""

    label: str
    entry_mm: list[float]
    tip_mm: list[float]
    entry_given: bool
    path_length_mm: float
    liver_entries: int
    vessel_crossings: list[PathCrossing] = field(default_factory=list)
    forbidden_crossings: list[PathCrossing] = field(default_factory=list)
    other_tumor_crossings: list[PathCrossing] = field(default_factory=list)
    bone_crossings: list[PathCrossing] = field(default_factory=list)
    lung_crossings: list[PathCrossing] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The probe's entry in ``metrics.json`` ``needle_paths``."""
        return {
            "label": self.label,
            "entry_mm": self.entry_mm,
            "tip_mm": self.tip_mm,
            "entry_given": self.entry_given,
            "path_length_mm": self.path_length_mm,
            "liver_entries": self.liver_entries,
            "vessel_crossings": [c.as_dict() for c in self.vessel_crossings],
            "forbidden_crossings": [c.as_dict() for c in self.forbidden_crossings],
            "other_tumor_crossings": [c.as_dict() for c in self.other_tumor_crossings],
            "bone_crossings": [c.as_dict() for c in self.bone_crossings],
            "lung_crossings": [c.as_dict() for c in self.lung_crossings],
            "ok": not self.warnings,
        }


def _format(point: Sequence[float]) -> str:
    return "[" + ", ".join(f"{value:.1f}" for value in point) + "]"


def _runs(inside: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` sample ranges where ``inside`` is True."""
    padded = np.concatenate([[False], inside, [False]]).astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    return list(zip(changes[::2].tolist(), changes[1::2].tolist(), strict=True))


def _close_gaps(inside: np.ndarray, longest_gap: int) -> np.ndarray:
    """``inside`` with False runs of at most ``longest_gap`` samples between two True runs filled."""
    closed = inside.copy()
    runs = _runs(inside)
    for (_, stop), (start, _) in zip(runs[:-1], runs[1:], strict=True):
        if start - stop <= longest_gap:
            closed[stop:start] = True
    return closed


def _liver_along_path(classes: np.ndarray, gap_samples: int) -> np.ndarray:
    """Samples that lie in the liver: liver or tumor, vessels surrounded by it, small gaps closed."""
    liver = np.isin(classes, (TissueClass.LIVER, TissueClass.TUMOR))
    vessel = classes == TissueClass.VESSEL
    for start, stop in _runs(vessel):
        before = liver[start - 1] if start > 0 else False
        after = liver[stop] if stop < liver.size else False
        if before and after:
            liver[start:stop] = True
    return _close_gaps(liver, gap_samples)


def _path_start(placement: ProbePlacement, affine: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, bool]:
    """The entry point, or where the line through the tip leaves the image going backwards."""
    if placement.entry_mm is not None:
        return np.asarray(placement.entry_mm, dtype=float), True
    direction = placement.geometry().direction
    tip = placement.geometry().tip_mm
    inverse = np.linalg.inv(affine)
    start_index = apply_affine(inverse, tip)
    step_index = inverse[:3, :3] @ (-direction)
    upper = np.asarray(shape, dtype=float) - 0.5
    limits = []
    for axis in range(3):
        if abs(step_index[axis]) < 1e-12:
            continue
        bound = upper[axis] if step_index[axis] > 0 else -0.5
        limits.append((bound - start_index[axis]) / step_index[axis])
    length = max(0.0, min(limits)) if limits else 0.0
    return tip - length * direction, False


def _calibre_mm(vessel: np.ndarray, affine: np.ndarray, spacing: np.ndarray, sample_indices: np.ndarray) -> float:
    """Calibre (mm) of the vessel the samples (voxel indices, (n, 3)) cross: 2 x largest inscribed radius nearby."""
    middle = sample_indices[len(sample_indices) // 2]
    chord_mm = float(np.linalg.norm((sample_indices[-1] - sample_indices[0]) * spacing))
    radius_mm = max(CALIBRE_SEARCH_RADIUS_MM, chord_mm)
    half = np.ceil(radius_mm / spacing).astype(int) + 1
    low = np.maximum(middle - half, 0)
    high = np.minimum(middle + half + 1, vessel.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
    crop = np.pad(vessel[box], 1)  # outside the image counts as not vessel
    components, _ = ndimage.label(crop)
    local = sample_indices - low + 1
    local = local[np.all((local >= 0) & (local < crop.shape), axis=1)]
    ids = components[tuple(local.T)]
    ids = ids[ids > 0]
    if ids.size == 0:
        return float("nan")
    member = components == np.bincount(ids).argmax()
    distance = ndimage.distance_transform_edt(member, sampling=spacing)
    grid_index = np.indices(crop.shape).reshape(3, -1).T
    offsets = (grid_index - (middle - low + 1)) * spacing
    near = (np.einsum("ij,ij->i", offsets, offsets) <= radius_mm**2).reshape(crop.shape)
    inscribed = float(distance[member & near].max())
    # From the innermost voxel centre, the nearest outside voxel centre of a voxelised cylinder of
    # radius r lies 0.1 to 0.6 voxel short of r (the innermost centre is off the axis): add a
    # quarter voxel per side (checked on voxelised cylinders, tests/probes/test_path_check.py).
    return 2.0 * inscribed + 0.5 * float(np.mean(spacing))


def check_needle_paths(
    placements: Sequence[ProbePlacement],
    classes: np.ndarray,
    affine: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    tumor_ids: np.ndarray | None = None,
    target_id: int | None = None,
    grid: Grid | None = None,
    ct_hu: np.ndarray | None = None,
) -> list[NeedlePath]:
    """Check each probe's whole path on the full label map (see the module docstring).

    Parameters
    ----------
    placements : sequence of ProbePlacement
        The probes, world RAS mm.
    classes : ndarray of uint8
        :class:`~rfasim.tissue.TissueClass` per voxel of the input image.
    affine : ndarray, shape (4, 4)
        The input image's voxel-to-world (RAS mm) matrix.
    labels : ndarray of int, optional
        The input label codes (reported for forbidden crossings).
    tumor_ids : ndarray of int, optional
        Tumor id per voxel (0 elsewhere), as numbered by :func:`rfasim.imaging.find_tumors`.
    target_id : int, optional
        The planned tumor (crossing it is the point, not a warning).
    grid : Grid, optional
        The simulation grid (to say whether a crossing lies inside the simulated region).
    ct_hu : ndarray, optional
        The CT (HU) on the label map's grid: unlabelled voxels on the path that are bone
        (:data:`rfasim.imaging.body.HU_BANDS`) or aerated lung, over at least
        :data:`CT_RUN_MINIMUM_MM`, are reported too (ribs, the lung base: pneumothorax).

    Returns
    -------
    list of NeedlePath
        One per probe, with its warnings (plain sentences).
    """
    classes = np.asarray(classes)
    affine = np.asarray(affine, dtype=float)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    step = 0.25 * float(spacing.min())
    gap_samples = int(np.floor(LIVER_GAP_VOXELS * float(spacing.max()) / step))
    inverse = np.linalg.inv(affine)
    vessel_mask = classes == TissueClass.VESSEL
    paths = []
    for number, placement in enumerate(placements, start=1):
        label = placement.label
        if label == f"probe ({placement.model.name})":
            label = f"probe {number} ({placement.model.name})"
        tip = np.asarray(placement.geometry().tip_mm, dtype=float)
        start, given = _path_start(placement, affine, classes.shape)
        length = float(np.linalg.norm(tip - start))
        count = max(2, int(np.ceil(length / step)) + 1)
        points = start + np.linspace(0.0, 1.0, count)[:, None] * (tip - start)
        index = np.rint(apply_affine(inverse, points)).astype(int)
        on_image = np.all((index >= 0) & (index < np.asarray(classes.shape)), axis=1)
        clipped = np.clip(index, 0, np.asarray(classes.shape) - 1)
        sampled = np.where(on_image, classes[tuple(clipped.T)], TissueClass.BACKGROUND)
        sample_step = length / max(count - 1, 1)

        def inside_grid(point: np.ndarray) -> bool:
            if grid is None:
                return False
            position = grid.world_to_index(point)
            return bool(np.all((position >= -0.5) & (position <= np.asarray(grid.shape) - 0.5)))

        def crossing(start_sample: int, stop_sample: int, points: np.ndarray = points,
                     sample_step: float = sample_step, **extra: Any) -> PathCrossing:
            point = points[start_sample]
            return PathCrossing(
                point_mm=[round(float(v), 2) for v in point],
                length_mm=round((stop_sample - start_sample) * sample_step, 2),
                inside_simulated_region=inside_grid(point), **extra,
            )

        path = NeedlePath(
            label=label, entry_mm=[round(float(v), 2) for v in start], tip_mm=[round(float(v), 2) for v in tip],
            entry_given=given, path_length_mm=round(length, 2),
            liver_entries=len(_runs(_liver_along_path(sampled, gap_samples))),
        )
        for run_start, run_stop in _runs(sampled == TissueClass.VESSEL):
            calibre = _calibre_mm(vessel_mask, affine, spacing, clipped[run_start:run_stop])
            path.vessel_crossings.append(crossing(run_start, run_stop, calibre_mm=round(calibre, 1)))
        for run_start, run_stop in _runs(sampled == TissueClass.FORBIDDEN):
            code = int(labels[tuple(clipped[run_start])]) if labels is not None else None
            path.forbidden_crossings.append(crossing(run_start, run_stop, label_code=code))
        if tumor_ids is not None:
            ids = np.where(on_image, np.asarray(tumor_ids)[tuple(clipped.T)], 0)
            for tumor_id in sorted(set(ids[ids > 0].tolist()) - {target_id}):
                for run_start, run_stop in _runs(ids == tumor_id):
                    path.other_tumor_crossings.append(crossing(run_start, run_stop, tumor_id=int(tumor_id)))
        if ct_hu is not None:
            from rfasim.imaging.body import classify_hu

            unlabelled = on_image & (sampled == TissueClass.BACKGROUND)
            found = np.where(unlabelled, classify_hu(np.asarray(ct_hu)[tuple(clipped.T)]), TissueClass.BACKGROUND)
            shortest = CT_RUN_MINIMUM_MM / max(sample_step, 1e-9)
            for tissue_class, crossings in ((TissueClass.BONE, path.bone_crossings),
                                            (TissueClass.LUNG, path.lung_crossings)):
                for run_start, run_stop in _runs(found == tissue_class):
                    if run_stop - run_start >= shortest:
                        crossings.append(crossing(run_start, run_stop))
        path.warnings = _warnings(path)
        paths.append(path)
    return paths


def _where(crossing: PathCrossing) -> str:
    return "" if crossing.inside_simulated_region else ", outside the simulated region"


def _warnings(path: NeedlePath) -> list[str]:
    warnings = []
    for crossing in path.vessel_crossings:
        calibre = crossing.calibre_mm
        size = "large" if calibre is None or not np.isfinite(calibre) or calibre >= LARGE_VESSEL_CALIBRE_MM else "small"
        shown = "" if calibre is None or not np.isfinite(calibre) else f" ({calibre:.1f} mm calibre)"
        warnings.append(f"{path.label}: path crosses a {size} vessel{shown} at {_format(crossing.point_mm)} mm"
                        f"{_where(crossing)}")
    for crossing in path.forbidden_crossings:
        code = "" if crossing.label_code is None else f" (label {crossing.label_code})"
        warnings.append(f"{path.label}: path crosses a forbidden structure{code} at {_format(crossing.point_mm)} mm"
                        f"{_where(crossing)}")
    for crossing in path.other_tumor_crossings:
        warnings.append(f"{path.label}: path passes through tumor {crossing.tumor_id} at "
                        f"{_format(crossing.point_mm)} mm (needle-track seeding){_where(crossing)}")
    for crossing in path.bone_crossings:
        warnings.append(f"{path.label}: path crosses bone (unlabelled, CT >= 400 HU) at {_format(crossing.point_mm)} mm"
                        f"{_where(crossing)}")
    for crossing in path.lung_crossings:
        warnings.append(f"{path.label}: path crosses aerated lung (unlabelled, CT -950 to -190 HU) at "
                        f"{_format(crossing.point_mm)} mm (pneumothorax risk){_where(crossing)}")
    if path.liver_entries > 1:
        warnings.append(f"{path.label}: path crosses the liver capsule {path.liver_entries} times "
                        f"(enters the liver {path.liver_entries} times)")
    return warnings


def tumor_id_map(tumors: Sequence[Any], shape: Sequence[int]) -> np.ndarray:
    """Tumor id per voxel of the input image (0 elsewhere), from :func:`rfasim.imaging.find_tumors`'s tumors."""
    ids = np.zeros(tuple(shape), dtype=np.int32)
    for tumor in tumors:
        start = tumor.box_start
        box = tuple(slice(s, s + n) for s, n in zip(start, tumor.box_mask.shape, strict=True))
        ids[box][tumor.box_mask] = tumor.id
    return ids


def needle_path_report(placements: Sequence[ProbePlacement], classes: np.ndarray, labels: Any, tumors: Sequence[Any],
                       target: Any, grid: Grid | None, ct: Any = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Warnings and the ``metrics.json`` ``needle_paths`` entries of :func:`check_needle_paths`.

    Parameters
    ----------
    placements : sequence of ProbePlacement
    classes : ndarray of uint8
        Tissue classes of the input image.
    labels : rfasim.imaging.Volume
        The input label map (codes and affine).
    tumors : sequence of Tumor
        All tumors of the label map; ``target`` is the planned one.
    grid : Grid or None
        The simulation grid.
    ct : rfasim.imaging.Volume, optional
        The CT, on the label map's grid (bone and lung on the path).
    """
    paths = check_needle_paths(
        placements, classes, labels.affine, labels=labels.data, tumor_ids=tumor_id_map(tumors, classes.shape),
        target_id=int(target.id), grid=grid, ct_hu=None if ct is None else ct.data,
    )
    return [w for path in paths for w in path.warnings], [path.as_dict() for path in paths]
