"""`vtkit run` / `vtkit sweep` on two tiny fixture notebooks (tests/fixtures/notebooks).

01_a.ipynb declares seed, out_dir, aligner; writes metrics.json, figures/a_curve.png, cwd.txt and
appends "01_a" to executions.txt; raises when seed == 666. 02_b.ipynb declares out_dir, epochs;
appends "02_b", raises when out_dir/FAIL exists, else writes b.json and figures/b_bars.png.
Each notebook execution starts a kernel (~1-2 s), so executions are shared where possible.
"""
from __future__ import annotations

import base64
import csv
import json
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from vtkit import cli
from vtkit.config import Config
from vtkit.report import metrics_markdown, write_report
from vtkit.run import point_name

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "notebooks"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _make_inputs(folder: Path) -> None:
    """The input paths the default Config must find (check_paths) relative to ``folder``."""
    (folder / "data_samples" / "videos").mkdir(parents=True, exist_ok=True)
    for name in ("goalstep_train.json", "goalstep_val.json"):
        (folder / "data_samples" / name).write_text('{"videos": []}')


def _vtkit(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _executions(run_dir: Path) -> list[str]:
    return (run_dir / "executions.txt").read_text().split()


@pytest.fixture(scope="module")
def done_run(tmp_path_factory):
    """One successful two-notebook run with -p epochs=3 (cwd = a folder holding the inputs)."""
    base = tmp_path_factory.mktemp("run")
    _make_inputs(base)
    mp = pytest.MonkeyPatch()
    mp.chdir(base)
    code = cli.main(["run", "--notebooks", str(FIXTURES), "--out", "reports/r", "-p", "epochs=3", "-p", "lr=0.01"])
    mp.undo()
    assert code == 0
    return base, base / "reports" / "r"


def test_run_end_to_end(done_run):
    base, run_dir = done_run
    assert sorted(p.name for p in run_dir.glob("*.ipynb")) == ["01_a.ipynb", "02_b.ipynb"]
    assert not list(run_dir.glob(".*.tmp")), "temp files left behind"
    assert _executions(run_dir) == ["01_a", "02_b"]
    # the kernel ran in the notebooks folder; -p reached the notebook that declares it
    assert Path((run_dir / "cwd.txt").read_text()) == FIXTURES
    assert json.loads((run_dir / "b.json").read_text()) == {"epochs": 3}

    # only declared parameters are injected, and out_dir is the absolute run folder
    injected = {}
    for name in ("01_a.ipynb", "02_b.ipynb"):
        nb = nbformat.read(run_dir / name, as_version=4)
        cell = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
        injected[name] = dict(re.findall(r"^(\w+) = (.*)$", cell.source, re.M))
    assert set(injected["01_a.ipynb"]) == {"seed", "out_dir", "aligner"}
    assert set(injected["02_b.ipynb"]) == {"out_dir", "epochs"}
    assert json.loads(injected["01_a.ipynb"]["out_dir"]) == str(run_dir)

    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "done"
    expected = Config(epochs=3, lr=0.01).to_dict()
    expected.update(out_dir=str(run_dir), video_root=str(base / "data_samples" / "videos"),
                    train_annotations=str(base / "data_samples" / "goalstep_train.json"),
                    val_annotations=str(base / "data_samples" / "goalstep_val.json"),
                    text_cache_dir=str(base / ".cache" / "text"), feature_cache_dir=str(base / ".cache" / "features"))
    assert record["parameters"] == expected
    assert set(record["versions"]) == {"python", "machine", "vtkit", "torch", "transformers", "numpy", "papermill"}
    assert record["versions"]["vtkit"] == "0.1.0"
    head = subprocess.run(["git", "-C", str(FIXTURES), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert record["git"]["commit"] == head.stdout.strip()
        assert isinstance(record["git"]["dirty"], bool)
    else:
        assert record["git"] is None
    assert [(e["name"], e["status"]) for e in record["notebooks"]] == [("01_a.ipynb", "done"), ("02_b.ipynb", "done")]
    assert all(e["seconds"] > 0 for e in record["notebooks"])

    page = (run_dir / "report.html").read_text()
    # dp R1@0.3 = 0.25, R1@0.5 = 0.125, R5@0.5 = 0.375; unordered halves them; mIoU 0.2
    for value in ("25.00", "12.50", "37.50", "18.75", "6.25", "20.00"):
        assert f'<td class="num">{value}</td>' in page
    assert "&lt;b&gt;raw &amp; unescaped&lt;/b&gt;" in page and "<b>raw" not in page
    assert "<td>best val loss</td><td>0.6931</td>" in page and "<h3>Other figures</h3>" in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    figures = sorted((run_dir / "figures").glob("*.png"))
    assert [f.name for f in figures] == ["a_curve.png", "b_bars.png"]
    assert [base64.b64decode(i) for i in images] == [f.read_bytes() for f in figures]
    assert base64.b64decode(images[0]).startswith(PNG_MAGIC)
    assert page.index("a_curve.png</figcaption>") < page.index("b_bars.png</figcaption>")


def test_resume_skips_done_and_refuses_changed_parameters(done_run, capsys):
    base, run_dir = done_run
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base)
        code, out, err = _vtkit(capsys, "run", "--notebooks", str(FIXTURES), "--out", "reports/r", "--resume",
                                "-p", "epochs=3", "-p", "lr=0.01")
        assert code == 0, err
        assert _executions(run_dir) == ["01_a", "02_b"]  # nothing ran again
        assert out.count("skipped") == 2 and "report: " in out

        code, out, err = _vtkit(capsys, "run", "--notebooks", str(FIXTURES), "--out", "reports/r", "--resume",
                                "-p", "epochs=4", "-p", "lr=0.01")
        assert code == 2
        assert "cannot resume" in err and "epochs: 3 -> 4" in err and len(err.strip().splitlines()) == 1
        assert _executions(run_dir) == ["01_a", "02_b"]


@pytest.mark.parametrize("argv, words", [
    (["-p", "bogus_name=1"], ["unknown parameter", "bogus_name"]),
    (["-p", "seed=abc"], ["seed", "must be a int"]),
    (["-p", "aligner=greedy"], ["aligner", "must be one of"]),
    (["-p", "video_root=no/such/folder"], ["video_root", "does not exist"]),
    (["--params", "params.yaml"], ["params.yaml", "unknown parameter", "typo_name"]),
])
def test_bad_parameters_fail_before_any_notebook(tmp_path, monkeypatch, capsys, argv, words):
    _make_inputs(tmp_path)
    (tmp_path / "params.yaml").write_text("seed: 1\ntypo_name: 2\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = _vtkit(capsys, "run", "--notebooks", str(FIXTURES), "--out", "reports/bad", *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert all(w in err for w in words), err
    assert not (tmp_path / "reports").exists()


def test_failing_notebook_stops_then_resume_reruns_the_rest(tmp_path, monkeypatch, capsys):
    _make_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "r"
    _kit_folder(run_dir)
    (run_dir / "FAIL").touch()
    argv = ["run", "--notebooks", str(FIXTURES), "--out", "r"]
    code, out, err = _vtkit(capsys, *argv)
    assert code == 1
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    failed = run_dir / "02_b.failed.ipynb"
    assert str(failed) in err and "RuntimeError: FAIL marker present" in err
    assert failed.is_file() and (run_dir / "01_a.ipynb").is_file()
    assert not (run_dir / "02_b.ipynb").exists() and not (run_dir / "report.html").exists()
    # the kept notebook holds the error output
    nb = nbformat.read(failed, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert [(e.ename, e.evalue) for e in errors] == [("RuntimeError", "FAIL marker present")]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "failed"
    assert [e["status"] for e in record["notebooks"]] == ["done", "failed"]
    assert "RuntimeError" in record["notebooks"][1]["error"]

    (run_dir / "FAIL").unlink()
    code, out, err = _vtkit(capsys, *argv, "--resume")
    assert code == 0, err
    assert _executions(run_dir) == ["01_a", "02_b", "02_b"]  # 01_a was not run again
    assert not failed.exists() and (run_dir / "02_b.ipynb").is_file() and (run_dir / "report.html").is_file()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "done" and record["resumed"] is True
    assert [e["status"] for e in record["notebooks"]] == ["done", "done"]


def test_sweep_with_a_failing_point_writes_the_others(tmp_path, monkeypatch, capsys):
    _make_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "grid.yaml").write_text("grid:\n  seed: [0, 666]\n  aligner: [dp]\nparams:\n  epochs: 2\n")
    code, out, err = _vtkit(capsys, "sweep", "--grid", "grid.yaml", "--notebooks", str(FIXTURES), "--out", "sw")
    assert code == 1
    sweep = tmp_path / "sw"
    assert (sweep / "seed=0__aligner=dp" / "report.html").is_file()
    assert (sweep / "seed=666__aligner=dp" / "01_a.failed.ipynb").is_file()
    assert "seed=666__aligner=dp" in err and "Traceback" not in err + out
    with open(sweep / "sweep.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["seed"], r["aligner"], r["status"]) for r in rows] == [("0", "dp", "done"), ("666", "dp", "failed")]
    assert float(rows[0]["dp/R1@0.3"]) == 0.25 and float(rows[0]["unordered/mIoU"]) == 0.1
    assert rows[1]["dp/R1@0.3"] == "" and "ValueError: seed 666 is the failure hook" in rows[1]["error"]
    assert (sweep / "sweep.png").read_bytes().startswith(PNG_MAGIC)
    assert json.loads((sweep / "seed=0__aligner=dp" / "b.json").read_text()) == {"epochs": 2}
    assert "dp/R1@0.3" in out and "0.25" in out


def test_sweep_validates_every_point_before_running(tmp_path, monkeypatch, capsys):
    _make_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "grid.yaml").write_text("adapter_dim: [32, -1]\n")  # flat form
    code, out, err = _vtkit(capsys, "sweep", "--grid", "grid.yaml", "--notebooks", str(FIXTURES), "--out", "sw")
    assert code == 2 and "adapter_dim" in err and "adapter_dim=-1" in err
    assert not (tmp_path / "sw").exists()


def test_point_name():
    assert point_name({"negative_ratio": 2, "adapter_dim": 32, "aligner": "dp"}) == \
        "negative_ratio=2__adapter_dim=32__aligner=dp"
    assert point_name({"video_root": "a/b c"}) == "video_root=a-b-c"


def test_metrics_markdown_hand_computed():
    metrics = {"aligners": {"dp": {"R1@0.3": 0.5, "R1@0.5": 0.25, "R5@0.3": 1.0, "R5@0.5": 0.75, "mIoU": 0.123456},
                            "dfs": {"mIoU": 0.1, "R1@0.3": 0.0}},
               "queries": 4}
    assert metrics_markdown(metrics) == (
        "| aligner | R1@0.3 | R1@0.5 | R5@0.3 | R5@0.5 | mIoU |\n"
        "|---|---:|---:|---:|---:|---:|\n"
        "| dp | 50.00 | 25.00 | 100.00 | 75.00 | 12.35 |\n"
        "| dfs | 0.00 | – | – | – | 10.00 |\n")


def test_write_report_without_metrics(tmp_path):
    run_dir = tmp_path / "x<y"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"status": "done", "parameters": {"seed": 1},
                                                  "notebooks": [{"name": "01_a.ipynb", "status": "done",
                                                                 "seconds": 1.5}]}))
    page = write_report(run_dir).read_text()
    assert "<h1>vtkit run: x&lt;y</h1>" in page and "No metrics.json" in page and "No figures." in page
    assert '<td>01_a.ipynb</td><td>done</td><td class="num">1.5</td>' in page


