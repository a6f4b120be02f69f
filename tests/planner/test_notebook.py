"""notebooks/06_planner.py (jupytext percent format) runs top to bottom in a fresh folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpec  # noqa: E402
from jupyter_client.manager import AsyncKernelManager  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "06_planner.py"


class _ThisPythonKernelManager(AsyncKernelManager):
    """A ``python3`` kernel running ipykernel on this interpreter (no kernelspec needed)."""

    @property
    def kernel_spec(self) -> KernelSpec:
        if self._kernel_spec is None:
            from ipykernel.kernelspec import RESOURCES, get_kernel_dict

            self._kernel_spec = KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())
        return self._kernel_spec


@pytest.mark.slow
def test_planner_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("RFASIM_CACHE_DIR", str(tmp_path.parent / "rfasim-notebook-cache"))
    notebook = jupytext.read(NOTEBOOK)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     kernel_manager_class=_ThisPythonKernelManager,
                                     resources={"metadata": {"path": str(tmp_path)}})
    executed = client.execute()
    text = "".join(out.get("text", "") for cell in executed.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []))
    assert "plan:" in text and "probe 1:" in text, text[-2000:]
    assert not any(tmp_path.iterdir()), "the notebook writes only into its own temporary folder"
    assert sys.executable
