"""Bad paths: outputs that are folders, devices or pipes; inputs the OS refuses to open.

Every case runs the command in-process and must exit 2 with one line naming the path, leaving
every file as it was (nothing written, nothing deleted).
"""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

from test_bad_inputs import Case, _ann, _predictions, _video, run_case
from test_bad_inputs_run import FIXTURES, make_run_inputs
from vtkit.cli import main

LONG_NAME = "n" * 300  # over NAME_MAX (255)


def _steps(tmp: Path) -> Path:
    (tmp / "steps.txt").write_text("crack eggs\nwhisk\n", encoding="utf-8")
    return tmp / "steps.txt"


def _feats(tmp: Path) -> Path:
    np.save(tmp / "feats.npy", np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32))
    return tmp / "feats.npy"


def _predict_to(option: str, make_target):
    def run(tmp):
        target = make_target(tmp)
        return ["predict", "--features", str(_feats(tmp)), "--steps", str(_steps(tmp)), option, str(target)]
    return run


def _folder(name):
    def make(tmp):
        (tmp / name).mkdir()
        return tmp / name
    return make


def _fifo(name):
    def make(tmp):
        os.mkfifo(tmp / name)
        return tmp / name
    return make


def _under_a_file(tmp):
    (tmp / "notes.txt").write_text("a file, not a folder")
    return tmp / "notes.txt" / "seg.json"


def _loop(tmp, name="loop.json"):
    os.symlink(name, tmp / name)
    return tmp / name


def _submit_to(make_target):
    def run(tmp):
        root = _video(tmp)
        ann = _ann(tmp)
        return ["submit", str(ann), "--features", str(root), "--out", str(make_target(tmp))]
    return run


def _pack_into(prepare):
    def run(tmp):
        root = _video(tmp)
        out = prepare(tmp)
        return ["pack", str(root), str(out)]
    return run


def _store_json_is_a_folder(tmp):
    (tmp / "packed" / "store.json").mkdir(parents=True)
    return tmp / "packed"


def _out_is_a_file(tmp):
    (tmp / "packed").write_text("not a folder")
    return tmp / "packed"


def _inspect_path(make):
    def run(tmp):
        return ["inspect", str(make(tmp))]
    return run


def _evaluate_with(make_pred):
    def run(tmp):
        pred = make_pred(tmp)
        return ["evaluate", str(pred), str(_ann(tmp))]
    return run


def _lengths_path(make):
    def run(tmp):
        pred, ann = _predictions(tmp, lambda s: None)
        return ["check-submission", str(pred), str(ann), "--video-lengths", str(make(tmp))]
    return run


def _params_path(make):
    def run(tmp):
        return ["run", "--out", str(tmp / "report"), "--params", str(make(tmp))]
    return run


def _steps_path(make):
    def run(tmp):
        return ["predict", "--features", str(_feats(tmp)), "--steps", str(make(tmp)), "--out", str(tmp / "seg.json")]
    return run


def _run_into_a_file(tmp):
    make_run_inputs(tmp)
    (tmp / "report").write_text("a file the user keeps")
    return ["run", "--notebooks", str(FIXTURES), "--out", str(tmp / "report")]


def _not_utf8(tmp):
    (tmp / "s.txt").write_bytes(b"crack eggs\n\xff\xfe\n")
    return tmp / "s.txt"


