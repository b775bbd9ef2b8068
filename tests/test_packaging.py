"""The install files agree with each other and keep the CPU install small."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PYPI = {"pytorch": "torch"}


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower()


def _pyproject():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return data["dependencies"] + data["optional-dependencies"]["dev"]


def test_environment_yml_lists_the_same_direct_dependencies():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda, pip = set(), set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip |= {_name(d) for d in dep["pip"] if not d.startswith("-e")}
            assert "-e ." in dep["pip"]
        else:
            conda.add(CONDA_TO_PYPI.get(_name(dep), _name(dep)))
    assert any(str(d).startswith("python=3.11") for d in env["dependencies"])
    conda -= {"python", "pip"}
    assert conda | pip == {_name(d) for d in _pyproject()}
    assert not conda & pip


def test_design_packages_are_dependencies():
    names = {_name(d) for d in _pyproject()}
    assert {"torch", "transformers", "jupyterlab", "ipywidgets", "matplotlib", "seaborn", "papermill"} <= names


def test_cpu_torch_is_installed_before_the_kit():
    makefile = (ROOT / "Makefile").read_text()
    assert "torch==2.13.0" in makefile
    assert (ROOT / ".ci" / "run").read_text().count("make test") == 1
