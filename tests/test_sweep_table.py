"""bench/sweep_table.py: sweep points over selection folds against a baseline, the selection split deciding."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "sweep_table.py"
QUERIES = 10   # per selection video


def _run(folder: Path, hits: dict, val: float, mode: str = "hierarchical", bg: float = 70.0, epoch: int = 3,
         table: dict | None = None, mode_hits: dict | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "training.json").write_text(json.dumps({
        "best_metric": 0.0, "best_epoch": epoch, "choices": {"substep_mode": mode, "background_value": bg},
        "selection_hits": {uid: [h, QUERIES] for uid, h in hits.items()}, "selection_table": table or {},
        "selection_mode_hits": {m: {uid: [h, QUERIES] for uid, h in per.items()}
                                for m, per in (mode_hits or {}).items()}}))
    (folder / "metrics.json").write_text(json.dumps({
        "aligners": {"dp": {"R1@0.3": val}},
        "by_level": {"dp": {"step": {"R1@0.3": val + 0.1}, "substep": {"R1@0.3": val - 0.1}}}}))
    return folder


def _sweep(folder: Path, param: str | None, points: dict) -> Path:
    """``points``: {value: [(fold, hits, val), ...]}; a param of None is a baseline sweep over folds."""
    lines = [f"{param + ',' if param else ''}selection_fold,status,run"]
    for value, runs in points.items():
        for fold, hits, val, *rest in runs:
            name = f"{param}={value}__selection_fold={fold}" if param else f"selection_fold={fold}"
            _run(folder / name, hits, val, *rest)
            lines.append(f"{str(value) + ',' if param else ''}{fold},done,{name}")
    lines.append(f"{'99,' if param else ''}9,failed,never")
    (folder / "sweep.csv").write_text("\n".join(lines) + "\n")
    return folder


def _videos(fold: int, hits: list[int]) -> dict:
    return {f"f{fold}v{i}": h for i, h in enumerate(hits)}


def _table(tmp_path) -> dict:
    tables = [{"hierarchical/50": 0.5, "hierarchical/70": 0.6, "parent/50": 0.4},
              {"hierarchical/50": 0.3, "parent/50": 0.5, "parent/70": 0.2}]
    base = _sweep(tmp_path / "base", None, {None: [(f, _videos(f, [5, 5, 5, 5]), 0.4, "hierarchical", 70.0, 3, tables[f])
                                                   for f in (0, 1)]})
    lr = _sweep(tmp_path / "sweep_lr", "lr", {
        0.01: [(f, _videos(f, [8, 8, 8, 8]), 0.3, "parent", 50.0, 2) for f in (0, 1)],      # better on every video
        0.0001: [(f, _videos(f, [2, 9, 2, 9]), 0.5) for f in (0, 1)],                       # equal on average
        0.002: [(f, _videos(f, [6, 5, 5, 5]), 0.5) for f in (0, 1)],                        # better on 2 of 8 videos
    })
    out = subprocess.run([sys.executable, str(SCRIPT), str(base), str(lr)], capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[0]: line for line in out.splitlines()} | {"": out}


def test_points_pool_their_folds_and_are_marked_only_when_the_interval_clears_zero(tmp_path):
    rows = _table(tmp_path)
    assert rows["lr=0.01"].split()[1:5] == ["*", "2", "80.00", "+30.00"]
    assert rows["lr=0.01"].split()[7:] == ["2,2", "p50,p50", "30.00", "40.00", "20.00"]
    assert rows["lr=0.0001"].split()[1:4] == ["2", "55.00", "+5.00"]          # no mark: the interval holds 0
    assert rows["lr=0.002"].split()[1:4] == ["2", "52.50", "+2.50"]
    low, high = (float(x) for x in rows["lr=0.002"].split("[")[1].split("]")[0].split(","))
    assert low <= 0 < high
    assert rows["defaults"].split()[2:5] == ["2", "50.00", "-"] and "never" not in rows[""]
    assert "lr=99" not in rows[""]


def test_substep_modes_are_pooled_over_the_baseline_folds(tmp_path):
    # each fold at its best background: hierarchical 0.6 and 0.3, parent 0.4 and 0.5, 40 queries each
    line = _table(tmp_path)["substep"]
    assert "parent 45.00, hierarchical 45.00" in line or "hierarchical 45.00, parent 45.00" in line


def test_a_point_that_tried_every_mode_gets_paired_mode_gains(tmp_path):
    base = _sweep(tmp_path / "base", None, {None: [(f, _videos(f, [5, 5]), 0.4) for f in (0, 1)]})
    modes = {f: {"joint": _videos(f, [5, 5]), "parent": _videos(f, [7, 7]), "video": _videos(f, [1, 9])}
             for f in (0, 1)}   # joint: the default mode, the reference
    best = _sweep(tmp_path / "best", "substep_mode", {"best": [(f, _videos(f, [7, 7]), 0.4, "parent", 70.0, 3, None,
                                                                 modes[f]) for f in (0, 1)]})
    out = subprocess.run([sys.executable, str(SCRIPT), str(base), str(best)], capture_output=True, text=True,
                         check=True).stdout
    lines = [line for line in out.splitlines() if line.startswith("substep modes at")]
    assert len(lines) == 1 and "substep_mode=best" in lines[0] and "baseline's selection folds" not in out
    cells = lines[0].split(": ", 1)[1].split("; ")
    assert cells[0] == "parent 70.00 +20.00 [+20.00, +20.00]"     # better on every (fold, video) pair
    assert cells[1] == "joint 50.00"                             # the reference has no gain of its own
    assert cells[2].startswith("video 50.00 +0.00 [")
    low, high = (float(x) for x in cells[2].split("[")[1].rstrip("]").split(","))
    assert low < 0 < high


def test_a_baseline_run_folder_without_hits_still_reads(tmp_path):
    base = _run(tmp_path / "base", {}, 0.42)
    (base / "training.json").write_text(json.dumps({"best_metric": 0.4, "best_epoch": 3, "choices": {}}))
    sweep = _sweep(tmp_path / "sweep", "lr", {0.1: [(0, _videos(0, [5]), 0.3)]})
    out = subprocess.run([sys.executable, str(SCRIPT), str(base), str(sweep)], capture_output=True, text=True,
                         check=True).stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    assert rows["defaults"][3:5] == ["40.00", "-"] and rows["lr=0.1"][1:4] == ["1", "50.00", "-"]


def test_missing_record_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "training.json" in proc.stderr
    (tmp_path / "training.json").write_text("{}")
    (tmp_path / "metrics.json").write_text('{"aligners": {"dp": {"R1@0.3": 0.1}}}')
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), str(tmp_path / "nope")], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "sweep.csv" in proc.stderr


def test_a_baseline_that_tried_every_mode_gets_its_own_mode_line(tmp_path):
    modes = {f: {"joint": _videos(f, [5, 5]), "parent": _videos(f, [4, 4])} for f in (0, 1)}
    base = _sweep(tmp_path / "base", None, {None: [(f, _videos(f, [5, 5]), 0.4, "joint", 70.0, 3,
                                                    {"joint/70": 0.5, "parent/70": 0.4}, modes[f])
                                                   for f in (0, 1)]})
    lr = _sweep(tmp_path / "lr", "lr", {0.1: [(f, _videos(f, [5, 6]), 0.4) for f in (0, 1)]})
    out = subprocess.run([sys.executable, str(SCRIPT), str(base), str(lr)], capture_output=True, text=True,
                         check=True).stdout
    lines = [line for line in out.splitlines() if line.startswith("substep modes at")]
    assert lines == ["substep modes at the baseline (each at its best background; gain over joint): "
                     "joint 50.00; parent 40.00 -10.00 [-10.00, -10.00]"]
    assert "baseline's selection folds" not in out      # the pooled-only line is for older records


def test_a_labelled_sweep_names_its_point_and_both_backgrounds_show(tmp_path):
    base = _sweep(tmp_path / "base", None, {None: [(f, _videos(f, [5, 5]), 0.4) for f in (0, 1)]})
    other = _sweep(tmp_path / "other", None, {None: [(f, _videos(f, [7, 7]), 0.5) for f in (0, 1)]})
    for f in (0, 1):   # chose a background per level
        record = other / f"selection_fold={f}" / "training.json"
        data = json.loads(record.read_text())
        data["choices"]["substep_background_value"] = 80.0
        record.write_text(json.dumps(data))
    out = subprocess.run([sys.executable, str(SCRIPT), str(base), f"staged={other}"],
                         capture_output=True, text=True, check=True).stdout
    row = next(line for line in out.splitlines() if line.startswith("staged "))
    assert row.split()[1:4] == ["*", "2", "70.00"] and "h70/80,h70/80" in row
    assert "defaults (baseline)" in out and "h70,h70" in out


def test_a_grid_run_again_over_other_folds_pools_and_one_point_is_the_baseline(tmp_path):
    # one grid over lr (0.1 the defaults, 0.2 the change), run on fold 0, then again on fold 1
    first = _sweep(tmp_path / "a", "lr", {0.1: [(0, _videos(0, [5, 5]), 0.4)], 0.2: [(0, _videos(0, [6, 6]), 0.5)]})
    again = _sweep(tmp_path / "b", "lr", {0.1: [(1, _videos(1, [5, 5]), 0.4)], 0.2: [(1, _videos(1, [8, 8]), 0.5)]})
    both = f"{first}+{again}"
    out = subprocess.run([sys.executable, str(SCRIPT), f"{both}@lr=0.1", f"{both}@lr=0.2"], capture_output=True,
                         text=True, check=True).stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    assert rows["defaults"][2:5] == ["2", "50.00", "-"]
    assert rows["lr=0.2"][1:5] == ["*", "2", "70.00", "+20.00"] and rows["lr=0.2"][7] == "3,3"
    proc = subprocess.run([sys.executable, str(SCRIPT), f"{first}@lr=9", str(first)], capture_output=True, text=True)
    assert proc.returncode == 2 and "no point 'lr=9' here; the points: lr=0.1, lr=0.2" in proc.stderr
