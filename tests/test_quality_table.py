"""bench/quality_table.py: saved bench_quality results side by side, seeds as mean ± standard deviation."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _levels(step: float, sub: float, every: float) -> dict:
    return {"steps": {"R1@0.3": step}, "substeps": {"R1@0.3": sub}, "all": {"R1@0.3": every}}


def _result(path: Path, kit: dict, params=(), repeat=1, spread=None) -> str:
    rows = {"chance": _levels(0.01, 0.02, 0.015), "oracle": _levels(0.6, 0.3, 0.4), "kit (dp)": kit}
    path.write_text(json.dumps({"videos": 5, "chunks": 100, "params": list(params), "repeat": repeat,
                                "rows": rows, "spread": {"kit (dp)": spread} if spread else {}}))
    return str(path)


def test_rows_with_seeds_show_their_spread(tmp_path):
    one = _result(tmp_path / "a.json", _levels(0.5, 0.25, 0.35), repeat=3, spread=_levels(0.01, 0.02, 0.005))
    two = _result(tmp_path / "b.json", _levels(0.4, 0.2, 0.3), params=["train_levels=step",
                                                                     "selection_annotations=/x/y/sel.json"])
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "quality_table.py"), f"default={one}", f"step={two}"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    rows = {line.split("  ")[0]: line.split() for line in out[2:]}
    assert rows["chance"][-3:] == ["1.00", "2.00", "1.50"] and rows["oracle"][-1] == "40.00"
    assert rows["kit: default (3 seeds)"][-3:] == ["50.00±1.0", "25.00±2.0", "35.00±0.5"]
    assert rows["kit: step (train_levels=step selection_annotations=sel.json)"][-3:] == ["40.00", "20.00", "30.00"]


def test_bad_arguments_print_the_usage(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "quality_table.py"), "no-label"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "LABEL=RESULT.json" in proc.stderr
