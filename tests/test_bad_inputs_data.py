"""Bad data: tensors that are not dense CPU floats, the kit's own metadata tampered with, video
uids that are paths, files mixing formats, goals outside the features, steps files.

Each CLI case exits 2 with one line naming the file and field and leaves every file as it was.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from test_bad_inputs import Case, _ann, _set, _video, run_case
from vtkit.cli import main
from vtkit.errors import VtkitError


def _tensor(make):
    """A chunk folder whose chunk_2.pt holds ``make()``."""
    def edit(folder):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about saving sparse / nested tensors
            torch.save(make(), folder / "chunk_2.pt")

    def run(tmp):
        return ["pack", str(_video(tmp, edit=edit)), str(tmp / "packed")]
    return run


def _predict_pt(make):
    def run(tmp):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.save(make(), tmp / "feats.pt")
        (tmp / "steps.txt").write_text("a\nb\n")
        return ["predict", "--features", str(tmp / "feats.pt"), "--steps", str(tmp / "steps.txt"),
                "--out", str(tmp / "seg.json")]
    return run


def _packed_meta(**changes):
    """A packed video feats.npy whose feats.json beside it has ``changes`` (a value of ... deletes the key)."""
    def run(tmp):
        np.save(tmp / "feats.npy", np.ones((6, 4), np.float32))
        meta = {"video_uid": "feats", "chunk_seconds": 2.0, "feature_dim": 4, "num_chunks": 6,
                "frames_per_chunk": None, "encoder": None, "source": "chunks"}
        meta.update(changes)
        text = json.dumps({k: v for k, v in meta.items() if v is not ...})
        (tmp / "feats.json").write_text(text.replace('"NAN"', "NaN").replace('"HUGE"', "9" * 5000))
        (tmp / "steps.txt").write_text("a\nb\n")
        return ["predict", "--features", str(tmp / "feats.npy"), "--steps", str(tmp / "steps.txt"),
                "--out", str(tmp / "seg.json")]
    return run


def _store_info(info):
    """vtkit submit over a packed store whose store.json holds ``info``."""
    def run(tmp):
        store = tmp / "packed"
        store.mkdir()
        np.save(store / "vid-a.npy", np.ones((20, 8), np.float32))
        (store / "vid-a.json").write_text(json.dumps({"chunk_seconds": 2.0, "feature_dim": 8, "num_chunks": 20}))
        (store / "store.json").write_text(info if isinstance(info, str) else json.dumps(info))
        return ["submit", str(_ann(tmp)), "--features", str(store), "--out", str(tmp / "sub.json")]
    return run


def _uid(uid: str):
    return lambda tmp: ["inspect", str(_ann(tmp, _set("videos.0.video_uid", uid)))]


def _mixed(first_test: bool):
    def mutate(data):
        test_record = {"video_uid": "vid-t", "step_segments": [{"step_description": "a", "segment_count": 1}]}
        if first_test:
            data["videos"].insert(0, test_record)
        else:
            data["videos"].append(test_record)
    return lambda tmp: ["inspect", str(_ann(tmp, mutate))]


def _steps(text: str | bytes):
    def run(tmp):
        path = tmp / "steps.txt"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        np.save(tmp / "feats.npy", np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32))
        return ["predict", "--features", str(tmp / "feats.npy"), "--steps", str(path), "--out", str(tmp / "seg.json")]
    return run


def _segments(tmp: Path) -> list[str]:
    return [s["description"] for s in json.loads((tmp / "seg.json").read_text(encoding="utf-8"))["segments"]]


def _bom_dropped(tmp):
    assert _segments(tmp) == ["crack eggs", "whisk"]


def _comments_skipped(tmp):
    assert _segments(tmp) == ["crack eggs", "whisk #2"]


def _write(tmp: Path, data) -> Path:
    (tmp / "ann.json").write_text(json.dumps(data))
    return tmp / "ann.json"


def _packed_meta_list(tmp):
    argv = _packed_meta()(tmp)
    (tmp / "feats.json").write_text("[1]")
    return argv


CASES = [
    # tensors: only dense, CPU, strided floating point
    Case("sparse COO chunk", _tensor(lambda: torch.randn(8).to_sparse()), ("chunk_2.pt", "sparse_coo")),
    Case("sparse CSR chunk", _tensor(lambda: torch.randn(2, 8).to_sparse_csr()), ("chunk_2.pt", "sparse_csr")),
    Case("meta chunk", _tensor(lambda: torch.empty(8, device="meta")), ("chunk_2.pt", "meta")),
    Case("quantized chunk", _tensor(lambda: torch.quantize_per_tensor(torch.randn(8), 0.1, 0, torch.qint8)),
         ("chunk_2.pt", "quantized")),
    Case("nested chunk", _tensor(lambda: torch.nested.nested_tensor([torch.randn(8), torch.randn(3)])),
         ("chunk_2.pt", "nested")),
    Case("complex chunk", _tensor(lambda: torch.randn(8, dtype=torch.complex64)), ("chunk_2.pt", "complex64")),
    Case("bool chunk", _tensor(lambda: torch.ones(8, dtype=torch.bool)), ("chunk_2.pt", "bool")),
    Case("int8 chunk", _tensor(lambda: torch.ones(8, dtype=torch.int8)), ("chunk_2.pt", "int8")),
    Case("sparse .pt features", _predict_pt(lambda: torch.randn(6, 4).to_sparse()), ("feats.pt", "sparse")),
    Case("meta .pt features", _predict_pt(lambda: torch.empty(6, 4, device="meta")), ("feats.pt", "meta")),
    # the kit's own metadata, read as untrusted
    Case("metadata chunk_seconds text", _packed_meta(chunk_seconds="2.0"), ("feats.json", "chunk_seconds")),
    Case("metadata chunk_seconds negative", _packed_meta(chunk_seconds=-2.0), ("feats.json", "chunk_seconds")),
    Case("metadata chunk_seconds NaN", _packed_meta(chunk_seconds="NAN"), ("feats.json", "chunk_seconds")),
    Case("metadata num_chunks missing", _packed_meta(num_chunks=...), ("feats.json", "num_chunks", "missing")),
    Case("metadata num_chunks of 5000 digits", _packed_meta(num_chunks="HUGE"), ("feats.json", "num_chunks")),
    Case("metadata feature_dim text", _packed_meta(feature_dim="4"), ("feats.json", "feature_dim")),
    Case("metadata frames_per_chunk negative", _packed_meta(frames_per_chunk=-1), ("feats.json", "frames_per_chunk")),
    Case("metadata encoder a number", _packed_meta(encoder=7), ("feats.json", "encoder")),
    Case("metadata a list", _packed_meta_list, ("feats.json", "JSON object")),
    Case("store.json a list", _store_info([1, 2]), ("store.json", "JSON object")),
    Case("store.json chunk_seconds text", _store_info({"chunk_seconds": "2"}), ("store.json", "chunk_seconds")),
    Case("store.json feature_dim negative", _store_info({"feature_dim": -8}), ("store.json", "feature_dim")),
    Case("store.json chunk_seconds Infinity", _store_info('{"chunk_seconds": Infinity}'),
         ("store.json", "chunk_seconds")),
    # a video uid is a name, never a path
    Case("uid climbing out", _uid("../../etc/passwd"), ("ann.json", "video_uid", "path separator")),
    Case("uid with a slash", _uid("grp-1/vid-a"), ("ann.json", "video_uid", "path separator")),
    Case("uid with a backslash", _uid("..\\vid-a"), ("ann.json", "video_uid")),
    Case("uid of two dots", _uid(".."), ("ann.json", "video_uid", "..")),
    Case("uid of one dot", _uid("."), ("ann.json", "video_uid")),
    Case("uid of blanks", _uid("   "), ("ann.json", "video_uid", "empty")),
    Case("uid with control characters", _uid("vid\x1b[2Ja"), ("ann.json", "video_uid", "control", "\\x1b")),
    Case("uid with a NUL", _uid("vid\x00a"), ("ann.json", "video_uid", "control")),
    Case("uid too long", _uid("v" * 300), ("ann.json", "video_uid", "longer than")),
    Case("test-split uid climbing out", lambda t: ["inspect", str(_write(t, {"videos": [
        {"video_uid": "../x", "step_segments": [{"step_description": "a"}]}]}))], ("ann.json", "video_uid")),
    # one file, one format
    Case("a test-split record in an annotated file", _mixed(first_test=False),
         ("ann.json", "videos[1]", "a record in the test-split format", "one format")),
    Case("an annotated record in a test-split file", _mixed(first_test=True),
         ("ann.json", "videos[1]", "a record in the annotated format", "one format")),
    # steps files
    Case("steps file with only comments", _steps("# a comment\n\n  # another\n"), ("steps.txt", "no steps")),
    Case("steps file that is empty", _steps(b""), ("steps.txt", "no steps")),
    Case("steps file with a byte-order mark", _steps(b"\xef\xbb\xbfcrack eggs\nwhisk\n"), (), ok=True,
         after=_bom_dropped),
    Case("steps file comments are skipped", _steps("# my recipe\ncrack eggs\n  # note\nwhisk #2\n"), (), ok=True,
         after=_comments_skipped),
]
for _case in CASES:
    _case.unchanged = not _case.ok


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_data(case, tmp_path, capsys, monkeypatch):
    run_case(case, tmp_path, capsys, monkeypatch)


# ------------------------------------------------------------------------------------ direct checks


@pytest.mark.parametrize("uid", ["../vid-a", "/etc/passwd", "a/b", "..", ".", "", "x\ny"])
def test_feature_stores_refuse_to_resolve_a_uid_that_is_a_path(tmp_path, uid):
    from vtkit.features import FeatureStore, load_video_features

    root = _video(tmp_path)
    np.save(tmp_path / "outside.npy", np.ones((3, 8), np.float32))
    for store in ("auto", "chunks", "packed"):
        with pytest.raises(VtkitError, match="never resolved to a path"):
            load_video_features(root, uid, store=store)
    with pytest.raises(VtkitError, match="never resolved to a path"):
        FeatureStore(root).load(uid)
    with pytest.raises(VtkitError, match="never resolved to a path"):
        uid in FeatureStore(root)


def test_video_uid_problem_accepts_real_ids(goalstep_valid):
    from vtkit.annotations import load_annotations, video_uid_problem

    ann = load_annotations(goalstep_valid)
    assert len(ann.videos) == 134
    assert [v.video_uid for v in ann.videos if video_uid_problem(v.video_uid)] == []
    assert video_uid_problem("grp-0a1b2c3d-4e5f-6789-abcd-ef0123456789") is None


def test_goal_after_the_features_end_is_refused():
    from vtkit.annotations import Video, check_goal_within

    video = Video("vid-a", 100.0, 160.0, None, None)
    check_goal_within(video, 51, 2.0)           # chunk 50 holds 100 s
    check_goal_within(Video("t", None, None, None, None), 1, 2.0)  # test split: no goal, nothing to check
    with pytest.raises(VtkitError, match=r"feats\.npy: vid-a\.start_time: .*starts at 100\.0 s.*end at 100 s"):
        check_goal_within(video, 50, 2.0, where="feats.npy")
    with pytest.raises(VtkitError, match="1 chunks of 2 s"):
        check_goal_within(video, 1, 2.0)


def test_goal_check_agrees_with_the_search_range():
    """Where the check passes, the search range starts at the goal's own first chunk (no clamping)."""
    from vtkit.annotations import Video, check_goal_within
    from vtkit.timeline import chunk_of, goal_chunk_range

    for start in np.linspace(0.0, 99.0, 67):
        video = Video("v", float(start), float(start) + 5.0, None, None)
        for n in range(1, 60):
            try:
                check_goal_within(video, n, 2.0)
            except VtkitError:
                assert chunk_of(start, 2.0) >= n
            else:
                assert goal_chunk_range((video.start_time, video.end_time), n, 2.0)[0] == chunk_of(start, 2.0)


