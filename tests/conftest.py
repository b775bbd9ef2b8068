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