def _kit_folder(run_dir):
    """A folder holding an (empty) earlier vtkit run, so a run may put its inputs there."""
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"tool": "vtkit", "format": 1, "parameters": {}, "versions": {},
                                                  "notebooks": [], "outputs": ["run.json"]}))


def test_killed_run_keeps_finished_notebooks_and_resume_skips_them(tmp_path):
    """SIGKILL `vtkit run` (and its kernel) while the second notebook runs, then --resume."""
    import os
    import signal
    import sys
    import time

    _make_inputs(tmp_path)
    run_dir = tmp_path / "r"
    _kit_folder(run_dir)
    (run_dir / "SLOW").touch()
    argv = [sys.executable, "-m", "vtkit", "run", "--notebooks", str(FIXTURES), "--out", "r"]
    proc = subprocess.Popen(argv, cwd=tmp_path, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (run_dir / "executions.txt").is_file() or \
                _executions(run_dir) != ["01_a", "02_b"]:
            assert proc.poll() is None and time.time() < deadline, "run ended before it could be killed"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    first = nbformat.read(run_dir / "01_a.ipynb", as_version=4)  # complete and readable
    assert first.cells and not (run_dir / "02_b.ipynb").exists() and not (run_dir / "report.html").exists()
    record = json.loads((run_dir / "run.json").read_text())
    assert [e["status"] for e in record["notebooks"]][:1] == ["done"]

    (run_dir / "SLOW").unlink()
    done = subprocess.run(argv + ["--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _executions(run_dir) == ["01_a", "02_b", "02_b"]  # 01_a was not run again
    assert (run_dir / "02_b.ipynb").is_file() and (run_dir / "report.html").is_file()
    assert not list(run_dir.glob(".*.tmp"))


def test_bare_resume_reuses_the_recorded_parameters(done_run, capsys):
    base, run_dir = done_run
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base)
        code, out, err = _vtkit(capsys, "run", "--notebooks", str(FIXTURES), "--out", "reports/r", "--resume")
    assert code == 0, err
    assert "skipped" in out
    assert json.loads((run_dir / "run.json").read_text())["parameters"]["epochs"] == 3


def test_rerun_without_resume_replaces_the_earlier_run(tmp_path, monkeypatch, capsys):
    _make_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    argv = ["run", "--notebooks", str(FIXTURES), "--out", "r"]
    assert _vtkit(capsys, *argv)[0] == 0
    (tmp_path / "r" / "leftover_from_run_1.json").write_text("{}")
    code, out, _ = _vtkit(capsys, *argv)
    assert code == 0 and "replacing the earlier run" in out and "kept 1 file(s)" in out
    assert (tmp_path / "r" / "leftover_from_run_1.json").exists()   # not written by vtkit: never deleted
    assert _executions(tmp_path / "r") == ["01_a", "02_b"]
