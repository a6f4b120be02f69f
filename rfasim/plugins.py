"""Extensions found at run time: generator modes, damage models, zone criteria, probes.

Each extensible kind keeps one registry (``rfasim.generators.GENERATOR_MODES``,
``rfasim.physics.damage.DAMAGE_MODELS``, ...), filled by a class decorator when the module that
defines the class is imported.  A new one therefore lives in one new file; rfasim imports it
from any of:

- the environment variable ``RFASIM_PLUGINS``: module names or ``.py`` file paths, separated
  by the platform's path separator (``:`` on Linux/macOS);
- the ``rfasim.plugins`` entry-point group of an installed package;
- an explicit :func:`load_plugins` call with the module names or paths.

Probe models are data, not code: a new probe is one TOML file, in the catalog folder or in a
folder named by ``RFASIM_PROBE_PATH`` (see :mod:`rfasim.probes.catalog`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

ENTRY_POINT_GROUP = "rfasim.plugins"
ENVIRONMENT_VARIABLE = "RFASIM_PLUGINS"

_loaded: set[str] = set()
#: The entry points of the group, read once per process (scanning the installed distributions
#: costs ~30 ms, and every registry lookup calls :func:`load_plugins`).
_entry_points: list[metadata.EntryPoint] | None = None


def _import(reference: str) -> None:
    path = Path(reference)
    if reference.endswith(".py"):
        if not path.is_file():
            raise ImportError(f"{ENVIRONMENT_VARIABLE}: plugin file {reference!r} does not exist")
        name = f"rfasim_plugin_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:  # pragma: no cover - only for odd loaders
            raise ImportError(f"cannot load plugin file {reference!r}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    else:
        importlib.import_module(reference)


def load_plugins(references: Iterable[str] = ()) -> None:
    """Import every plugin named by ``references``, ``RFASIM_PLUGINS`` and the entry points, once each.

    Parameters
    ----------
    references : iterable of str
        Extra module names or ``.py`` paths.

    Raises
    ------
    ImportError
        When a named plugin cannot be imported (the message names it).
    """
    wanted = list(references)
    wanted += [item for item in os.environ.get(ENVIRONMENT_VARIABLE, "").split(os.pathsep) if item.strip()]
    for reference in wanted:
        key = str(Path(reference).resolve()) if reference.endswith(".py") else reference
        if key in _loaded:
            continue
        _import(reference)
        _loaded.add(key)
    global _entry_points
    if _entry_points is None:
        _entry_points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    for entry_point in _entry_points:
        key = f"entry-point:{entry_point.value}"
        if key not in _loaded:
            entry_point.load()
            _loaded.add(key)
