"""The sample-data generator: determinism, GoalStep format, committed statistics, learnability."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vtkit.errors import VtkitError
from vtkit.samples import (HiddenMap, cli_samples, encode_texts, generate_samples, task_steps,
                           to_test_format, TASKS)

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "data_samples"
VIDEO_KEYS = {"video_uid", "start_time", "end_time", "goal_category", "goal_description", "goal_wikihow_url",
              "summary", "is_procedural", "segments"}
STEP_KEYS = {"start_time", "end_time", "step_category", "step_description", "is_continued", "is_procedural",
             "is_relevant", "summary", "segments"}
RELEVANCE = {"essential", "optional", "irrelevant", "unsure"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "samples"
    summary = generate_samples(out, seed=1, n_train=2, n_val=1, minutes=(1, 2))
    return out, summary


@pytest.fixture(scope="module")
def probe_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("probe") / "samples"
    generate_samples(out, seed=1, n_train=8, n_val=3, minutes=(4, 6))
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _videos(root: Path) -> list[dict]:
    return [v for split in ("train", "val") for v in json.loads((root / f"goalstep_{split}.json").read_text())["videos"]]


def _chunk_count(root: Path, uid: str) -> int:
    files = list((root / "videos" / uid).glob("chunk_*.pt"))
    assert sorted(int(p.stem.split("_")[1]) for p in files) == list(range(len(files)))
    return len(files)


# ---------------------------------------------------------------------------------------------- determinism

def test_same_seed_gives_byte_identical_files(tiny, tmp_path):
    first, _ = tiny
    again = tmp_path / "samples"          # same folder name: the README quotes the command
    generate_samples(again, seed=1, n_train=2, n_val=1, minutes=(1, 2))
    a, b = _files(first), _files(again)
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []


def test_other_seed_differs(tiny, tmp_path):
    other = tmp_path / "other"
    generate_samples(other, seed=2, n_train=2, n_val=1, minutes=(1, 2))
    assert (other / "goalstep_train.json").read_bytes() != (tiny[0] / "goalstep_train.json").read_bytes()


def test_regeneration_replaces_the_folder(tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    generate_samples(out, seed=1, n_train=1, n_val=1, minutes=(1, 1))
    assert not (out / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["s"]     # no temp or old folder left behind


# ---------------------------------------------------------------------------------------------- format

def _check_entry(entry: dict, keys: set[str]) -> None:
    assert set(entry) == keys
    assert isinstance(entry["start_time"], float) and isinstance(entry["end_time"], float)
    assert entry["start_time"] < entry["end_time"]
    assert entry["is_relevant"] in RELEVANCE
    group, name = entry["step_category"].split(": ", 1)
    assert group and name.lower() == entry["step_description"]
    assert entry["step_description"] == entry["step_description"].lower()


def _check_format(root: Path, durations: dict[str, float] | None = None) -> None:
    for split in ("train", "val"):
        data = json.loads((root / f"goalstep_{split}.json").read_text())
        assert set(data) == {"version", "date", "description", "split", "videos"}
        assert data["version"] == "1.0" and data["split"] == split
        for video in data["videos"]:
            assert set(video) == VIDEO_KEYS
            assert video["goal_category"] in TASKS
            assert 0 <= video["start_time"] < video["end_time"]
            n = _chunk_count(root, video["video_uid"])
            if durations is not None:
                assert n == math.ceil(durations[video["video_uid"]] / 2.0 - 1e-9)
            assert video["end_time"] <= 2.0 * n                  # the goal lies inside the video
            for step in video["segments"]:
                _check_entry(step, STEP_KEYS)
                assert video["start_time"] <= step["start_time"] and step["end_time"] <= video["end_time"]
                for sub in step["segments"]:
                    _check_entry(sub, STEP_KEYS - {"segments"})
                    assert step["start_time"] <= sub["start_time"] and sub["end_time"] <= step["end_time"] + 3.0
            x = torch.load(root / "videos" / video["video_uid"] / "chunk_0.pt", weights_only=True)
            assert x.dtype == torch.float32 and x.shape == (256,)
    test = json.loads((root / "goalstep_test_format.json").read_text())
    val = json.loads((root / "goalstep_val.json").read_text())["videos"]
    assert [v["video_uid"] for v in test["videos"]] == [v["video_uid"] for v in val]
    for tv, vv in zip(test["videos"], val):
        assert set(tv) == {"video_uid", "step_segments"}
        n_queries = sum(1 + len(s["segments"]) for s in vv["segments"])
        assert sum(s["segment_count"] for s in tv["step_segments"]) == n_queries


def test_tiny_dataset_format(tiny):
    root, summary = tiny
    durations = {row["video_uid"]: row["duration"] for row in summary["videos"]}
    _check_format(root, durations)
    assert summary["chunks"] == sum(_chunk_count(root, uid) for uid in durations)
    assert sum(uid.startswith("grp-") for uid in durations) == 1
    assert (root / "README.md").read_text().count("--seed 1 --train 2 --val 1 --minutes 1 2") == 1


def test_test_format_counts_repeated_descriptions():
    step = {"step_description": "flip the pancake", "segments": [{"step_description": "lift the edge"}]}
    videos = [{"video_uid": "v", "segments": [step, {"step_description": "plate it", "segments": []}, step]}]
    assert to_test_format(videos)["videos"] == [{"video_uid": "v", "step_segments": [
        {"step_description": "flip the pancake", "segment_count": 2},
        {"step_description": "lift the edge", "segment_count": 2},
        {"step_description": "plate it", "segment_count": 1}]}]


def test_vocabulary_is_well_formed():
    for task in TASKS:
        steps = task_steps(task)
        assert 14 <= len(steps) <= 30
        assert any(s.substeps for s in steps) and any(s.optional for s in steps) and any(s.repeated for s in steps)
    words = [len(s.description.split()) for t in TASKS for s in task_steps(t)]
    assert 3.5 <= np.mean(words) <= 6


def test_hidden_map_rows_are_orthonormal():
    hidden = HiddenMap.from_rng(np.random.default_rng(0))
    assert hidden.weight.shape == (256, 384)
    np.testing.assert_allclose(hidden.weight @ hidden.weight.T, np.eye(256), atol=1e-10)


def test_bad_arguments_are_one_line_errors(tmp_path):
    with pytest.raises(VtkitError, match="at least one"):
        generate_samples(tmp_path / "x", n_train=0)
    with pytest.raises(VtkitError, match="minutes"):
        generate_samples(tmp_path / "x", minutes=(3, 1))


def test_cli(tmp_path, capsys):
    assert cli_samples(["--out", str(tmp_path / "c"), "--seed", "4", "--train", "1", "--val", "1",
                        "--minutes", "1", "1"]) == 0
    assert "2 videos" in capsys.readouterr().out
    assert (tmp_path / "c" / "goalstep_val.json").is_file()


def test_loads_with_vtkit_annotations(tiny):
    annotations = pytest.importorskip("vtkit.annotations")
    root, _ = tiny
    val = annotations.load_annotations(root / "goalstep_val.json")
    raw = json.loads((root / "goalstep_val.json").read_text())["videos"]
    assert [v.video_uid for v in val.videos] == [v["video_uid"] for v in raw]
    assert sum(len(v.queries) for v in val.videos) == sum(1 + len(s["segments"]) for v in raw for s in v["segments"])
    test = annotations.load_annotations(root / "goalstep_test_format.json")
    assert not test.has_times and len(test.videos) == len(raw)


# ---------------------------------------------------------------------------------------------- committed data

committed = pytest.mark.skipif(not (COMMITTED / "goalstep_train.json").is_file(), reason="no data_samples/")


@committed
def test_committed_format():
    _check_format(COMMITTED)


@committed
def test_committed_statistics():
    videos = _videos(COMMITTED)
    assert len(videos) >= 10 and sum(v["video_uid"].startswith("grp-") for v in videos) >= 1
    assert any(v["start_time"] > 20 for v in videos)                   # footage before the goal
    steps = [s for v in videos for s in v["segments"]]
    lengths = np.array([s["end_time"] - s["start_time"] for s in steps])
    assert 35 <= lengths.mean() <= 70
    assert 12 <= np.median(lengths) <= 30
    covered = goal = 0.0
    for v in videos:
        goal += v["end_time"] - v["start_time"]
        mask = np.zeros(int(round((v["end_time"] - v["start_time"]) * 10)), bool)   # 0.1 s grid
        for s in v["segments"]:
            mask[int((s["start_time"] - v["start_time"]) * 10):int((s["end_time"] - v["start_time"]) * 10)] = True
        covered += mask.sum() / 10
    assert 0.75 <= covered / goal <= 0.92
    assert sum(b["start_time"] < a["end_time"] for v in videos for a, b in zip(v["segments"], v["segments"][1:])) >= 1
    assert any(len({s["step_description"] for s in v["segments"]}) < len(v["segments"]) for v in videos)
    with_subs = sum(bool(s["segments"]) for s in steps)
    assert 0.25 <= with_subs / len(steps) <= 0.75
    substeps = sum(len(s["segments"]) for s in steps)
    assert substeps / with_subs >= 3.0                            # real val: median 3, mean 4.5 per parent
    assert 0.45 <= substeps / (substeps + len(steps)) <= 0.65     # real val: 56 % of the queries
    assert any(len({u["step_description"] for u in s["segments"]}) < len(s["segments"]) for s in steps)
    total_chunks = sum(_chunk_count(COMMITTED, v["video_uid"]) for v in videos)
    assert 3000 <= total_chunks <= 7000
    size = sum(p.stat().st_size for p in COMMITTED.rglob("*") if p.is_file())
    assert size <= 25e6


# ---------------------------------------------------------------------------------------------- learnability

def _labelled(root: Path, split: str):
    """Per video: features [N, 256] from the chunk files, and the step description shown by each chunk
    (the step holding the chunk centre, the later one where two overlap; None for background)."""
    out = []
    for video in json.loads((root / f"goalstep_{split}.json").read_text())["videos"]:
        n = _chunk_count(root, video["video_uid"])
        x = np.stack([torch.load(root / "videos" / video["video_uid"] / f"chunk_{i}.pt", weights_only=True).numpy()
                      for i in range(n)]).astype(np.float64)
        labels = [None] * n
        for step in video["segments"]:
            for i in range(n):
                if step["start_time"] <= 2 * i + 1 < step["end_time"]:
                    labels[i] = step["step_description"]
        out.append((x, labels))
    return out


def _chunk_to_step(videos, emb, weight) -> tuple[float, float]:
    hits = total = 0
    chance = []
    for x, labels in videos:
        names = sorted({d for d in labels if d is not None})
        z = np.hstack([x, np.ones((len(x), 1))]) @ weight
        best = np.argmax(z @ np.stack([emb[d] for d in names]).T / np.linalg.norm(z, axis=1, keepdims=True), axis=1)
        for i, d in enumerate(labels):
            if d is not None:
                hits += names[best[i]] == d
                total += 1
        chance.append(1 / len(names))
    return hits / total, float(np.mean(chance))


def test_linear_map_learns_what_a_random_projection_cannot(probe_set):
    train, val = _labelled(probe_set, "train"), _labelled(probe_set, "val")
    texts = sorted({d for _, labels in train + val for d in labels if d is not None})
    emb = dict(zip(texts, encode_texts(texts)))
    x = np.concatenate([x[[d is not None for d in labels]] for x, labels in train])
    y = np.stack([emb[d] for _, labels in train for d in labels if d is not None])
    # ridge regression as an augmented least-squares problem
    xb = np.hstack([x, np.ones((len(x), 1))])
    reg = np.sqrt(10.0) * np.eye(xb.shape[1])[:-1]
    weight = np.linalg.lstsq(np.vstack([xb, reg]), np.vstack([y, np.zeros((len(reg), y.shape[1]))]), rcond=None)[0]
    trained, chance = _chunk_to_step(val, emb, weight)
    random, _ = _chunk_to_step(val, emb, np.random.default_rng(0).standard_normal(weight.shape))
    assert trained >= chance + 0.2 and trained >= random + 0.2, (trained, random, chance)
    assert trained < 0.98                                  # learnable, not given away
    # raw features say nothing about the text: their dimension even differs from the embedding's
    assert x.shape[1] == 256 and y.shape[1] == 384
