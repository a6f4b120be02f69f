"""Sweep test set-up: a tiny phantom case (2 mm grid, 20 s) and an in-process Dask cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from rfasim.phantoms import write_phantom

TINY = {
    "duration_s = 720.0": "duration_s = 20.0",
    "spacing_mm = 1.0": "spacing_mm = 2.0",
    "margin_mm = 20.0": "margin_mm = 10.0",
}


@pytest.fixture(scope="session")
def tiny_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The liver-25mm phantom with a 2 mm grid, 10 mm margin, 20 s of ablation (about 1 s a run)."""
    folder = tmp_path_factory.mktemp("sweep-case")
    paths = write_phantom("liver-25mm", folder)
    text = paths["case"].read_text()
    for old, new in TINY.items():
        assert old in text
        text = text.replace(old, new)
    text += "\n[options]\nelectric_update_tolerance = 0.2\n"
    paths["case"].write_text(text)
    return paths["case"]


@pytest.fixture(scope="session")
def dask_client():
    """A real Dask cluster in this process (one worker thread), listening on TCP."""
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                           protocol="tcp://")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def make_sweep(tmp_path: Path, tiny_case: Path):
    """Write ``tmp_path/<name>`` as a sweep file on the tiny case: ``make_sweep(body, header=...)``."""
    import os

    def make(body: str, header: str = 'design = "grid"', name: str = "sweep.toml") -> Path:
        relative = os.path.relpath(tiny_case, tmp_path)
        path = tmp_path / name
        path.write_text(f'[sweep]\ncase = "{relative}"\n{header}\n\n{body}\n')
        return path

    return make