def test_real_files_keep_their_format(goalstep_valid, goalstep_test):
    from vtkit.annotations import load_annotations

    assert load_annotations(goalstep_valid).has_times and not load_annotations(goalstep_test).has_times


def test_a_damaged_video_record_is_packed_again(tmp_path):
    from vtkit.features import pack_store

    root = _video(tmp_path)
    summary = pack_store(root, tmp_path / "packed", progress=False)
    assert summary.packed == ["vid-a"]
    (tmp_path / "packed" / "vid-a.json").write_text('{"num_chunks": "twenty"}')
    assert pack_store(root, tmp_path / "packed", progress=False).packed == ["vid-a"]
    assert json.loads((tmp_path / "packed" / "vid-a.json").read_text())["num_chunks"] == 20


def test_an_in_memory_sparse_tensor_is_refused():
    from vtkit.features import load_features

    with pytest.raises(VtkitError, match="sparse_coo"):
        load_features(torch.randn(5, 4).to_sparse())
    assert load_features(torch.randn(5, 4, dtype=torch.float64)).dtype == np.float32


def test_main_refuses_bad_uids_before_reading_features(tmp_path, capsys):
    """vtkit submit with a uid that climbs out of --features never opens the file it names."""
    root = _video(tmp_path)
    np.save(tmp_path / "secret.npy", np.ones((20, 8), np.float32))
    ann = _ann(tmp_path, _set("videos.0.video_uid", "../secret"))
    assert main(["submit", str(ann), "--features", str(root), "--out", str(tmp_path / "sub.json")]) == 2
    assert "video_uid" in capsys.readouterr().err
    assert not (tmp_path / "sub.json").exists()
