"""`vtkit run --out DIR` never deletes what vtkit did not write.

A folder is replaced only when its run.json is provably the kit's record, and then only the
files that record lists (older records: the kit's known outputs) are deleted. Anything else is
refused with one line, touching nothing. Most cases stop before a notebook starts (fast); one
end-to-end rerun uses the two fixture notebooks of test_run.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_bad_inputs import Case, run_case
from vtkit.cli import main
from vtkit.errors import VtkitError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "notebooks"


def make_run_inputs(folder: Path) -> None:
    """The input paths the default Config must find, relative to ``folder``."""
    (folder / "data_samples" / "videos").mkdir(parents=True, exist_ok=True)
    for name in ("goalstep_train.json", "goalstep_val.json"):
        (folder / "data_samples" / name).write_text('{"videos": []}')


def _legacy_record(**changes) -> dict:
    """A run.json as the kit wrote it before it listed its outputs."""
    record = {"format": 1, "status": "done", "started": "2024-01-01T00:00:00+00:00", "finished": None,
              "notebooks_dir": "/somewhere/notebooks", "parameters": {"epochs": 3}, "versions": {"vtkit": "0.1.0"},
              "git": None, "resumed": False, "notebooks": [{"name": "01_a.ipynb", "status": "done", "seconds": 1.5}],
              "report": "report.html"}
    record.update(changes)
    return record


def _marked_record(outputs, **changes) -> dict:
    return _legacy_record(tool="vtkit", outputs=list(outputs), **changes)


def _folder_with(files: dict[str, str | dict | list]):
    """A run folder holding ``files`` (dicts and lists are written as JSON)."""
    def make(tmp: Path) -> Path:
        make_run_inputs(tmp)
        out = tmp / "report"
        for name, content in files.items():
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content if isinstance(content, str) else json.dumps(content))
        return out
    return make


def _run(make, *extra: str):
    def run(tmp):
        out = make(tmp)
        return ["run", "--notebooks", str(FIXTURES), "--out", str(out), *extra]
    return run


def _symlinked_record(tmp):
    make_run_inputs(tmp)
    (tmp / "elsewhere.json").write_text(json.dumps(_marked_record(["run.json"])))
    (tmp / "report").mkdir()
    (tmp / "report" / "run.json").symlink_to(tmp / "elsewhere.json")
    return tmp / "report"


CASES = [
    Case("run.json of another tool", _run(_folder_with({"run.json": {"name": "my app", "runs": 3},
                                                        "thesis.tex": "months of work"})),
         ("report/run.json", "not a vtkit run record")),
    Case("run.json marked by another tool", _run(_folder_with({"run.json": _legacy_record(tool="other")})),
         ("run.json", "tool", "other")),
    Case("run.json of another format", _run(_folder_with({"run.json": _legacy_record(format=2)})),
         ("run.json", "format")),
    Case("run.json format true is not 1", _run(_folder_with({"run.json": _legacy_record(format=True)})),
         ("run.json", "format")),
    Case("run.json is a list", _run(_folder_with({"run.json": [1, 2]})), ("run.json", "not a JSON object")),
    Case("run.json is not JSON", _run(_folder_with({"run.json": "{oops"})), ("run.json", "not valid JSON")),
    Case("run.json parameters not an object", _run(_folder_with({"run.json": _legacy_record(parameters=[1])})),
         ("run.json", "parameters")),
    Case("run.json notebooks entry without a name",
         _run(_folder_with({"run.json": _legacy_record(notebooks=[{"status": "done"}])})),
         ("run.json", "notebooks[0]")),
    Case("run.json negative notebook seconds",
         _run(_folder_with({"run.json": _legacy_record(notebooks=[{"name": "01_a.ipynb", "status": "done",
                                                                    "seconds": -3}])})),
         ("run.json", "notebooks[0]")),
    Case("run.json outputs reach outside the folder",
         _run(_folder_with({"run.json": _marked_record(["run.json", "../../home/user/thesis.tex"])})),
         ("run.json", "outputs")),
    Case("run.json outputs not a list", _run(_folder_with({"run.json": _legacy_record(tool="vtkit", outputs="all")})),
         ("run.json", "outputs")),
    Case("run.json is a symbolic link", _run(_symlinked_record), ("run.json", "symbolic link")),
    Case("run.json is a folder", _run(_folder_with({"run.json/x": "x"})), ("report", "holds no vtkit run")),
    Case("non-empty folder without run.json", _run(_folder_with({"notes.md": "mine", "data/x.csv": "1,2"})),
         ("report", "not empty", "no vtkit run")),
    Case("resume into another tool's run.json", _run(_folder_with({"run.json": {"parameters": {}, "notebooks": []}}),
                                                    "--resume", "-p", "epochs=3"), ("run.json", "not a vtkit")),
    Case("bare resume of a run.json without parameters",
         _run(_folder_with({"run.json": {k: v for k, v in _legacy_record().items() if k != "parameters"}}),
              "--resume"), ("run.json", "parameters")),
    Case("bare resume with a non-finite recorded lr",
         _run(_folder_with({"run.json": '{"format": 1, "parameters": {"lr": Infinity}, "versions": {}, '
                                        '"notebooks": []}'}), "--resume"), ("run.json", "lr", "finite")),
]
for _case in CASES:
    _case.unchanged = True


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_run_folder_refused(case, tmp_path, capsys, monkeypatch):
    run_case(case, tmp_path, capsys, monkeypatch)


# ------------------------------------------------------------------------------------ replacement


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _prepare(folder: Path, replace=True, echo=False):
    from vtkit.run import _prepare_run_dir

    return _prepare_run_dir(folder, [], replace=replace, echo=echo)


def test_an_older_record_deletes_only_the_known_outputs(tmp_path, capsys):
    make = _folder_with({"run.json": _legacy_record(), "01_a.ipynb": "{}", "02_b.failed.ipynb": "{}",
                         "report.html": "<p>", "metrics.json": "{}", "predictions_dp.json": "{}",
                         "figures/01_x.png": "png", "checkpoints/best.safetensors": "w",
                         "history.csv": "a", "training.json": "{}", "data_summary.json": "{}",
                         "my_notes.md": "keep", "figures/sketch.svg": "keep", "sub/metrics.json": "keep"})
    folder = make(tmp_path)
    kept = _prepare(folder, echo=True)
    assert _files(folder) == ["figures/sketch.svg", "my_notes.md", "sub/metrics.json"]
    assert kept == set(_files(folder))
    assert not (folder / "checkpoints").exists(), "the emptied folder of the run is removed"
    out = capsys.readouterr().out
    assert "replacing the earlier run" in out and "kept 3 file(s)" in out and "my_notes.md" in out


def test_a_marked_record_deletes_only_what_it_lists(tmp_path):
    folder = _folder_with({"run.json": _marked_record(["run.json", "metrics.json", "figures/a.png", "gone.txt"]),
                           "metrics.json": "{}", "figures/a.png": "png", "figures/b.png": "user's",
                           "report.html": "not listed: the user's"})(tmp_path)
    assert _prepare(folder) == {"figures/b.png", "report.html"}
    assert _files(folder) == ["figures/b.png", "report.html"]


def test_resume_and_partial_runs_delete_nothing(tmp_path):
    folder = _folder_with({"run.json": _marked_record(["run.json", "metrics.json"]), "metrics.json": "{}",
                           "mine.txt": "x"})(tmp_path)
    assert _prepare(folder, replace=False) == {"mine.txt"}
    assert _files(folder) == ["metrics.json", "mine.txt", "run.json"]


def test_replacing_a_folder_holding_the_current_folder_is_refused(tmp_path):
    from vtkit.run import _prepare_run_dir

    folder = _folder_with({"run.json": _marked_record(["run.json"])})(tmp_path)
    with pytest.raises(VtkitError, match="holds the notebooks or the current folder"):
        _prepare_run_dir(folder, [(folder / "sub").resolve()], replace=True, echo=False)
    assert _files(folder) == ["run.json"]


def test_rerun_keeps_files_the_run_did_not_write(tmp_path, monkeypatch, capsys):
    """End to end: the record lists what the run wrote; a rerun deletes exactly that."""
    make_run_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    argv = ["run", "--notebooks", str(FIXTURES), "--out", "r"]
    assert main(argv) == 0, capsys.readouterr().err
    run_dir = tmp_path / "r"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["tool"] == "vtkit"
    assert record["outputs"] == _files(run_dir)  # every file in the folder, and only those, were written by it
    assert {"run.json", "report.html", "01_a.ipynb", "02_b.ipynb", "metrics.json"} <= set(record["outputs"])
    (run_dir / "my_analysis.py").write_text("print('mine')")
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "replacing the earlier run" in out and "kept 1 file(s)" in out and "my_analysis.py" in out
    assert (run_dir / "my_analysis.py").read_text() == "print('mine')"
    assert (run_dir / "executions.txt").read_text().split() == ["01_a", "02_b"]  # the earlier run's file went
    assert "my_analysis.py" not in json.loads((run_dir / "run.json").read_text())["outputs"]
