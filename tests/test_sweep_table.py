"""bench/sweep_table.py: sweep points against a baseline, the selection split's metric deciding."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(folder: Path, selection: float, val: float, mode: str = "hierarchical", bg: float = 70.0) -> Path:
    folder.mkdir(parents=True)
    (folder / "training.json").write_text(json.dumps({"best_metric": selection, "best_epoch": 3,
                                                      "choices": {"substep_mode": mode, "background_value": bg}}))
    (folder / "metrics.json").write_text(json.dumps({
        "aligners": {"dp": {"R1@0.3": val}},
        "by_level": {"dp": {"step": {"R1@0.3": val + 0.1}, "substep": {"R1@0.3": val - 0.1}}}}))
    return folder


def test_points_are_marked_where_the_selection_split_prefers_them(tmp_path):
    base = _run(tmp_path / "base", 0.40, 0.42)
    sweep = tmp_path / "sweep_lr"
    _run(sweep / "lr=0.01", 0.45, 0.30, mode="parent", bg=50.0)   # better on selection, worse on val
    _run(sweep / "lr=0.0001", 0.35, 0.50)                          # the reverse
    _run(sweep / "lr=0.002", 0.405, 0.50)                          # better by less than the margin
    (sweep / "sweep.csv").write_text("lr,status,run\n0.01,done,lr=0.01\n0.0001,done,lr=0.0001\n"
                                     "0.002,done,lr=0.002\n1,failed,lr=1\n")
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "sweep_table.py"), str(base), str(sweep)],
                         capture_output=True, text=True, check=True).stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:-1]}
    assert rows["lr=0.01"][1] == "*" and rows["lr=0.01"][2:] == ["45.00", "3", "parent/50", "30.00", "40.00", "20.00"]
    assert rows["lr=0.0001"][1:3] == ["35.00", "3"]          # no mark: the selection split prefers the baseline
    assert rows["lr=0.002"][1:3] == ["40.50", "3"]
    assert rows["defaults"][2:4] == ["40.00", "3"] and "lr=1" not in rows


def test_missing_record_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "sweep_table.py"), str(tmp_path), str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "training.json" in proc.stderr
