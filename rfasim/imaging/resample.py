"""From the patient image to the simulation grid and back.

The simulation runs on an isotropic, world-axis-aligned :class:`rfasim.grid.Grid` covering a
region of interest (tumor and probes plus a margin).  Images of any orientation and spacing are
sampled onto it through the composed affine (world mm of each grid voxel centre, mapped to the
image's continuous voxel indices), and results are sampled back onto the input image's own voxel
grid, so that an output has exactly the input labels' shape and affine.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from rfasim.errors import ImageError, ResourceError
from rfasim.grid import Grid
from rfasim.imaging.io import Volume, apply_affine, corner_points_mm

#: Hounsfield units of air, the CT value outside the image.
AIR_HU = -1000.0
#: Rough memory a simulation needs per grid voxel (bytes): fields, properties, solver work space.
DEFAULT_BYTES_PER_VOXEL = 200
#: Largest number of voxels sampled in one block (bounds the temporary coordinate arrays).
_BLOCK_VOXELS = 2_000_000


def simulation_grid(
    volume_affine: np.ndarray,
    volume_shape: Sequence[int],
    points_of_interest_mm: np.ndarray,
    margin_mm: float,
    spacing_mm: float,
) -> Grid:
    """The simulation grid around points of interest, clipped to the image.

    Parameters
    ----------
    volume_affine : numpy.ndarray
        4x4 voxel-to-world (RAS+ mm) matrix of the input image.
    volume_shape : sequence of int
        Shape of the input image.
    points_of_interest_mm : numpy.ndarray
        World RAS+ mm points the grid must cover, shape ``(n, 3)``: the tumor's bounding-box
        corners and points along the probes' active parts.
    margin_mm : float
        Added around the points' bounding box on every side (mm).
    spacing_mm : float
        Isotropic voxel edge of the grid (mm).

    Returns
    -------
    Grid
        World-axis-aligned, centred on the (clipped) region; the box is clipped to the image's
        world bounding box, since nothing is known outside the image.

    Raises
    ------
    ImageError
        The region of interest lies entirely outside the image.
    ValueError
        Non-positive spacing, negative margin, no points.
    """
    if not (math.isfinite(spacing_mm) and spacing_mm > 0):
        raise ValueError(f"spacing_mm must be positive, got {spacing_mm}")
    if not (math.isfinite(margin_mm) and margin_mm >= 0):
        raise ValueError(f"margin_mm must be non-negative, got {margin_mm}")
    points = np.asarray(points_of_interest_mm, dtype=float).reshape(-1, 3)
    if points.size == 0 or not np.all(np.isfinite(points)):
        raise ValueError("points_of_interest_mm must hold at least one finite point (world mm)")
    low = points.min(axis=0) - margin_mm
    high = points.max(axis=0) + margin_mm
    image_corners = corner_points_mm(np.asarray(volume_affine, dtype=float), volume_shape)
    low = np.maximum(low, image_corners.min(axis=0))
    high = np.minimum(high, image_corners.max(axis=0))
    if np.any(high <= low):
        raise ImageError("the region of interest (tumor and probes) lies outside the image")
    extent = high - low
    size_i, size_j, size_k = (max(3, math.ceil(float(e) / spacing_mm - 1e-9) + 1) for e in extent)
    shape = (size_i, size_j, size_k)
    centre = (low + high) / 2.0
    origin_i, origin_j, origin_k = (
        float(c) for c in centre - spacing_mm * (np.asarray(shape) - 1) / 2.0
    )
    return Grid(shape, spacing_mm, (origin_i, origin_j, origin_k))


def resample_to_grid(
    data: np.ndarray,
    affine: np.ndarray,
    grid: Grid,
    order: int,
    fill: float | None = None,
) -> np.ndarray:
    """Sample an image at the simulation grid's voxel centres.

    Parameters
    ----------
    data : numpy.ndarray
        3D image.
    affine : numpy.ndarray
        Its 4x4 voxel-to-world (RAS+ mm) matrix.
    grid : Grid
        Target grid.
    order : {0, 1}
        0: nearest neighbour (labels; keeps the data type); 1: trilinear (CT, ``float32``).
    fill : float, optional
        Value outside the image; default 0 (background) for ``order=0`` and -1000 HU (air) for
        ``order=1``.

    Returns
    -------
    numpy.ndarray
        Array of ``grid.shape``.
    """
    if order not in (0, 1):
        raise ValueError(f"order must be 0 (nearest) or 1 (linear), got {order}")
    if fill is None:
        fill = 0.0 if order == 0 else AIR_HU
    to_index = np.linalg.inv(np.asarray(affine, dtype=float)) @ grid.affine
    x, y, z = (np.arange(n, dtype=float) for n in grid.shape)
    return _sample(np.asarray(data), to_index, (x, y, z), grid.shape, order, fill)


def resample_labels(volume: Volume, grid: Grid) -> np.ndarray:
    """Label map (or tissue classes) on the grid: nearest neighbour, background outside.

    Parameters
    ----------
    volume : Volume
        Label map with its voxel-to-world RAS+ mm affine.
    grid : Grid
        Target grid (world mm).

    Returns
    -------
    numpy.ndarray, shape ``grid.shape``
        The codes at the grid's voxel centres; 0 outside the image.
    """
    return resample_to_grid(volume.data, volume.affine, grid, order=0, fill=0)


def resample_ct(volume: Volume, grid: Grid) -> np.ndarray:
    """CT (HU) on the grid: trilinear, -1000 HU (air) outside the image.

    Parameters
    ----------
    volume : Volume
        CT in HU with its voxel-to-world RAS+ mm affine.
    grid : Grid
        Target grid (world mm).

    Returns
    -------
    numpy.ndarray, shape ``grid.shape``
        HU at the grid's voxel centres.
    """
    return resample_to_grid(volume.data, volume.affine, grid, order=1, fill=AIR_HU)


def resample_to_volume(
    field: np.ndarray,
    grid: Grid,
    target_shape: Sequence[int],
    target_affine: np.ndarray,
    order: int = 1,
    fill: float = 0.0,
) -> np.ndarray:
    """Map a simulation result back onto the input image's voxel grid.

    Parameters
    ----------
    field : numpy.ndarray
        Array of ``grid.shape`` (temperature, damage, zone...).
    grid : Grid
        The grid it lives on.
    target_shape : sequence of int
        Shape of the input label image.
    target_affine : numpy.ndarray
        4x4 voxel-to-world (RAS+ mm) matrix of the input label image.
    order : {0, 1}
        0: nearest neighbour (masks, keeps the data type); 1: trilinear (``float32``).
    fill : float
        Value at voxels outside the simulation grid (e.g. 37.0 for temperature, 0 for a zone).

    Returns
    -------
    numpy.ndarray
        Array of ``target_shape``, to be saved with ``target_affine``.
    """
    if order not in (0, 1):
        raise ValueError(f"order must be 0 (nearest) or 1 (linear), got {order}")
    field = np.asarray(field)
    if field.shape != grid.shape:
        raise ValueError(f"field shape {field.shape} differs from grid shape {grid.shape}")
    to_index = np.linalg.inv(grid.affine) @ np.asarray(target_affine, dtype=float)
    axes = tuple(np.arange(int(n), dtype=float) for n in target_shape)
    return _sample(field, to_index, axes, tuple(int(n) for n in target_shape), order, fill)


def _axis_aligned(to_source_index: np.ndarray) -> bool:
    """Whether the 4x4 map's linear part is diagonal (exact zeros off the diagonal).

    Then each source index depends on one output index only, and the per-axis products
    ``axis * scale + offset`` are bit-for-bit the full matrix product's (a product by an exact zero
    adds nothing, fused or not).
    """
    linear = np.asarray(to_source_index, dtype=float)[:3, :3]
    return bool(np.all(linear[~np.eye(3, dtype=bool)] == 0.0))


def _sample_nearest_separable(
    source: np.ndarray,
    to_source_index: np.ndarray,
    axes: tuple[np.ndarray, ...],
    fill: float,
) -> np.ndarray:
    """Nearest-neighbour sampling through an axis-aligned map: one index vector per axis.

    The same values as the general path of :func:`_sample` (``order=0``), without the per-voxel
    coordinate arrays.
    """
    indices, valid = [], []
    for axis in range(3):
        coordinate = axes[axis] * to_source_index[axis, axis] + to_source_index[axis, 3]
        rounded = np.rint(coordinate).astype(np.int64)
        inside = (rounded >= 0) & (rounded < source.shape[axis])
        indices.append(np.where(inside, rounded, 0))
        valid.append(inside)
    output = source[np.ix_(*indices)]
    inside = valid[0][:, None, None] & valid[1][None, :, None] & valid[2][None, None, :]
    if not inside.all():
        output[~inside] = np.asarray(fill).astype(source.dtype)
    return output


def _sample_linear_separable(
    values: np.ndarray,
    to_source_index: np.ndarray,
    axes: tuple[np.ndarray, ...],
    fill: float,
) -> np.ndarray:
    """Trilinear sampling (``float32``) through an axis-aligned map, interpolating inside voxels only.

    An output voxel lies beyond the image (more than half a voxel past its outer centres) when
    one of its per-axis source indices does: those are ``fill`` without being interpolated, and
    the others get :func:`scipy.ndimage.map_coordinates`' values at the same source indices as
    the general path of :func:`_sample` (``order=1``), slab by slab.
    """
    kept, coordinates = [], []
    for axis in range(3):
        mapped = axes[axis] * to_source_index[axis, axis] + to_source_index[axis, 3]
        inside = (mapped >= -0.5) & (mapped <= values.shape[axis] - 0.5)
        kept.append(np.flatnonzero(inside))
        coordinates.append(mapped[inside])
    output = np.full(tuple(axis.size for axis in axes), np.float32(fill), dtype=np.float32)
    if any(index.size == 0 for index in kept):
        return output
    slab = max(1, _BLOCK_VOXELS // (kept[0].size * kept[1].size))
    for start in range(0, kept[2].size, slab):
        depth = coordinates[2][start : start + slab]
        points = np.empty((3, kept[0].size, kept[1].size, depth.size))
        points[0] = coordinates[0][:, None, None]
        points[1] = coordinates[1][None, :, None]
        points[2] = depth[None, None, :]
        block = ndimage.map_coordinates(values, points, order=1, mode="nearest")
        output[np.ix_(kept[0], kept[1], kept[2][start : start + slab])] = block
    return output


def _sample(
    source: np.ndarray,
    to_source_index: np.ndarray,
    axes: tuple[np.ndarray, ...],
    shape: tuple[int, ...],
    order: int,
    fill: float,
) -> np.ndarray:
    """Sample ``source`` at ``to_source_index @ [i, j, k, 1]`` for every output voxel, by slabs.

    An axis-aligned map takes the per-axis paths (:func:`_axis_aligned`), with the same values.
    """
    aligned = _axis_aligned(to_source_index)
    if order == 0:
        if aligned:
            return _sample_nearest_separable(source, to_source_index, axes, fill)
        dtype = source.dtype
        values = source
    else:
        dtype = np.dtype(np.float32)
        values = source.astype(np.float32, copy=False)
        if aligned:
            return _sample_linear_separable(values, to_source_index, axes, fill)
    output = np.empty(shape, dtype=dtype)
    plane = shape[0] * shape[1]
    slab = max(1, _BLOCK_VOXELS // max(plane, 1))
    ii, jj = np.meshgrid(axes[0], axes[1], indexing="ij")
    for start in range(0, shape[2], slab):
        kk = axes[2][start : start + slab]
        indices = np.stack(
            [
                np.broadcast_to(ii[:, :, None], (*ii.shape, kk.size)),
                np.broadcast_to(jj[:, :, None], (*jj.shape, kk.size)),
                np.broadcast_to(kk[None, None, :], (*ii.shape, kk.size)),
            ],
            axis=-1,
        )
        coordinates = apply_affine(to_source_index, indices)
        if order == 0:
            # Nearest neighbour with explicit rounding: no interpolation of label codes.
            rounded = np.rint(coordinates).astype(np.int64)
            inside = np.all((rounded >= 0) & (rounded < np.asarray(values.shape)), axis=-1)
            block = np.full(inside.shape, fill, dtype=dtype)
            hits = rounded[inside]
            block[inside] = values[hits[:, 0], hits[:, 1], hits[:, 2]]
        else:
            block = ndimage.map_coordinates(
                values, np.moveaxis(coordinates, -1, 0), order=1, mode="nearest"
            )
            # An image covers its voxels up to half a voxel beyond the outer centres; fill beyond.
            outside = np.any(
                (coordinates < -0.5) | (coordinates > np.asarray(values.shape) - 0.5), axis=-1
            )
            block = np.where(outside, np.float32(fill), block)
        output[:, :, start : start + slab] = block
    return output


def estimate_memory_bytes(grid: Grid, bytes_per_voxel: int = DEFAULT_BYTES_PER_VOXEL) -> int:
    """Rough memory (bytes) a simulation on ``grid`` needs: voxel count times ``bytes_per_voxel``.

    Parameters
    ----------
    grid : Grid
        The simulation grid.
    bytes_per_voxel : int
        Memory per voxel (bytes): fields, properties and solver work space.

    Returns
    -------
    int
        Estimated memory (bytes).
    """
    return int(grid.size) * int(bytes_per_voxel)


def available_memory_bytes() -> int | None:
    """Memory available to a new computation (bytes), or None when unknown.

    Reads ``MemAvailable`` from ``/proc/meminfo`` (Linux), else free physical pages from
    :func:`os.sysconf`.

    Returns
    -------
    int or None
        Available memory (bytes), or None when neither source answers.
    """
    try:
        with Path("/proc/meminfo").open(encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(
    grid: Grid,
    available_bytes: int | None = None,
    bytes_per_voxel: int = DEFAULT_BYTES_PER_VOXEL,
    margin_mm: float | None = None,
) -> int:
    """Raise :class:`ResourceError` when a simulation on ``grid`` would not fit in memory.

    Parameters
    ----------
    grid : Grid
        The planned simulation grid.
    available_bytes : int, optional
        Memory to fit in; default: what the machine has available now.
    bytes_per_voxel : int
        See :func:`estimate_memory_bytes`.
    margin_mm : float, optional
        The margin the grid was built with; when given, the message also says which smaller
        margin would fit at the same spacing.

    Returns
    -------
    int
        The estimated need in bytes (when it fits).
    """
    needed = estimate_memory_bytes(grid, bytes_per_voxel)
    if available_bytes is None:
        available_bytes = available_memory_bytes()
        if available_bytes is None:
            return needed
    if needed <= available_bytes:
        return needed
    ratio = (needed / max(available_bytes, 1)) ** (1.0 / 3.0)
    spacing_fit = math.ceil(grid.spacing_mm * ratio * 1.02 * 10.0) / 10.0
    advice = f"use spacing_mm >= {spacing_fit:.1f}"
    if margin_mm is not None and margin_mm > 0:
        margin_fit = _largest_margin_that_fits(grid, margin_mm, available_bytes, bytes_per_voxel)
        if margin_fit is not None:
            advice += f" or margin_mm <= {margin_fit:.0f}"
    raise ResourceError(
        f"grid spacing_mm = {grid.spacing_mm:g}: the simulation grid {grid.shape} needs about "
        f"{needed / 2**30:.1f} GiB but {available_bytes / 2**30:.1f} GiB is available; {advice}"
    )


def _largest_margin_that_fits(
    grid: Grid, margin_mm: float, available_bytes: int, bytes_per_voxel: int
) -> float | None:
    core_mm = np.maximum(
        np.asarray(grid.shape) * grid.spacing_mm - 2.0 * margin_mm, grid.spacing_mm
    )

    def need(margin: float) -> float:
        counts = np.ceil((core_mm + 2.0 * margin) / grid.spacing_mm) + 1
        return float(np.prod(counts)) * bytes_per_voxel

    if need(0.0) > available_bytes:
        return None
    low, high = 0.0, float(margin_mm)
    for _ in range(40):
        middle = (low + high) / 2.0
        if need(middle) <= available_bytes:
            low = middle
        else:
            high = middle
    return math.floor(low)
