"""Atomic file writes: write to a temporary file in the same folder, then rename.

A reader never sees a half-written result, and an interrupted run leaves no file that looks
complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps the final suffixes (``.nii.gz``, ``.png``) so that libraries that
    choose a format from the file name still do.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "a.txt") as temporary:
    ...     _ = temporary.write_text("hello")
    >>> (folder / "a.txt").read_text()
    'hello'
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(final.suffixes)
    handle, name = tempfile.mkstemp(prefix=f".{final.name}.{owner_tag()}.", suffix=f".partial{suffix}", dir=final.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp creates 0600 files; give results the usual permissions (0666 minus umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, final)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def write_with(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Call ``writer(temporary_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as temporary:
        writer(temporary)


#: Temporary files and staging folders left this long are stale whoever made them (s).
STALE_AFTER_S = 3600.0
#: What :func:`remove_stale` looks for: atomic temporary files, plan staging folders, write checks.
STALE_PATTERNS = (".*.partial*", ".rfasim-staging.*", ".rfasim-write-check.*")
_OWNER = re.compile(r"\.(\d+)@([^.]*)\.")


def owner_tag() -> str:
    """``<pid>@<host>``: which process owns a temporary file or staging folder (see :func:`remove_stale`)."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname().split(".")[0]) or "host"
    return f"{os.getpid()}@{host}"


def _owner_is_dead(name: str) -> bool:
    match = _OWNER.search(name)
    if match is None:
        return False
    pid, host = int(match.group(1)), match.group(2)
    if host != owner_tag().split("@", 1)[1]:
        return False  # another machine's process: only its age can tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_stale(folder: str | os.PathLike[str], patterns: tuple[str, ...] = STALE_PATTERNS) -> list[Path]:
    """Remove what killed rfasim processes left in ``folder``: temporary files and staging folders.

    An entry is stale when the process named in it (``<pid>@<host>``, :func:`owner_tag`) no longer
    runs on this machine, or when it is older than :data:`STALE_AFTER_S`.  A live writer's files
    are never touched.

    Returns
    -------
    list of Path
        What was removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    now = time.time()
    for pattern in patterns:
        for entry in folder.glob(pattern):
            try:
                old = now - entry.lstat().st_mtime > STALE_AFTER_S
            except OSError:
                continue
            if not (old or _owner_is_dead(entry.name)):
                continue
            try:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
                removed.append(entry)
            except OSError:
                continue
    return removed


def check_writable_folder(path: str | os.PathLike[str], what: str = "--out") -> None:
    """Raise :class:`~rfasim.errors.InputError` unless ``path`` is, or can be made, a writable folder.

    Tried for real (folders created, a file written and removed), and everything the check made
    is removed again: nothing is left behind, whatever the answer.

    Parameters
    ----------
    path : path
        The output folder.
    what : str
        How the message names it (``--out``).
    """
    from rfasim.errors import InputError

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{what} {folder}: exists and is not a folder")
    created: list[Path] = []
    probe = None
    try:
        missing = []
        current = folder.absolute()
        while not current.exists():
            missing.append(current)
            current = current.parent
        if not current.is_dir():
            raise InputError(f"{what} {folder}: {current} is a file, not a folder")
        for level in reversed(missing):
            level.mkdir()
            created.append(level)
        handle, name = tempfile.mkstemp(prefix=f".rfasim-write-check.{owner_tag()}.", dir=folder)
        probe = Path(name)
        os.close(handle)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(f"{what} {folder}: cannot write there ({reason})") from None
    finally:
        if probe is not None:
            probe.unlink(missing_ok=True)
        for level in reversed(created):
            with contextlib.suppress(OSError):
                level.rmdir()
