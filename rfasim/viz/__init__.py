"""Visualisation of plans: 3D scene (PyVista), slices and plots (matplotlib), animations.

Nothing is imported until used: ``import rfasim.viz`` loads neither matplotlib nor PyVista/VTK,
so the solver runs on machines without a display or VTK.

Public API
----------
- :func:`build_scene`, :func:`render_scene_png`, :func:`show` (3D, PyVista)
- :func:`plot_summary`, :func:`plot_slice`, :class:`SlicePlane` (slices, matplotlib)
- :func:`plot_generator` (power, impedance, tip temperature against time)
- :func:`animate_heating` (GIF or MP4 of the heating)
- :func:`rendering_backend`, :func:`rendering_available`, :class:`RenderingUnavailableError`
  (headless OpenGL set-up, see :mod:`rfasim.viz.rendering`)

Examples
--------
>>> from rfasim import viz  # doctest: +SKIP
>>> viz.plot_summary(plan, "plan/summary.png")  # doctest: +SKIP
>>> try:  # doctest: +SKIP
...     viz.render_scene_png(plan, "plan/scene.png")
... except viz.RenderingUnavailableError as error:
...     warnings.append(f"scene.png not written: {error}")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "build_scene": "rfasim.viz.scene",
    "render_scene_png": "rfasim.viz.scene",
    "show": "rfasim.viz.scene",
    "mask_surface": "rfasim.viz.scene",
    "margin_colormap": "rfasim.viz.scene",
    "default_camera": "rfasim.viz.scene",
    "plot_summary": "rfasim.viz.slices",
    "plot_slice": "rfasim.viz.slices",
    "SlicePlane": "rfasim.viz.slices",
    "plot_generator": "rfasim.viz.timeseries",
    "animate_heating": "rfasim.viz.animation",
    "rendering_backend": "rfasim.viz.rendering",
    "rendering_available": "rfasim.viz.rendering",
    "RenderingUnavailableError": "rfasim.viz.rendering",
}

__all__ = [
    "RenderingUnavailableError",
    "SlicePlane",
    "animate_heating",
    "build_scene",
    "default_camera",
    "margin_colormap",
    "mask_surface",
    "plot_generator",
    "plot_slice",
    "plot_summary",
    "render_scene_png",
    "rendering_available",
    "rendering_backend",
    "show",
]

if TYPE_CHECKING:
    from rfasim.viz.animation import animate_heating
    from rfasim.viz.rendering import (
        RenderingUnavailableError,
        rendering_available,
        rendering_backend,
    )
    from rfasim.viz.scene import (
        build_scene,
        default_camera,
        margin_colormap,
        mask_surface,
        render_scene_png,
        show,
    )
    from rfasim.viz.slices import SlicePlane, plot_slice, plot_summary
    from rfasim.viz.timeseries import plot_generator


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rfasim.viz' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
