"""Malformed inputs across annotations, features, parameters, predictions and alignment.

Each case builds a broken input in a temporary folder and runs the command a user would run.
It must fail with exit code 2 and ONE line on stderr naming the file (or parameter) and the
field, never a traceback; or, for the documented tolerated cases, succeed with the quirk
counted. No partial output may be left behind. The README's Troubleshooting section lists
these messages.
"""
from __future__ import annotations

import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from vtkit.cli import main


def _ann(tmp: Path, mutate=None, name="ann.json") -> Path:
    step = {"start_time": 12.0, "end_time": 20.0, "step_category": "G: N", "step_description": "crack eggs",
            "is_continued": False, "is_procedural": True, "is_relevant": "essential", "summary": [], "segments": []}
    data = {"version": "1.0", "split": "val", "videos": [
        {"video_uid": "vid-a", "start_time": 10.0, "end_time": 40.0, "goal_category": "COOKING:X",
         "goal_description": "cook", "segments": [step, dict(step, start_time=20.0, end_time=30.0,
                                                             step_description="whisk")]}]}
    if mutate:
        mutate(data)
    path = tmp / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _video(tmp: Path, n=20, d=8, name="vid-a", edit=None) -> Path:
    root = tmp / "videos"
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        torch.save(torch.randn(d), folder / f"chunk_{i}.pt")
    if edit:
        edit(folder)
    return root


def _set(path: str, value):
    def mutate(data):
        *keys, last = path.split(".")
        obj = data
        for k in keys:
            obj = obj[int(k)] if k.isdigit() else obj[k]
        if value is _DELETE:
            del obj[int(last) if last.isdigit() else last]
        else:
            obj[int(last) if last.isdigit() else last] = value
    return mutate


_DELETE = object()


class Evil:
    """Unpickling this would create a file: a loader that runs code is caught red-handed."""

    target = ""

    def __reduce__(self):
        return (open, (self.target, "w"))


def _evil_chunk(tmp: Path):
    marker = tmp / "PWNED"

    def edit(folder):
        Evil.target = str(marker)
        with open(folder / "chunk_3.pt", "wb") as fh:
            pickle.dump(Evil(), fh)
    return edit, marker


def _predictions(tmp: Path, mutate) -> tuple[Path, Path]:
    ann = _ann(tmp)
    results = [{"clip_uid": "vid-a", "annotation_uid": "vid-a_10.0_40.0", "query_idx": i,
                "predicted_times": [[12.0, 20.0]] * 5} for i in range(2)]
    sub = {"version": "1.0", "challenge": "ego4d_goalstep_challenge", "results": results}
    mutate(sub)
    path = tmp / "pred.json"
    path.write_text(json.dumps(sub))
    return path, ann


@dataclass
class Case:
    name: str
    run: Callable[[Path], list[str]]        # builds input, returns the CLI argv
    expect: tuple[str, ...]                 # strings the one-line error must contain ({tmp} allowed)
    ok: bool = False                        # a tolerated input: exit 0
    after: Callable[[Path], None] | None = None
    unchanged: bool = False                 # a refused input leaves every file as it was: none new, none lost


def _snapshot(tmp: Path) -> dict[str, bytes | None]:
    """Every entry under ``tmp``: file contents (None for folders and other entries)."""
    out = {}
    for path in sorted(tmp.rglob("*")):
        rel = str(path.relative_to(tmp))
        out[rel] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return out


