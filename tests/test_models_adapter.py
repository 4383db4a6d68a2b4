"""The PyMC internals models relies on live in models/_pymc_adapter.py only, and still work.

When a PyMC release changes one of them, ``test_pymc_internals_still_behave``
fails with a message naming the PyMC version the adapter was written for.
"""

import ast
import pathlib

import pytest
from mixcompare.models import _pymc_adapter

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

MODELS = pathlib.Path(_pymc_adapter.__file__).parent

#: PyMC modules whose names are documented API (everything else goes through the adapter)
PUBLIC_PYMC = {"pymc", "pymc.exceptions", "pymc.distributions.transforms"}


def test_pymc_internals_still_behave():
    _pymc_adapter.check_internals()


def test_only_the_adapter_imports_pymc_internals():
    offenders = []
    for path in sorted(MODELS.glob("*.py")):
        if path.name == "_pymc_adapter.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and (
                    node.module.split(".")[0] == "pymc" and node.module not in PUBLIC_PYMC):
                offenders.append(f"{path.name}: from {node.module} import ...")
            if isinstance(node, ast.Import):
                offenders += [f"{path.name}: import {a.name}" for a in node.names
                              if a.name.split(".")[0] == "pymc" and a.name not in PUBLIC_PYMC]
    assert not offenders, offenders


def test_models_imports_only_public_em_names():
    private = []
    for path in sorted(MODELS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                    "mixcompare.em."):
                private.append(f"{path.name}: from {node.module}")
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "em" and node.attr.startswith("_")):
                private.append(f"{path.name}: em.{node.attr}")
    assert not private, private


def test_a_changed_internal_fails_naming_the_version(monkeypatch):
    changed = type("NDArray", (), {"__init__": lambda self, model=None, vars=None: None})
    monkeypatch.setattr(_pymc_adapter, "NDArray", changed)
    with pytest.raises(AssertionError, match=r"written for PyMC 6\.4; with the installed PyMC"):
        _pymc_adapter.check_internals()
