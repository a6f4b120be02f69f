"""The validation harness lives in ``benchmarks/validation`` (not part of the package): put it on
the import path, and run Numba single-threaded (on a shared 2-core machine its parallel loops
slow down 10-20x when the cores are oversubscribed)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numba
import pytest

HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "validation"
if str(HARNESS) not in sys.path:
    sys.path.insert(0, str(HARNESS))


@pytest.fixture(scope="module", autouse=True)
def one_numba_thread() -> Iterator[None]:
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(previous)
