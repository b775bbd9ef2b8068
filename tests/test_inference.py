"""One video in, segments out: align_video, vtkit predict, subtitles, test-split submissions."""
import json

import numpy as np
import pytest

from vtkit.cli import main
from vtkit.errors import VtkitError
from vtkit.align import AlignSettings
from vtkit.inference import StepSegment, align_video, read_steps, to_srt, to_webvtt


class DiagonalModel:
    """A stand-in model whose similarity puts step k on chunks [3k, 3k+2] of a 3K-chunk video."""

    def similarity(self, features, texts):
        S = np.full((len(texts), len(features)), -0.5, dtype=np.float32)
        for k in range(len(texts)):
            S[k, 3 * k: 3 * k + 3] = 1.0
        return S


def test_align_video_returns_ordered_windows_in_seconds():
    feats = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    segs = align_video(feats, ["a", "b", "c", "d"], model=DiagonalModel(), chunk_seconds=2.0)
    assert [(s.start, s.end) for s in segs] == [(0.0, 6.0), (6.0, 12.0), (12.0, 18.0), (18.0, 24.0)]
    assert all(s.score == pytest.approx(1.0) for s in segs)
    for s in segs:
        assert 1 <= len(s.alternatives) <= 5
        assert (s.alternatives[0]["start"], s.alternatives[0]["end"]) == (s.start, s.end)


def test_align_video_untrained_says_so_and_accepts_a_chunk_folder(tmp_path):
    import torch

    folder = tmp_path / "vid"
    folder.mkdir()
    for i in range(10):
        torch.save(torch.randn(16), folder / f"chunk_{i}.pt")
    with pytest.warns(UserWarning, match="untrained"):
        segs = align_video(folder, ["crack the eggs", "whisk the eggs"], chunk_seconds=2.0)
    assert len(segs) == 2 and segs[0].end <= segs[1].start and segs[1].end <= 20.0


def test_align_video_bad_input():
    feats = np.zeros((4, 8), dtype=np.float32)
    with pytest.raises(VtkitError, match="no steps"):
        align_video(feats, [], model=DiagonalModel())
    bad = feats.copy()
    bad[1, 2] = np.nan
    with pytest.raises(VtkitError):
        align_video(bad, ["a"], model=DiagonalModel())


def test_more_steps_than_chunks_skips_instead_of_failing():
    feats = np.zeros((3, 8), dtype=np.float32)
    segs = align_video(feats, ["a", "b", "c", "d", "e"], model=DiagonalModel())
    assert len(segs) == 5


def test_subtitles_exact():
    segs = [StepSegment(0, "crack eggs", 0.0, 6.0, 0.9), StepSegment(1, "whisk", 3661.5, 3700.25, 0.8)]
    assert to_webvtt(segs) == ("WEBVTT\n\nstep-1\n00:00:00.000 --> 00:00:06.000\n1. crack eggs\n\n"
                               "step-2\n01:01:01.500 --> 01:01:40.250\n2. whisk\n")
    assert to_srt(segs) == ("1\n00:00:00,000 --> 00:00:06,000\n1. crack eggs\n\n"
                            "2\n01:01:01,500 --> 01:01:40,250\n2. whisk\n")


def test_read_steps_text_and_json(tmp_path):
    txt = tmp_path / "steps.txt"
    txt.write_text("# my recipe\ncrack eggs\n\nwhisk eggs\n")
    assert read_steps(txt)[0] == ["crack eggs", "whisk eggs"]
    ann = tmp_path / "test.json"
    ann.write_text(json.dumps({"videos": [{"video_uid": "v", "step_segments": [
        {"step_description": "a", "segment_count": 2}, {"step_description": "b", "segment_count": 1}]}]}))
    assert read_steps(ann) == (["a", "b"], [2, 1], "v", None)
    with pytest.raises(VtkitError, match="no steps"):
        empty = tmp_path / "empty.txt"
        empty.write_text("\n# nothing\n")
        read_steps(empty)


