"""The example notebooks run top to bottom.

The notebooks are jupytext "percent" scripts, ``notebooks/NN_name.py``: plain Python with
``# %%`` code cells and ``# %% [markdown]`` text cells, linted by ruff like any other source.
Every ``notebooks/[0-9]*.py`` is picked up here: it is read with jupytext into a notebook and
executed cell by cell with nbclient in a fresh temporary working folder.  The kernel is always
started with this interpreter (``sys.executable``), whatever ``python3`` kernelspec a user or
system folder may hold, so a fresh virtual environment needs no ``ipykernel install``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpec  # noqa: E402
from jupyter_client.manager import AsyncKernelManager  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9]*.py"))
NOTEBOOK_NAME = re.compile(r"^\d\d_[a-z0-9_]+\.py$")
CELL_TIMEOUT_S = 300


class ThisPythonKernelManager(AsyncKernelManager):
    """A kernel manager whose ``python3`` kernel is ipykernel on ``sys.executable``."""

    @property
    def kernel_spec(self) -> KernelSpec:
        if self._kernel_spec is None:
            from ipykernel.kernelspec import RESOURCES, get_kernel_dict

            self._kernel_spec = KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())
        return self._kernel_spec


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook that jupytext reads from a percent script."""
    return jupytext.read(path, fmt="py:percent")


def execute(notebook: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        kernel_manager_class=ThisPythonKernelManager,
        resources={"metadata": {"path": str(cwd)}},
    )
    return client.execute()


def test_the_kernel_runs_this_interpreter(tmp_path):
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("import sys; print(sys.executable)")]
    )
    executed = execute(notebook, tmp_path)
    printed = executed.cells[0].outputs[0]["text"].strip()
    assert Path(printed).resolve() == Path(sys.executable).resolve()


def test_a_failing_cell_fails_with_the_cell_shown(tmp_path):
    source = "# %%\nx = 1\n\n# %%\nraise ValueError('boom from cell two')\n"
    notebook = jupytext.reads(source, fmt="py:percent")
    with pytest.raises(nbclient.exceptions.CellExecutionError) as caught:
        execute(notebook, tmp_path)
    assert "raise ValueError('boom from cell two')" in str(caught.value)
    assert "boom from cell two" in str(caught.value)


def test_the_documented_notebooks_are_present():
    names = {path.name for path in NOTEBOOKS}
    documented = {
        "01_quickstart.py",
        "02_patient_case.py",
        "03_parameter_sweep.py",
        "04_validation.py",
    }
    assert documented <= names, sorted(documented - names)
    for name in names:
        assert NOTEBOOK_NAME.match(name), f"{name}: notebooks are named NN_words.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_a_percent_script(path):
    """Cells are marked with ``# %%``; the first one is a markdown title."""
    notebook = read_notebook(path)
    kinds = [cell.cell_type for cell in notebook.cells]
    assert "code" in kinds, f"{path.name}: no code cell"
    first = notebook.cells[0]
    assert first.cell_type == "markdown", f"{path.name}: the first cell is not markdown"
    assert first.source.startswith("# "), f"{path.name}: the first cell is not a '# Title'"
    nbformat.validate(notebook)


def test_no_ipynb_is_stored():
    """The .py sources are the notebooks: no generated copy may be committed beside them."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--", "notebooks/*.ipynb"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    assert listed == []


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_without_error(path, tmp_path):
    notebook = read_notebook(path)
    start = time.perf_counter()
    try:
        executed = execute(notebook, tmp_path)
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name}: a cell failed:\n{error}")
    wall = time.perf_counter() - start
    print(f"{path.name}: {wall:.1f} s")
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", f"{path.name}: {output.get('ename')}"
    # Nothing may be written into the working folder: every notebook uses its own temp folder.
    assert not any(tmp_path.iterdir()), sorted(p.name for p in tmp_path.iterdir())
