"""Feature stores: chunk folders, packing, the single loader, and refusal of bad input."""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from vtkit.cli import main as cli_main
from vtkit.errors import VtkitError
from vtkit.features import (FeatureStore, cli_pack, fingerprint, load_features, load_video_features, pack_store,
                            read_chunk_folder)


def write_video(root: Path, uid: str, values: list) -> Path:
    folder = root / uid
    folder.mkdir(parents=True, exist_ok=True)
    for i, value in enumerate(values):
        torch.save(value, folder / f"chunk_{i}.pt")
    return folder


def frames_video(root: Path, uid: str, n=5, frames=3, dim=8, seed=0):
    """A video stored as [F, D] frame embeddings; returns the expected mean-pooled [N, D]."""
    gen = torch.Generator().manual_seed(seed)
    chunks = [torch.randn(frames, dim, generator=gen) for _ in range(n)]
    write_video(root, uid, chunks)
    return torch.stack([c.mean(0) for c in chunks]).numpy()


def flat_video(root: Path, uid: str, n=4, dim=8, seed=1, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    chunks = [torch.randn(dim, generator=gen).to(dtype) for _ in range(n)]
    write_video(root, uid, chunks)
    return torch.stack(chunks).float().numpy()


@pytest.fixture
def source(tmp_path):
    root = tmp_path / "videos"
    expected = {"vid_a": frames_video(root, "vid_a"), "vid_b": flat_video(root, "vid_b", dtype=torch.float16)}
    return root, expected


def test_round_trip_chunks_pack_load(source, tmp_path):
    root, expected = source
    out = tmp_path / "packed"
    summary = pack_store(root, out, chunk_seconds=2.0, encoder="egovlp", progress=False)
    assert sorted(summary.packed) == ["vid_a", "vid_b"] and not summary.unchanged and not summary.skipped
    for uid, want in expected.items():
        from_chunks = load_video_features(root, uid)
        from_packed = load_video_features(out, uid, chunk_seconds=2.0)
        assert from_chunks.dtype == from_packed.dtype == np.float32
        np.testing.assert_allclose(from_chunks, want, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(from_packed, from_chunks)
        np.testing.assert_array_equal(load_features(out / f"{uid}.npy"), from_chunks)
        np.testing.assert_array_equal(load_features(root / uid), from_chunks)
    meta = json.loads((out / "vid_a.json").read_text())
    assert meta["num_chunks"] == 5 and meta["feature_dim"] == 8 and meta["frames_per_chunk"] == 3
    assert meta["encoder"] == "egovlp" and meta["source"] == "chunks" and meta["chunk_seconds"] == 2.0
    assert meta["fingerprint"]["files"] == 5
    assert json.loads((out / "vid_b.json").read_text())["frames_per_chunk"] is None
    store = json.loads((out / "store.json").read_text())
    assert store == {**store, "chunk_seconds": 2.0, "feature_dim": 8, "encoder": "egovlp", "videos": 2}

    packed, chunks = FeatureStore(out), FeatureStore(root)
    assert (packed.kind, chunks.kind) == ("packed", "chunks")
    assert packed.video_uids() == chunks.video_uids() == ["vid_a", "vid_b"]
    assert packed.feature_dim == chunks.feature_dim == 8 and packed.chunk_seconds == 2.0
    np.testing.assert_array_equal(packed["vid_b"], chunks["vid_b"])
    assert chunks.metadata("vid_a")["num_chunks"] == 5 and packed.metadata("vid_a")["encoder"] == "egovlp"
    cached = FeatureStore(out, cache=True)
    assert cached["vid_a"] is cached["vid_a"] and not isinstance(cached["vid_a"], np.memmap)


def test_pack_skips_unchanged_and_repacks_on_change(source, tmp_path):
    root, _ = source
    out = tmp_path / "packed"
    pack_store(root, out, progress=False)
    before = (out / "vid_a.npy").stat().st_mtime_ns
    again = pack_store(root, out, progress=False)
    assert sorted(again.unchanged) == ["vid_a", "vid_b"] and not again.packed
    assert (out / "vid_a.npy").stat().st_mtime_ns == before

    changed = torch.full((8,), 7.0)
    torch.save(changed, root / "vid_a" / "chunk_2.pt")
    os.utime(root / "vid_a" / "chunk_2.pt", ns=(1, 1))  # a distinct mtime even on coarse clocks
    frames_video(root, "vid_c", n=2)
    third = pack_store(root, out, progress=False)
    assert sorted(third.packed) == ["vid_a", "vid_c"] and third.unchanged == ["vid_b"]
    np.testing.assert_array_equal(load_video_features(out, "vid_a")[2], changed.numpy())
    assert json.loads((out / "store.json").read_text())["videos"] == 3
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_fingerprint_sees_size_and_mtime(tmp_path):
    folder = write_video(tmp_path, "v", [torch.zeros(4)])
    first = fingerprint(folder)
    os.utime(folder / "chunk_0.pt", ns=(5, 5))
    assert fingerprint(folder)["digest"] != first["digest"]
    assert fingerprint(folder)["files"] == 1 and fingerprint(folder)["bytes"] == first["bytes"]


def _bad_cases():
    good = torch.zeros(8)
    return {
        "gap": ({"chunk_0.pt": good, "chunk_1.pt": good, "chunk_3.pt": good}, "chunk_2.pt"),
        "dim_inconsistent": ({"chunk_0.pt": good, "chunk_1.pt": torch.zeros(9)}, "chunk_1.pt"),
        "nan": ({"chunk_0.pt": good, "chunk_1.pt": torch.tensor([float("nan")] * 8)}, "chunk_1.pt"),
        "inf": ({"chunk_0.pt": torch.tensor([float("inf")] * 8)}, "chunk_0.pt"),
        "empty": ({}, "no chunk_<i>.pt"),
        "misnamed": ({"chunk_0.pt": good, "chunk-1.pt": good}, "chunk-1.pt"),
        "dict": ({"chunk_0.pt": {"feat": good}}, "chunk_0.pt"),
        "list": ({"chunk_0.pt": [good]}, "chunk_0.pt"),
        "int_dtype": ({"chunk_0.pt": torch.arange(8)}, "chunk_0.pt"),
        "rank3": ({"chunk_0.pt": torch.zeros(2, 2, 8)}, "chunk_0.pt"),
        "duplicate": ({"chunk_1.pt": good, "chunk_01.pt": good, "chunk_0.pt": good}, "chunk_1"),
    }


@pytest.mark.parametrize("case", sorted(_bad_cases()))
def test_bad_chunk_folders_are_refused(tmp_path, case):
    files, mention = _bad_cases()[case]
    folder = tmp_path / "videos" / f"bad_{case}"
    folder.mkdir(parents=True)
    for name, value in files.items():
        torch.save(value, folder / name)
    with pytest.raises(VtkitError) as err:
        load_video_features(tmp_path / "videos", f"bad_{case}")
    message = str(err.value)
    assert f"bad_{case}" in message and mention in message and "\n" not in message
    with pytest.raises(VtkitError, match=f"bad_{case}"):
        pack_store(tmp_path / "videos", tmp_path / "out", progress=False)


def test_corrupt_file_is_one_line_error(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    (folder / "chunk_0.pt").write_bytes(b"\x80\x02truncated")
    with pytest.raises(VtkitError, match="chunk_0.pt.*not a readable tensor file"):
        read_chunk_folder(folder)


def test_other_files_are_ignored_and_floats_cast(tmp_path):
    want = flat_video(tmp_path, "v", n=3, dtype=torch.float64)
    (tmp_path / "v" / "notes.txt").write_text("hello")
    (tmp_path / "v" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "v" / "sub").mkdir()
    got = load_video_features(tmp_path, "v", store="chunks")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)


class _CreatesFile:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("writer", ["torch", "raw_pickle"])
def test_code_running_pickle_is_refused_and_does_not_run(tmp_path, writer):
    marker = tmp_path / "pwned.txt"
    folder = tmp_path / "videos" / "evil"
    folder.mkdir(parents=True)
    if writer == "torch":
        torch.save(_CreatesFile(marker), folder / "chunk_0.pt")
    else:
        (folder / "chunk_0.pt").write_bytes(pickle.dumps(_CreatesFile(marker)))
    assert not marker.exists()
    with pytest.raises(VtkitError) as err:
        load_video_features(tmp_path / "videos", "evil")
    assert "evil" in str(err.value) and "chunk_0.pt" in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()


def test_chunk_seconds_mismatch_is_refused(source, tmp_path):
    root, _ = source
    out = tmp_path / "packed"
    pack_store(root, out, chunk_seconds=2.0, progress=False)
    expected = r"made with chunk_seconds=2.0 but the run uses 1.0; segments would be shifted"
    with pytest.raises(VtkitError, match=expected):
        load_video_features(out, "vid_a", chunk_seconds=1.0)
    with pytest.raises(VtkitError, match=expected):
        FeatureStore(out, chunk_seconds=1.0)
    with pytest.raises(VtkitError, match=expected):
        load_features(out / "vid_a.npy", chunk_seconds=1.0)
    with pytest.raises(VtkitError, match="chunk_seconds=2.0 but the run uses 1.0"):
        pack_store(root, out, chunk_seconds=1.0, progress=False)
    assert load_video_features(out, "vid_a", chunk_seconds=2).shape == (5, 8)


def test_skip_bad_counts_and_reports(source, tmp_path, capsys):
    root, _ = source
    (root / "broken").mkdir()
    torch.save({"x": torch.zeros(8)}, root / "broken" / "chunk_0.pt")
    flat_video(root, "wide", n=2, dim=16)       # D differs from the other videos
    out = tmp_path / "packed"
    with pytest.raises(VtkitError, match="broken"):
        pack_store(root, out, progress=False)
    summary = pack_store(root, out, skip_bad=True, progress=False)
    assert sorted(summary.packed) == ["vid_a", "vid_b"]
    assert set(summary.skipped) == {"broken", "wide"}
    assert "dict" in summary.skipped["broken"] and "16" in summary.skipped["wide"]
    assert cli_pack([str(root), str(out), "--skip-bad"]) == 0
    printed = capsys.readouterr().out
    assert "packed 0, unchanged 2, skipped 2" in printed and "skipped broken" in printed


def test_cli_reports_bad_input_in_one_line(source, tmp_path, capsys):
    root, _ = source
    (root / "empty_one").mkdir()
    assert cli_main(["pack", str(root), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # the lines above are the progress bar
    assert err.startswith("vtkit pack: error:") and "empty_one" in err and "\n" not in err


def test_missing_video_and_store_inconsistencies(source, tmp_path):
    root, _ = source
    with pytest.raises(VtkitError, match="no features for video nope"):
        load_video_features(root, "nope")
    with pytest.raises(VtkitError, match="no features for video nope"):
        FeatureStore(root)["nope"]
    with pytest.raises(VtkitError, match="no features for video nope"):
        load_video_features(root, "nope", store="packed")
    flat_video(root, "wide", n=2, dim=16)
    store = FeatureStore(root)
    store["vid_a"]
    with pytest.raises(VtkitError, match="wide.*16.*8"):
        store["wide"]
    out = tmp_path / "packed"
    pack_store(root, out, videos=["vid_a"], progress=False)
    meta = json.loads((out / "vid_a.json").read_text())
    (out / "vid_a.json").write_text(json.dumps({**meta, "num_chunks": 99}))
    with pytest.raises(VtkitError, match="vid_a.*does not match its metadata"):
        load_video_features(out, "vid_a")


def test_load_features_from_arrays():
    values = np.arange(12, dtype=np.float64).reshape(3, 4)
    got = load_features(torch.from_numpy(values))
    assert got.dtype == np.float32 and got.shape == (3, 4)
    np.testing.assert_array_equal(load_features(values), values.astype(np.float32))
    with pytest.raises(VtkitError, match="dtype int64"):
        load_features(np.zeros((3, 4), dtype=np.int64))
    with pytest.raises(VtkitError, match=r"shape \(4,\)"):
        load_features(np.zeros(4, dtype=np.float32))
    with pytest.raises(VtkitError, match="NaN or Inf.*chunk 1"):
        load_features(np.array([[0.0], [np.nan]]), name="v1")


def test_store_chunk_seconds_is_recorded_or_requested_never_a_default(source, tmp_path):
    root, _ = source
    out = tmp_path / "packed"
    pack_store(root, out, chunk_seconds=1.0, progress=False)
    assert FeatureStore(out).chunk_seconds == 1.0                  # store.json's record
    (out / "store.json").unlink()
    assert FeatureStore(out).chunk_seconds is None                 # unknown
    assert FeatureStore(out, chunk_seconds=1.0).chunk_seconds == 1.0
    assert FeatureStore(root).chunk_seconds is None and FeatureStore(root, chunk_seconds=4.0).chunk_seconds == 4.0
    expected = "made with chunk_seconds=1.0 but the run uses 2.0"
    with pytest.raises(VtkitError, match=expected):                # the per-video record decides
        FeatureStore(out, chunk_seconds=2.0)["vid_a"]
    cached = FeatureStore(out, cache=True)
    assert cached.load("vid_a", 1.0).shape == (5, 8)
    with pytest.raises(VtkitError, match=expected):                # also once the video is in memory
        cached.load("vid_a", 2.0)


def test_open_store_packs_chunk_folders_once_into_the_cache(tmp_path, monkeypatch):
    import torch

    import vtkit.features as features
    from vtkit.features import open_store

    root = tmp_path / "videos"
    for uid, n in (("a", 5), ("b", 3)):
        (root / uid).mkdir(parents=True)
        for i in range(n):
            torch.save(torch.full((4,), float(i)), root / uid / f"chunk_{i}.pt")
    first = open_store(root, chunk_seconds=2.0, cache_dir=tmp_path / "cache")
    assert first.kind == "packed" and first.source == root.resolve() and sorted(first) == ["a", "b"]
    np.testing.assert_array_equal(first["a"][:, 0], np.arange(5, dtype=np.float32))
    reads = []
    monkeypatch.setattr(features, "read_chunk_folder", lambda *a, **k: reads.append(a) or (_ for _ in ()).throw(
        AssertionError("per-chunk files read again")))
    second = open_store(root, chunk_seconds=2.0, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(second["b"], first["b"])
    assert not reads
    monkeypatch.undo()
    torch.save(torch.full((4,), 9.0), root / "b" / "chunk_3.pt")        # a changed video is packed again
    third = open_store(root, chunk_seconds=2.0, cache_dir=tmp_path / "cache")
    assert third["b"].shape == (4, 4) and third["b"][3, 0] == 9.0
    import shutil

    shutil.rmtree(root / "a")                                             # gone from the source: hidden
    assert "a" not in open_store(root, chunk_seconds=2.0, cache_dir=tmp_path / "cache")
    assert open_store(root, chunk_seconds=2.0, cache_dir=None).kind == "chunks"
