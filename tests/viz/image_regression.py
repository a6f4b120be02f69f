"""Image regression against small cached canonical images (``tests/viz/image_cache``).

Images are compared as greyscale downsampled to the cached size, by mean absolute difference.
Regenerate the cache after an intended change with ``RFASIM_REGENERATE_IMAGES=1 pytest tests/viz``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

IMAGE_CACHE = Path(__file__).parent / "image_cache"
CACHED_WIDTH_PX = 200
#: Mean absolute difference (grey levels, 0-255) allowed between a render and its cached image.
IMAGE_TOLERANCE = 4.0


def image_difference(image_path: Path, cached_path: Path) -> float:
    """Mean absolute difference of two images as downsampled greyscale (0-255)."""
    from PIL import Image

    cached = Image.open(cached_path).convert("L")
    rendered = Image.open(image_path).convert("L").resize(cached.size, Image.Resampling.LANCZOS)
    return float(np.abs(np.asarray(rendered, dtype=float) - np.asarray(cached, dtype=float)).mean())


def _store_cached(image_path: Path, cached_path: Path) -> None:
    from PIL import Image

    image = Image.open(image_path).convert("L")
    height = max(1, round(image.height * CACHED_WIDTH_PX / image.width))
    cached_path.parent.mkdir(parents=True, exist_ok=True)
    image.resize((CACHED_WIDTH_PX, height), Image.Resampling.LANCZOS).save(
        cached_path, optimize=True
    )


def regenerating() -> bool:
    """Whether this run rewrites the cache instead of comparing."""
    return os.environ.get("RFASIM_REGENERATE_IMAGES") == "1"


def compare_with_cache(image_path: Path, name: str) -> float:
    """Assert the image matches ``image_cache/name.png`` (or store it when regenerating)."""
    cached_path = IMAGE_CACHE / f"{name}.png"
    if regenerating():
        _store_cached(image_path, cached_path)
        return 0.0
    assert cached_path.exists(), (
        f"no cached image {cached_path.name}; regenerate with RFASIM_REGENERATE_IMAGES=1 pytest tests/viz"
    )
    difference = image_difference(image_path, cached_path)
    assert difference <= IMAGE_TOLERANCE, (
        f"{image_path.name} differs from image_cache/{cached_path.name} by {difference:.2f} grey levels "
        f"(tolerance {IMAGE_TOLERANCE}); if the change is intended: RFASIM_REGENERATE_IMAGES=1 pytest tests/viz"
    )
    return difference
