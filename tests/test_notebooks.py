"""The notebooks: jupytext percent scripts, seeded, small, and executed so a broken one fails CI."""

import re
import shutil
import subprocess
from pathlib import Path

import jupytext
import nbclient
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
NAMES = ["01_em_lecture", "02_em_vs_bayes", "03_label_switching"]


def test_the_three_notebooks_exist_without_committed_ipynb():
    assert [p.stem for p in NOTEBOOKS] == NAMES
    if shutil.which("git") is None:
        pytest.skip("git is not available to list tracked files")
    tracked = subprocess.run(["git", "ls-files", "--", "*.ipynb"], cwd=NOTEBOOK_DIR,
                             capture_output=True, text=True, check=False)
    if tracked.returncode != 0:
        pytest.skip("not a git work tree")
    assert tracked.stdout.strip() == "", "paired .ipynb files are not committed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_percent_format_seeded_and_small(path):
    text = path.read_text(encoding="utf-8")
    assert "format_name: percent" in text and "# %% [markdown]" in text
    nb = jupytext.read(path)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    first_rng = next(i for i, src in enumerate(code) if "default_rng" in src)
    assert re.search(r"rng = np\.random\.default_rng\(\d+\)", code[first_rng])
    assert not any("rng" in src for src in code[:first_rng])  # seeded before anything draws
    for n in re.findall(r"\b(?:draws|tune)=(\d+)", text):
        assert int(n) <= 300  # CI-sized NUTS runs
    for n in re.findall(r"\bchains=(\d+)", text):
        assert int(n) <= 2


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path):
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
    assert images >= 3  # the figures render inline
