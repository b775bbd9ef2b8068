"""Shared fixtures: the real GoalStep files (skipped when absent) and tiny generated data."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOALSTEP = ROOT.parent / "shared" / "goalstep"


def goalstep_file(name: str) -> Path:
    path = GOALSTEP / name
    if not path.is_file():
        pytest.skip(f"real GoalStep file {name} not present (expected in ../shared/goalstep)")
    return path


@pytest.fixture
def goalstep_valid() -> Path:
    return goalstep_file("goalstep_valid.json")


@pytest.fixture
def goalstep_test() -> Path:
    return goalstep_file("goalstep_test.json")


@pytest.fixture(scope="session")
def tiny_samples(tmp_path_factory):
    """6 train + 3 val generated videos of 1-3 minutes, shared by the training tests."""
    from vtkit.samples import generate_samples

    root = tmp_path_factory.getbasetemp() / "train_samples"
    if not (root / "goalstep_val.json").is_file():
        generate_samples(root, seed=0, n_train=6, n_val=3, minutes=(1, 3))
    return root