def run_case(case: Case, tmp_path: Path, capsys, monkeypatch) -> str:
    """Run one case through ``vtkit.cli.main``; returns its one error line (empty for a tolerated input)."""
    monkeypatch.chdir(tmp_path)
    argv = case.run(tmp_path)
    before = _snapshot(tmp_path) if case.unchanged else None
    code = main(argv)
    err = capsys.readouterr().err.strip()
    line = ""
    if case.ok:
        assert code == 0, err
    else:
        assert code == 2, f"exit {code}: {err}"
        lines = [line for line in err.splitlines()  # progress bars and notes (untrained model) aside
                 if line.strip() and "%|" not in line and not line.startswith(f"vtkit {argv[0]}: note:")]
        assert len(lines) == 1, err
        assert "Traceback" not in err
        line = lines[0]
        for text in case.expect:
            text = text.replace("{tmp}", str(tmp_path))
            assert text in line, f"{text!r} not in {line!r}"
        assert len(line) < 2000 and line.isprintable(), line
    if before is not None:
        after = _snapshot(tmp_path)
        assert sorted(set(after) - set(before)) == [], "output left behind"
        assert sorted(set(before) - set(after)) == [], "files deleted"
        assert [k for k in before if before[k] != after[k]] == [], "files changed"
    if case.after:
        case.after(tmp_path)
    return line


def _inspect(mutate=None, raw: str | bytes | None = None):
    def run(tmp):
        if raw is None:
            return ["inspect", str(_ann(tmp, mutate))]
        path = tmp / "ann.json"
        path.write_bytes(raw if isinstance(raw, bytes) else raw.encode())
        return ["inspect", str(path)]
    return run


def _pack(edit=None, **kw):
    def run(tmp):
        root = _video(tmp, edit=edit, **kw)
        return ["pack", str(root), str(tmp / "packed")]
    return run


def _no_partial_pack(tmp: Path):
    out = tmp / "packed"
    leftovers = [p.name for p in out.rglob("*")] if out.exists() else []
    assert not [p for p in leftovers if p.endswith(".npy") or p.endswith(".tmp")], leftovers


def _no_temp_files(tmp: Path):
    """Videos packed before the bad one stay (complete, atomically written); nothing half-written."""
    assert not [p for p in tmp.rglob("*") if p.name.endswith(".tmp")]


def _evil_case(tmp):
    edit, marker = _evil_chunk(tmp)
    root = _video(tmp, edit=edit)
    return ["pack", str(root), str(tmp / "packed")]


def _evil_after(tmp):
    assert not (tmp / "PWNED").exists(), "loading a chunk ran code"
    _no_partial_pack(tmp)


def _mixed_dims(tmp):
    _video(tmp, d=8, name="vid-a")
    root = _video(tmp, d=16, name="vid-b")
    return ["pack", str(root), str(tmp / "packed")]


def _run_params(*pairs):
    def run(tmp):
        return ["run", "--out", str(tmp / "report"), *sum((["-p", p] for p in pairs), [])]
    return run


def _train_with_ghost_video(tmp):
    root = _video(tmp)
    ann = _ann(tmp, lambda d: d["videos"].append(dict(d["videos"][0], video_uid="vid-ghost")))
    return ["train", "--quiet", "-p", f"video_root={root}", "-p", f"train_annotations={ann}",
            "-p", f"val_annotations={ann}", "-p", f"out_dir={tmp / 'out'}", "-p", f"text_cache_dir={tmp / 'cache'}"]


def _evil_checkpoint(tmp):
    """A 'checkpoint' that is a pickle which would create a file when unpickled."""
    Evil.target = str(tmp / "PWNED")
    ckpt = tmp / "best.safetensors"
    with open(ckpt, "wb") as fh:
        pickle.dump(Evil(), fh)
    from vtkit.checkpoint import CHECKPOINT_FORMAT

    state = {"format": CHECKPOINT_FORMAT, "weights": ckpt.name, "optimizer": {"file": ckpt.name},
             "global_step": 1, "history": []}
    (tmp / "best.json").write_text(json.dumps(state))
    (tmp / "steps.txt").write_text("crack eggs\n")
    np.save(tmp / "feats.npy", np.zeros((5, 8), np.float32))
    return ["predict", "--features", str(tmp / "feats.npy"), "--steps", str(tmp / "steps.txt"),
            "--checkpoint", str(ckpt), "--out", str(tmp / "seg.json")]


