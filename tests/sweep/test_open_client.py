"""The local cluster of ``open_client``: its worker processes' environment."""

from __future__ import annotations

import os

import pytest

from rfasim.sweep import open_client
from rfasim.sweep.execute import close_client


def _environment() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in ("MALLOC_TRIM_THRESHOLD_", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS")}


@pytest.mark.skipif("MALLOC_TRIM_THRESHOLD_" in os.environ, reason="the caller's own setting is inherited")
def test_local_workers_start_without_the_malloc_trim_threshold_and_with_the_thread_counts() -> None:
    client = open_client(workers=1, numba_threads=1)
    try:
        environments = list(client.run(_environment).values())
    finally:
        close_client(client)
    assert environments == [{"MALLOC_TRIM_THRESHOLD_": None, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}]
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ  # nor did the nanny set it in this process
