"""A small per-process cache of read-only results: :class:`ReadOnlyCache`.

Some preparations are repeated within one process on identical inputs (a sweep runs one case
many times in a worker; the automatic planner prepares the same anatomy for each attempt).  The
cache keeps the last few results by key and makes their arrays read-only, so that no caller can
change what the next one reads.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

import numpy as np

Value = TypeVar("Value")


class ReadOnlyCache(Generic[Value]):
    """The last ``size`` results built in this process, by key, with their arrays read-only.

    Parameters
    ----------
    size : int
        How many results are kept (the oldest is dropped first).
    arrays : callable
        The arrays of a result to make read-only.

    Examples
    --------
    >>> cache = ReadOnlyCache(2, lambda value: [value])
    >>> first = cache.get("a", lambda: np.zeros(3))
    >>> cache.get("a", lambda: np.ones(3)) is first, first.flags.writeable
    (True, False)
    """

    def __init__(self, size: int, arrays: Callable[[Value], Iterable[object]]) -> None:
        if size < 1:
            raise ValueError(f"cache size must be >= 1, got {size!r}")
        self.size = int(size)
        self._arrays = arrays
        self._entries: dict[Hashable, Value] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable | None, build: Callable[[], Value]) -> Value:
        """The result cached under ``key``, or ``build()``'s, frozen and kept (``key`` None: not kept)."""
        if key is not None and key in self._entries:
            return self._entries[key]
        value = build()
        for array in self._arrays(value):
            if isinstance(array, np.ndarray):
                array.setflags(write=False)
        if key is not None:
            while len(self._entries) >= self.size:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = value
        return value

    def clear(self) -> None:
        """Forget every result."""
        self._entries.clear()
