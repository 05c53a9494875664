"""docs/tutorial.ipynb: stored without outputs (so it stays diffable and cannot go stale silently),
and every cell runs without error in a fresh kernel, outside the checkout."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"
CELL_TIMEOUT_S = 300  # per cell; the whole notebook takes well under a minute here
KERNEL = "shattered-gradients-tutorial"

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the dev extra: pip install -e '.[dev]'")


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the tutorial has no code cells"
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, (f"cells {dirty} of {NOTEBOOK.name} hold outputs or execution counts: clear them before "
                       "committing (jupyter nbconvert --clear-output --inplace docs/tutorial.ipynb)")
    assert not any("execution" in c.metadata for c in code)  # timing metadata of an executed run


@pytest.mark.slow
def test_notebook_runs_every_cell(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient", reason="nbclient is in the dev extra: pip install -e '.[dev]'")
    pytest.importorskip("ipykernel", reason="ipykernel is in the dev extra: pip install -e '.[dev]'")
    # a kernel spec of our own, first on JUPYTER_PATH: the kernel is this interpreter, whatever
    # "python3" kernel the user has installed; IPython's history and config go to tmp_path
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "shattered-gradients tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws the figure
    work = tmp_path / "work"
    work.mkdir()

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL,
                                     resources={"metadata": {"path": str(work)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"{NOTEBOOK.name}: a cell failed:\n{err}")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stdout")
    assert "thm1b" in text and "departs" in text  # step 3: the verdicts of one claim
    assert "lag-1 ACF" in text                    # step 4: the probe of a torch model
    assert any("image/png" in o.get("data", {}) for o in outputs), "the figure of step 5 was not drawn"
    assert not list(work.iterdir()), "the tutorial wrote files into its working directory"