def test_predict_cli_writes_segments_and_subtitles(tmp_path, capsys):
    feats = tmp_path / "video.npy"
    np.save(feats, np.random.default_rng(1).normal(size=(30, 16)).astype(np.float32))
    steps = tmp_path / "steps.txt"
    steps.write_text("crack eggs\nwhisk eggs\nfry the omelet\n")
    out, vtt, srt = tmp_path / "seg.json", tmp_path / "s.vtt", tmp_path / "s.srt"
    code = main(["predict", "--features", str(feats), "--steps", str(steps), "--out", str(out), "--vtt", str(vtt),
                 "--srt", str(srt), "--aligner", "dfs"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert [s["description"] for s in doc["segments"]] == ["crack eggs", "whisk eggs", "fry the omelet"]
    assert all(0 <= s["start"] < s["end"] <= 60.0 for s in doc["segments"])
    assert vtt.read_text().startswith("WEBVTT\n") and vtt.read_text().count(" --> ") == 3
    assert srt.read_text().count(" --> ") == 3
    assert "untrained" in capsys.readouterr().err


def test_predict_cli_bad_features_is_one_line(tmp_path, capsys):
    steps = tmp_path / "steps.txt"
    steps.write_text("a\n")
    assert main(["predict", "--features", str(tmp_path / "nope.npy"), "--steps", str(steps)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.npy" in err


class RandomModel:
    """Deterministic pseudo-similarities, fast enough for the whole test split."""

    def similarity(self, features, texts):
        rng = np.random.default_rng(len(features) * 7919 + len(texts))
        return rng.normal(size=(len(texts), len(features))).astype(np.float32)


class DictStore(dict):
    root = "memory"


def test_test_split_submission_on_real_file(goalstep_test, tmp_path):
    from vtkit.annotations import load_annotations
    from vtkit.config import Config
    from vtkit.inference import submission_predictions
    from vtkit.timeline import iou
    from vtkit.submission import check_submission, write_submission

    ann = load_annotations(goalstep_test)
    store = DictStore({v.video_uid: np.zeros((max(10 * len(v.steps), 60), 4), np.float32) for v in ann.videos})
    preds = submission_predictions(RandomModel(), ann, store, Config())
    windows = preds.by_aligner["dp"]
    queries = ann.queries()
    assert len(windows) == len(queries) == 5540
    assert sum(q.segment_count for q in queries) == 8459
    assert all(k == (q.video_uid, q.video_uid, q.query_idx) for k, q in zip(windows, queries))
    for q in queries:
        wins = windows[q.key]
        assert len(wins) == 5
        if q.segment_count > 1:  # its occurrences: the first c windows do not overlap each other
            c = min(q.segment_count, 5)
            distinct = wins[:c]
            assert all(iou(a, b) == 0 for i, a in enumerate(distinct) for b in distinct[i + 1:]), (q, wins)
    path = tmp_path / "submission.json"
    write_submission(path, windows)
    lengths = {uid: len(f) * 2.0 for uid, f in store.items()}
    assert check_submission(path, ann, lengths) == []


def test_submit_cli_on_sample_test_format(tmp_path, capsys):
    from pathlib import Path

    from vtkit.submission import check_submission
    from vtkit.annotations import load_annotations

    root = Path(__file__).resolve().parents[1] / "data_samples"
    out = tmp_path / "sub.json"
    code = main(["submit", str(root / "goalstep_test_format.json"), "--features", str(root / "videos"),
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    ann = load_annotations(root / "goalstep_test_format.json")
    assert check_submission(out, ann) == []
    assert main(["check-submission", str(out), str(root / "goalstep_test_format.json")]) == 0


def test_predict_from_goalstep_json_searches_the_goal_segment(tmp_path):
    feats = tmp_path / "v.npy"
    np.save(feats, np.random.default_rng(3).normal(size=(100, 16)).astype(np.float32))
    step = {"start_time": 110.0, "end_time": 120.0, "step_category": "G: N", "step_description": "crack eggs",
            "is_relevant": "essential", "segments": []}
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"videos": [{"video_uid": "v", "start_time": 100.0, "end_time": 150.0,
                                           "segments": [step, dict(step, step_description="whisk eggs")]}]}))
    out = tmp_path / "seg.json"
    assert main(["predict", "--features", str(feats), "--steps", str(ann), "--video-uid", "v", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["search_window"] == [100.0, 150.0]
    for seg in doc["segments"]:
        for alt in seg["alternatives"]:
            assert 100.0 <= alt["start"] < alt["end"] <= 150.0
        ranks = [a["alignment_score"] for a in seg["alternatives"]]
        assert ranks[1:] == sorted(ranks[1:], reverse=True)


def test_every_step_gets_windows_when_min_len_exceeds_the_video():
    feats = np.zeros((3, 8), dtype=np.float32)
    segs = align_video(feats, ["a", "b"], settings=AlignSettings(min_len=5, skip_penalty=1.0), model=DiagonalModel())
    assert all(s.alternatives and 0.0 <= s.start < s.end <= 6.0 for s in segs)


def test_cli_options_default_to_the_parameters_file(tmp_path):
    feats = tmp_path / "v.npy"
    np.save(feats, np.random.default_rng(2).normal(size=(20, 8)).astype(np.float32))
    steps = tmp_path / "s.txt"
    steps.write_text("a\nb\n")
    params = tmp_path / "p.yaml"
    params.write_text("aligner: unordered\nchunk_seconds: 1.0\n")
    out = tmp_path / "seg.json"
    assert main(["predict", "--features", str(feats), "--steps", str(steps), "--params", str(params),
                 "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["aligner"] == "unordered" and doc["chunk_seconds"] == 1.0
    assert max(s["end"] for s in doc["segments"]) <= 20.0


def test_step_spans_match_the_step_windows_of_predict_queries():
    from vtkit.annotations import Query, Video
    from vtkit.predict import predict_queries, step_spans
    from vtkit.timeline import seconds_to_chunks

    qs = [Query("v", "v_0_60", i, "step", f"s{i}", 2.0 * i, 2.0 * i + 4, i) for i in range(3)]
    video = Video("v", 0.0, 60.0, None, None, qs)
    S = np.random.default_rng(4).normal(size=(3, 20)).astype(np.float32)
    for aligner in ("dp", "dfs", "unordered"):
        settings = AlignSettings(aligner=aligner)
        windows, _ = predict_queries(video, S, None, settings, chunk_offset=5, dfs_fallback=True)
        expected = [[seconds_to_chunks(s, e) for s, e in windows[q.query_idx]] for q in qs]
        assert step_spans(video, (S, None, 5), settings) == expected


class ShiftedModel(DiagonalModel):
    """DiagonalModel with each step's row scaled and shifted: texts close to every chunk."""

    def similarity(self, features, texts):
        S = super().similarity(features, texts)
        return S * np.arange(1, len(texts) + 1, dtype=np.float32)[:, None] + np.float32(1.5) * np.arange(len(texts))[:, None]


def test_zscored_queries_make_align_video_blind_to_a_rows_scale_and_shift():
    from vtkit.align import AlignSettings

    feats = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    steps = ["a", "b", "c", "d"]
    plain = align_video(feats, steps, model=DiagonalModel(), chunk_seconds=2.0)
    shifted = align_video(feats, steps, model=ShiftedModel(), chunk_seconds=2.0, segment_counts=[1, 2, 1, 1])
    assert [(s.start, s.end) for s in shifted] == [(s.start, s.end) for s in plain]
    raw = align_video(feats, steps, model=ShiftedModel(), chunk_seconds=2.0, settings=AlignSettings(query_norm="none"))
    assert [(s.start, s.end) for s in raw] != [(s.start, s.end) for s in plain]
