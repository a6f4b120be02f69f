"""Off-screen rendering set-up: find an OpenGL context that works on this machine, once.

VTK 9.4+ wheels choose their OpenGL window at run time: an X window when a display is reachable,
else EGL (GPU, or Mesa's llvmpipe software renderer through ``libEGL``), else OSMesa.  On a Linux
machine without a display the X attempt fails with a noisy warning before EGL is used, and when
no OpenGL library is present at all VTK may abort the process.  So the first render of a process
is tried in a child process, in this order:

1. ``egl``: ``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow`` (headless, no X);
2. ``default``: whatever VTK picks (an X display when ``DISPLAY`` is set, OSMesa);
3. ``xvfb``: ``pyvista.start_xvfb()`` when the ``Xvfb`` program is installed.

The first that renders a non-blank image is used in this process.  If none does,
:class:`RenderingUnavailableError` is raised, which a plan catches and reports as a warning.
Set ``RFASIM_RENDERING_BACKEND`` to one of the names above (or ``none``) to skip the search.
:func:`prefetch_rendering_backend` starts the trial renders in the background, so that a
program that renders only at its end (the demo) does not wait for them then.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field

from rfasim.errors import RfasimError

#: Backends tried in order by :func:`rendering_backend`.
BACKENDS = ("egl", "default", "xvfb")

_PROBE_SCRIPT = """
import sys
if sys.argv[1] == "xvfb":
    import pyvista
    pyvista.start_xvfb()
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (registers the OpenGL windows)
from vtkmodules.vtkFiltersSources import vtkSphereSource
from vtkmodules.vtkIOImage import vtkPNGWriter  # noqa: F401
from vtkmodules.vtkRenderingCore import (
    vtkActor, vtkPolyDataMapper, vtkRenderer, vtkRenderWindow, vtkWindowToImageFilter,
)
source = vtkSphereSource()
mapper = vtkPolyDataMapper()
mapper.SetInputConnection(source.GetOutputPort())
actor = vtkActor()
actor.SetMapper(mapper)
renderer = vtkRenderer()
renderer.AddActor(actor)
window = vtkRenderWindow()
window.SetOffScreenRendering(1)
window.SetSize(64, 48)
window.AddRenderer(renderer)
window.Render()
capture = vtkWindowToImageFilter()
capture.SetInput(window)
capture.Update()
low, high = capture.GetOutput().GetPointData().GetScalars().GetRange()
print(window.GetClassName(), "renders" if high > low else "blank")
"""


@dataclass
class _BackendChoice:
    """The process's rendering backend, chosen once: its name, or why none renders.

    ``trials`` is the background search of :func:`prefetch_rendering_backend` while it runs (or
    until :func:`rendering_backend` collects it); ``found`` receives its outcome.
    """

    backend: str | None = None
    failure: str | None = None
    trials: threading.Thread | None = None
    found: dict[str, tuple[str | None, list[str]]] = field(default_factory=dict)


_choice = _BackendChoice()


class RenderingUnavailableError(RfasimError, RuntimeError):
    """No OpenGL context can be made here, so no 3D image can be rendered.

    The plan should catch it, skip ``scene.png`` and add the message to its warnings.
    """


def _environment_for(backend: str) -> dict[str, str]:
    environment = dict(os.environ)
    if backend == "egl":
        environment["VTK_DEFAULT_OPENGL_WINDOW"] = "vtkEGLRenderWindow"
    return environment


def _probe(backend: str, timeout_s: float) -> str:
    """Render a sphere with ``backend`` in a child process; return '' on success, else why not."""
    if backend == "xvfb" and shutil.which("Xvfb") is None:
        return "xvfb: the Xvfb program is not installed"
    try:
        completed = subprocess.run(
            [sys.executable, "-c", _PROBE_SCRIPT, backend],
            env=_environment_for(backend),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{backend}: {error}"
    if completed.returncode == 0 and completed.stdout.strip().endswith("renders"):
        return ""
    last_line = (
        completed.stderr.strip().splitlines() or [completed.stdout.strip() or "no output"]
    )[-1]
    return f"{backend}: exit {completed.returncode}: {last_line[:200]}"


def _activate(backend: str) -> None:
    import pyvista

    if backend == "egl":
        # No display: every window of this process is off-screen.
        pyvista.OFF_SCREEN = True
        os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = "vtkEGLRenderWindow"
    elif backend == "xvfb":
        pyvista.OFF_SCREEN = True
        pyvista.start_xvfb()


def _candidates() -> tuple[str, ...] | None:
    """The backends to try, in order (``RFASIM_RENDERING_BACKEND`` may name one); None: rendering disabled."""
    requested = os.environ.get("RFASIM_RENDERING_BACKEND", "").strip().lower()
    if requested == "none":
        return None
    return (requested,) if requested in BACKENDS else BACKENDS


def _find(candidates: tuple[str, ...], timeout_s: float) -> tuple[str | None, list[str]]:
    """The first backend whose trial render works (None if none does) and why the others failed."""
    reasons: list[str] = []
    for backend in candidates:
        reason = _probe(backend, timeout_s)
        if not reason:
            return backend, reasons
        reasons.append(reason)
    return None, reasons


def prefetch_rendering_backend(timeout_s: float = 60.0) -> None:
    """Start :func:`rendering_backend`'s trial renders in a background thread (each in a child process).

    :func:`rendering_backend` then waits for them instead of running them; nothing is activated
    in this process until it is called.  Does nothing when the backend is already known, the
    trials already run, or rendering is disabled.

    Parameters
    ----------
    timeout_s : float
        Longest wait (s) for each trial render.
    """
    candidates = _candidates()
    if _choice.backend is not None or _choice.failure is not None or _choice.trials is not None or candidates is None:
        return

    def search() -> None:
        _choice.found["outcome"] = _find(candidates, timeout_s)

    # A daemon: a program that ends without rendering does not wait for the trials.
    _choice.trials = threading.Thread(target=search, name="rfasim-rendering-trials", daemon=True)
    _choice.trials.start()


def rendering_backend(timeout_s: float = 60.0) -> str:
    """Name of the off-screen backend that works here (see the module docstring), found once.

    Parameters
    ----------
    timeout_s : float
        Longest wait (s) for each trial render.

    Returns
    -------
    str
        ``"egl"``, ``"default"`` or ``"xvfb"``.

    Raises
    ------
    RenderingUnavailableError
        When no backend renders (the message lists why each failed).

    Examples
    --------
    >>> rendering_backend() in BACKENDS  # doctest: +SKIP
    True
    """
    if _choice.backend is not None:
        return _choice.backend
    if _choice.failure is not None:
        raise RenderingUnavailableError(_choice.failure)
    candidates = _candidates()
    if candidates is None:
        _choice.failure = "3D rendering disabled by RFASIM_RENDERING_BACKEND=none"
        raise RenderingUnavailableError(_choice.failure)
    if _choice.trials is not None:  # started by prefetch_rendering_backend
        _choice.trials.join()
        _choice.trials = None
    found = _choice.found.pop("outcome", None)
    backend, reasons = found if found is not None else _find(candidates, timeout_s)
    if backend is not None:
        _activate(backend)
        _choice.backend = backend
        return backend
    _choice.failure = (
        "no off-screen OpenGL context for 3D rendering (" + "; ".join(reasons) + ")"
    )
    raise RenderingUnavailableError(_choice.failure)


def rendering_available() -> bool:
    """Whether :func:`rendering_backend` finds a working backend (never raises).

    Returns
    -------
    bool
        True when 3D images can be rendered off-screen in this process.
    """
    try:
        rendering_backend()
    except RenderingUnavailableError:
        return False
    return True
