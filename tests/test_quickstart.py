"""docs/quickstart.ipynb runs end to end (nbclient, a real Jupyter kernel) with small step counts."""

from pathlib import Path

import pytest

from extras import require

nbformat = require("nbformat", "a dev dependency")
nbclient = require("nbclient", "a dev dependency")

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "quickstart.ipynb"


@pytest.mark.slow  # a kernel, a 20-step run, a resume and a 2-run sweep
def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_QUICKSTART_STEPS", "20")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = lambda cell: "".join(o.get("text", "") for o in cell.outputs)  # noqa: E731
    outputs = [text(c) for c in nb.cells if c.cell_type == "code"]
    assert outputs[0].startswith("gankit ") and "gan" in outputs[0]
    assert (tmp_path / "runs" / "quickstart" / "generator.safetensors").is_file()
    assert any("30" in "".join(str(o.get("data", {}).get("text/plain", "")) for o in c.outputs)
               for c in nb.cells if c.cell_type == "code" and "api.resume" in c.source)  # resumed to STEPS + 10
    assert (tmp_path / "runs" / "sweep-quickstart" / "summary.md").is_file()
    assert "| mmgan |" in outputs[-1] and "| nsgan |" in outputs[-1]
