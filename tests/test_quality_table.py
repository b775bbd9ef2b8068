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


def test_bench_quality_shows_a_saved_result_again(tmp_path):
    def full(x):
        return {lvl: {"R1@0.3": x, "R1@0.5": x / 2, "mIoU": x / 3} for lvl in ("steps", "substeps", "all")}

    saved = tmp_path / "q.json"
    saved.write_text(json.dumps({
        "source": "real annotations", "videos": 5, "chunks": 100, "layout": "packed", "params": ["epochs=2"],
        "repeat": 3, "rows": {"chance": full(0.01), "kit (dp)": full(0.6)}, "spread": {"kit (dp)": full(0.02)},
        "kit": {"git": {"commit": "0123456789abcdef", "dirty": False}}, "timing": {"total_seconds": 12.5,
                                                                               "kit_seconds": [4.0]}}))
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_quality.py"), "--show", str(saved)],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == ("real annotations: 5 videos, 100 chunks, layout packed; kit: -p epochs=2, 3 seed(s), "
                      "commit 0123456")
    rows = {line.split()[0]: line.split() for line in out[4:6]}
    assert rows["chance"][1:4] == ["1.00", "0.50", "0.33"]
    assert rows["kit"][2:5] == ["60.00±2.0", "30.00±1.0", "20.00±0.7"]
    assert out[-1] == "time: 12.5 s in all, kit runs [4.0] s"


def test_a_saved_result_of_the_references_alone_says_so(tmp_path):
    saved = tmp_path / "refs.json"
    row = {lvl: {"R1@0.3": 0.5, "R1@0.5": 0.25, "mIoU": 0.2} for lvl in ("steps", "substeps", "all")}
    saved.write_text(json.dumps({
        "source": "real annotations", "videos": 5, "chunks": 100, "layout": "packed",
        "params": ["substep_background_value=80"], "repeat": 1, "rows": {"probe": row}, "spread": {}, "kit": {},
        "timing": {"total_seconds": 3.0, "kit_seconds": []}}))
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_quality.py"), "--show", str(saved)],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == ("real annotations: 5 videos, 100 chunks, layout packed; references only (--no-kit): "
                      "-p substep_background_value=80")


def _shown_result(tmp_path) -> dict:
    """A saved bench_quality result with every shown metric, to add breakdowns to."""
    saved = json.loads(Path(_result(tmp_path / "r.json", _levels(0.5, 0.25, 0.35))).read_text())
    saved.update(source="sim", layout="packed")
    for row in saved["rows"].values():
        for level in row.values():
            level.update({"R1@0.5": level["R1@0.3"], "mIoU": level["R1@0.3"]})
    return saved


def _show(tmp_path, saved: dict) -> list[str]:
    """What ``bench_quality.py --show`` prints of ``saved``, by line."""
    (tmp_path / "r.json").write_text(json.dumps(saved))
    return subprocess.run([sys.executable, str(ROOT / "bench" / "bench_quality.py"), "--show", str(tmp_path / "r.json")],
                          capture_output=True, text=True, check=True, cwd=ROOT).stdout.splitlines()


def test_bench_quality_show_prints_the_duration_table(tmp_path):
    saved = _shown_result(tmp_path)
    saved["by_duration"] = {"oracle": {"step": {"<2 s": [0.5, 4], ">=32 s": [0.9, 10]}, "substep": {"<2 s": [0.25, 8]}},
                            "kit (dp)": {"step": {">=32 s": [0.8, 10]}}}
    out = _show(tmp_path, saved)
    table = out[out.index("R1@0.3 by annotated duration (percent; queries in brackets)") + 1:]
    assert table[0].split() == ["<2", "s", ">=32", "s"]
    assert table[1].split() == ["oracle", "/", "step", "50.0", "(4)", "90.0", "(10)"]
    assert table[2].split() == ["oracle", "/", "substep", "25.0", "(8)", "-"]
    assert table[3].split() == ["kit", "(dp)", "/", "step", "-", "80.0", "(10)"]


def test_bench_quality_show_prints_the_recurrence_table(tmp_path):
    saved = _shown_result(tmp_path)
    saved["breakdowns"] = {
        "oracle": {"by_duration": {"step": {"<2 s": [0.5, 4]}},
                   "by_recurrence": {"substep": {"repeated": [0.75, 8], "unique": [0.5, 2]}}},
        "kit (dp)": {"by_recurrence": {"step": {"unique": [0.8, 10]}}}}
    out = _show(tmp_path, saved)
    durations = out[out.index("R1@0.3 by annotated duration (percent; queries in brackets)") + 1:]
    assert durations[1].split() == ["oracle", "/", "step", "50.0", "(4)"] and durations[2] == ""
    table = out[out.index("R1@0.3 by whether the text recurs in its video (percent; queries in brackets)") + 1:]
    assert table[0].split() == ["unique", "repeated"]
    assert table[1].split() == ["oracle", "/", "substep", "50.0", "(2)", "75.0", "(8)"]
    assert table[2].split() == ["kit", "(dp)", "/", "step", "80.0", "(10)", "-"]
