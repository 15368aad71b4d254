"""The README and notebooks stay true: named configs exist, notebook code compiles (the notebooks
themselves run in tests/test_notebooks.py)."""

from __future__ import annotations

import re

import nbformat
import pytest
from conftest import CONF, ROOT


def test_readme_starts_with_the_two_commands():
    first_block = ROOT.joinpath("README.md").read_text(encoding="utf-8").split("```")[1]
    lines = [l for l in first_block.splitlines()[1:] if l.strip()]
    assert lines[0].startswith("bash scripts/setup.sh && .venv/bin/python train.py")
    assert lines[1].startswith("bash scripts/setup.sh && .venv/bin/python -m pytest -q")
    ci = ROOT.joinpath(".ci/run").read_text(encoding="utf-8")
    assert "bash scripts/setup.sh && .venv/bin/python -m pytest -q" in ci


def test_readme_names_only_existing_config_options():
    text = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    groups = r"model/(?:charset|backbone|neck|head)|experiment|trainer|logger|debug|hparams_search|baseline|data|model"
    found = set(re.findall(rf"(?<![\w/.])({groups})=(\w+)", text))
    assert ("model/charset", "paddle_dict") in found
    for group, option in found:
        assert (CONF / group / f"{option}.yaml").is_file(), f"README mentions {group}={option}"


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_code_compiles(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            compile(cell.source, f"{path.name}[cell {i}]", "exec")