CASES = [
    # outputs that are not regular files are never replaced
    Case("predict --out is a folder", _predict_to("--out", _folder("seg.json")), ("--out", "seg.json", "folder")),
    Case("predict --vtt is a folder", _predict_to("--vtt", _folder("steps.vtt")), ("--vtt", "steps.vtt", "folder")),
    Case("predict --srt is a device", _predict_to("--srt", lambda t: Path("/dev/null")),
         ("--srt", "/dev/null", "not a regular file")),
    Case("predict --out is a pipe", _predict_to("--out", _fifo("seg.json")), ("seg.json", "not a regular file")),
    Case("predict --out under a file", _predict_to("--out", _under_a_file), ("notes.txt", "Not a directory")),
    Case("predict --out name too long", _predict_to("--out", lambda t: t / LONG_NAME), ("--out", "too long")),
    Case("submit --out is a folder", _submit_to(_folder("sub.json")), ("--out", "sub.json", "folder")),
    Case("submit --out is a device", _submit_to(lambda t: Path("/dev/zero")), ("/dev/zero", "not a regular file")),
    Case("pack store.json is a folder", _pack_into(_store_json_is_a_folder), ("store.json", "folder")),
    Case("pack OUT is a file", _pack_into(_out_is_a_file), ("packed", "Not a directory")),
    Case("run --out is a file", _run_into_a_file, ("report", "is a file")),
    # inputs the OS refuses
    Case("annotations are a folder", _inspect_path(_folder("ann.json")), ("ann.json", "folder")),
    Case("annotations are a symlink loop", _inspect_path(_loop), ("loop.json", "symbolic links")),
    Case("annotations name too long", _inspect_path(lambda t: t / LONG_NAME), (LONG_NAME[:50], "too long")),
    Case("annotations are a device", _inspect_path(lambda t: Path("/dev/zero")), ("/dev/zero", "device")),
    Case("annotations under a file", _inspect_path(lambda t: _under_a_file(t)), ("notes.txt", "Not a directory")),
    Case("predictions are a folder", _evaluate_with(_folder("pred.json")), ("pred.json", "folder")),
    Case("predictions are a symlink loop", _evaluate_with(lambda t: _loop(t, "pred.json")),
         ("pred.json", "symbolic links")),
    Case("video lengths are a folder", _lengths_path(_folder("lengths.json")), ("lengths.json", "folder")),
    Case("parameter YAML is a folder", _params_path(_folder("p.yaml")), ("p.yaml", "folder")),
    Case("parameter YAML is a symlink loop", _params_path(lambda t: _loop(t, "p.yaml")), ("p.yaml", "symbolic")),
    Case("steps file is a folder", _steps_path(_folder("steps.txt")), ("steps.txt", "folder")),
    Case("steps file is a symlink loop", _steps_path(lambda t: _loop(t, "steps.txt")), ("steps.txt", "symbolic")),
    Case("steps file is not UTF-8", _steps_path(_not_utf8), ("s.txt", "UTF-8")),
]
for _case in CASES:
    _case.unchanged = True


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_path(case, tmp_path, capsys, monkeypatch):
    run_case(case, tmp_path, capsys, monkeypatch)


def test_disk_full_while_writing_leaves_nothing(tmp_path, capsys, monkeypatch):
    """ENOSPC on the final rename: one line naming the target, no temp file, no target."""
    import vtkit.io

    replace = os.replace

    def full(src, dst):
        if str(dst).endswith("seg.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        replace(src, dst)

    monkeypatch.setattr(vtkit.io.os, "replace", full)
    case = Case("disk full", _predict_to("--out", lambda t: t / "seg.json"), ("seg.json", "No space left"))
    run_case(case, tmp_path, capsys, monkeypatch)
    assert not (tmp_path / "seg.json").exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_disk_full_inside_the_write_is_named(tmp_path, monkeypatch):
    """ENOSPC raised by the writing itself (no file name on the error) names the target."""
    from vtkit.errors import VtkitError
    from vtkit.io import atomic_open

    with pytest.raises(VtkitError, match=r"out\.bin: cannot write \(No space left on device\)"):
        with atomic_open(tmp_path / "out.bin", "wb"):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_permission_denied_reading_is_one_line(tmp_path, capsys, monkeypatch):
    """(Simulated: the suite may run as root, which no permission stops.)"""
    import vtkit.io

    ann = _ann(tmp_path)

    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(vtkit.io, "open", denied, raising=False)
    assert main(["inspect", str(ann)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ann.json" in err[0] and "Permission denied" in err[0]


def test_any_oserror_reaching_the_cli_is_one_line_naming_its_path(capsys, monkeypatch):
    import vtkit.annotations

    def boom(_):
        raise OSError(errno.EIO, "Input/output error", "/data/videos/vid-a/chunk_3.pt")

    monkeypatch.setattr(vtkit.annotations, "load_annotations", boom)
    assert main(["inspect", "whatever.json"]) == 2
    assert capsys.readouterr().err.strip() == \
        "vtkit inspect: error: /data/videos/vid-a/chunk_3.pt: Input/output error"


def test_an_existing_regular_file_is_replaced_atomically(tmp_path):
    from vtkit.io import write_json

    target = tmp_path / "out.json"
    target.write_text("old")
    write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