def _evil_checkpoint_after(tmp):
    assert not (tmp / "PWNED").exists(), "loading a checkpoint ran code"
    _no_segments(tmp)


def _no_checkpoints(tmp):
    assert not (tmp / "out" / "checkpoints").exists()


def _no_run_folder(tmp):
    out = tmp / "report"
    assert not out.exists() or not any(out.iterdir())


def _evaluate(mutate):
    def run(tmp):
        pred, ann = _predictions(tmp, mutate)
        return ["evaluate", str(pred), str(ann)]
    return run


def _predict(features: Callable[[Path], Path], steps: str = "crack eggs\nwhisk\n"):
    def run(tmp):
        s = tmp / "steps.txt"
        s.write_text(steps, encoding="utf-8")
        return ["predict", "--features", str(features(tmp)), "--steps", str(s), "--out", str(tmp / "seg.json")]
    return run


def _npy(array):
    def make(tmp):
        path = tmp / "feats.npy"
        np.save(path, array)
        return path
    return make


def _no_segments(tmp):
    assert not (tmp / "seg.json").exists()


CASES = [
    # annotations
    Case("truncated JSON", _inspect(raw='{"videos": [{"video_uid": "a", '), ("ann.json", "not valid JSON")),
    Case("not UTF-8", _inspect(raw=b'\xff\xfe{"videos": []}'), ("ann.json", "UTF-8")),
    Case("top level is a list", _inspect(raw="[1, 2]"), ("ann.json", "videos")),
    Case("videos is not a list", _inspect(_set("videos", {"a": 1})), ("ann.json", "videos", "list")),
    Case("time is a string", _inspect(_set("videos.0.segments.0.start_time", "12")),
         ("ann.json", "segments[0].start_time", "number")),
    Case("negative time", _inspect(_set("videos.0.segments.1.start_time", -4.0)),
         ("ann.json", "segments[1].start_time", ">= 0")),
    Case("reversed times", _inspect(_set("videos.0.segments.0.end_time", 5.0)),
         ("ann.json", "segments[0].end_time", "not after")),
    Case("NaN time", _inspect(raw='{"videos": [{"video_uid": "v", "start_time": NaN, "end_time": 3}]}'),
         ("ann.json", "start_time", "finite")),
    Case("missing description", _inspect(_set("videos.0.segments.0.step_description", _DELETE)),
         ("ann.json", "segments[0].step_description", "missing")),
    Case("empty description", _inspect(_set("videos.0.segments.1.step_description", "  ")),
         ("ann.json", "segments[1].step_description", "empty")),
    Case("unknown relevance", _inspect(_set("videos.0.segments.0.is_relevant", "sometimes")),
         ("ann.json", "is_relevant", "essential")),
    Case("duplicate video id", _inspect(lambda d: d["videos"].append(d["videos"][0])),
         ("ann.json", "videos[1].video_uid", "duplicate")),
    Case("missing video id", _inspect(_set("videos.0.video_uid", _DELETE)), ("ann.json", "videos[0].video_uid")),
    Case("test split: segment_count 0",
         _inspect(raw='{"videos": [{"video_uid": "v", "step_segments": [{"step_description": "a", '
                      '"segment_count": 0}]}]}'), ("ann.json", "segment_count", ">= 1")),
    Case("non-ASCII descriptions are fine", _inspect(_set("videos.0.segments.0.step_description",
                                                          "schneide die Zwiebel – 玉ねぎを切る")), (), ok=True),
    Case("zero steps is counted, not fatal", _inspect(_set("videos.0.segments", [])), (), ok=True),
    # features
    Case("gap in chunk indices", _pack(lambda f: (f / "chunk_4.pt").unlink()),
         ("vid-a", "chunk_"), after=_no_partial_pack),
    Case("inconsistent D across chunks", _pack(lambda f: torch.save(torch.randn(5), f / "chunk_2.pt")),
         ("vid-a", "chunk_2.pt"), after=_no_partial_pack),
    Case("NaN feature", _pack(lambda f: torch.save(torch.full((8,), math.nan), f / "chunk_6.pt")),
         ("vid-a", "chunk_6.pt", "NaN"), after=_no_partial_pack),
    Case("Inf feature", _pack(lambda f: torch.save(torch.full((8,), math.inf), f / "chunk_1.pt")),
         ("vid-a", "chunk_1.pt"), after=_no_partial_pack),
    Case("empty video folder", _pack(n=0), ("vid-a",), after=_no_partial_pack),
    Case("chunk holds a dict", _pack(lambda f: torch.save({"x": torch.randn(8)}, f / "chunk_0.pt")),
         ("chunk_0.pt",), after=_no_partial_pack),
    Case("integer tensor", _pack(lambda f: torch.save(torch.arange(8), f / "chunk_0.pt")),
         ("chunk_0.pt",), after=_no_partial_pack),
    Case("pickle that would run code", _evil_case, ("chunk_3.pt",), after=_evil_after),
    Case("feature dims differ across videos", _mixed_dims, ("vid-b", "16"), after=_no_temp_files),
    Case("annotated video without features", _train_with_ghost_video, ("vid-ghost", "skip_missing_features"),
         after=_no_checkpoints),
    Case("checkpoint that is a pickle which would run code", _evil_checkpoint, ("best.safetensors",),
         after=_evil_checkpoint_after),
    Case("features file missing", _predict(lambda t: t / "missing.npy"), ("missing.npy",), after=_no_segments),
    Case("NaN in a packed array", _predict(_npy(np.array([[0.0, np.nan], [1.0, 2.0]], dtype=np.float32))),
         ("feats.npy", "NaN"), after=_no_segments),
    Case("features of the wrong rank", _predict(_npy(np.zeros((2, 3, 4, 5), dtype=np.float32))),
         ("feats.npy",), after=_no_segments),
    Case("more steps than chunks is aligned with skips",
         _predict(_npy(np.random.default_rng(0).normal(size=(2, 8)).astype(np.float32)), "a\nb\nc\nd\n"), (),
         ok=True),
    # parameters
    Case("unknown parameter", _run_params("learning_rate=0.1"), ("learning_rate", "unknown"), after=_no_run_folder),
    Case("ill-typed parameter", _run_params("epochs=many"), ("epochs", "int"), after=_no_run_folder),
    Case("out-of-range parameter", _run_params("lr=-1"), ("lr", "> 0"), after=_no_run_folder),
    Case("unknown choice", _run_params("aligner=viterbi"), ("aligner", "dp"), after=_no_run_folder),
    Case("min_len above max_len", _run_params("min_len=5", "max_len=2"), ("max_len", "min_len"),
         after=_no_run_folder),
    Case("path does not exist", _run_params("video_root=/nonexistent/videos"), ("video_root", "/nonexistent"),
         after=_no_run_folder),
    # predictions
    Case("prediction for an unknown query", _evaluate(lambda s: s["results"][0].update(query_idx=99)),
         ("pred.json", "99")),
    Case("prediction without predicted_times", _evaluate(lambda s: s["results"][1].pop("predicted_times")),
         ("pred.json", "predicted_times")),
    Case("fewer than 5 windows", _evaluate(lambda s: s["results"][0].update(predicted_times=[[1.0, 2.0]])),
         ("pred.json", "window")),
    Case("window with start > end", _evaluate(lambda s: s["results"][0].update(
        predicted_times=[[9.0, 3.0]] * 5)), ("pred.json", "start")),
    Case("non-finite window", _evaluate(lambda s: s["results"][0].update(
        predicted_times=[[1.0, float("inf")]] * 5)), ("pred.json",)),
    Case("results is not a list", _evaluate(lambda s: s.update(results={"a": 1})), ("pred.json", "results")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, tmp_path, capsys, monkeypatch):
    run_case(case, tmp_path, capsys, monkeypatch)


def test_there_are_at_least_25_bad_inputs():
    assert sum(not c.ok for c in CASES) >= 25
