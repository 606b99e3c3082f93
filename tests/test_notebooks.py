"""The notebooks in examples/notebooks/ are stored without outputs, are the pages they are made
from (docs/doctools.py), and run top to bottom in a Jupyter kernel of this very Python."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "examples" / "notebooks"
EXPECTED = [
    "attention.ipynb", "backprop_exercise.ipynb", "convolution.ipynb", "custom_ops.ipynb",
    "derive.ipynb", "diagrams.ipynb", "forward_mode.ipynb", "tutorial.ipynb",
]
FOUND = sorted(NOTEBOOKS.glob("*.ipynb"))


def _load_doctools() -> types.ModuleType:
    name = "minigrad_docs_doctools"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "doctools.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


doctools = _load_doctools()


def _id(p: Path) -> str:
    return p.name


def test_the_notebooks_exist():
    assert [p.name for p in FOUND] == EXPECTED
    assert sorted(doctools.NOTEBOOK_PAGES.values()) == EXPECTED


@pytest.mark.parametrize("path", FOUND, ids=_id)
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code cell"
    for i, cell in enumerate(code):
        assert cell["outputs"] == [], f"{path.name}: code cell {i} has stored outputs"
        assert cell["execution_count"] is None, f"{path.name}: code cell {i} was run"


@pytest.mark.parametrize("path", FOUND, ids=_id)
def test_notebook_is_made_from_its_page(path):
    page = next(p for p, n in doctools.NOTEBOOK_PAGES.items() if n == path.name)
    assert path.read_text(encoding="utf-8") == doctools.notebook_text(page), (
        f"{path.name} differs from docs/{page}: edit the page, then run "
        f"`python docs/doctools.py notebooks`"
    )


@pytest.mark.parametrize("path", FOUND, ids=_id)
def test_notebook_is_valid(path):
    nbformat = pytest.importorskip("nbformat")
    nbformat.validate(nbformat.read(str(path), as_version=4))


def _kernel_for_this_python(tmp_path: Path):
    """A kernel manager that starts ipykernel with this interpreter, whatever kernels the
    machine has registered: a kernelspec written into a folder of its own."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = tmp_path / "kernels" / "minigrad-test"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--InteractiveShell.colors=nocolor"],
        "display_name": "minigrad tests", "language": "python",
        "env": {"MPLBACKEND": "Agg"},
    }), encoding="utf-8")
    ksm = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    return KernelManager(kernel_name="minigrad-test", kernel_spec_manager=ksm)


@pytest.mark.slow
@pytest.mark.parametrize("path", FOUND, ids=_id)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    """Executed in a temporary folder, which is where the files the notebook writes go."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(str(path), as_version=4)
    work = tmp_path / "work"
    work.mkdir()
    client = nbclient.NotebookClient(
        nb, km=_kernel_for_this_python(tmp_path), timeout=600, startup_timeout=120,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on failure
    assert any(work.iterdir()), "the notebook wrote nothing into its working folder"
    assert sorted(p.name for p in NOTEBOOKS.iterdir()) == EXPECTED, "it wrote beside itself"
