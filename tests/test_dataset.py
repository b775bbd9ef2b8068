"""Training samples: positives, negatives, background, determinism and the batch path."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vtkit.annotations import Query, Video, load_annotations
from vtkit.dataset import VideoTextAlignmentDataset
from vtkit.text import same_text_key as text_key
from vtkit.errors import VtkitError
from vtkit.features import FeatureStore, pack_store

GOALSTEP = Path(__file__).resolve().parents[2] / "shared" / "goalstep"


def step(uid, i, text, start, end, level="step"):
    return Query(video_uid=uid, annotation_uid=f"{uid}_0_20", query_idx=i, level=level, description=text,
                 start=start, end=end, step_index=i)


def tiny_videos():
    # chunk_seconds 2: "cut onion" 0-4 s -> chunks 0,1; "fry" 3-8 s -> 1..3; "Cut  Onion" (same text) 10-12 s -> 5;
    # "stir" 14-16 s -> 7; chunks 4, 6, 8, 9 are background.
    a = Video("a", 0.0, 20.0, None, None, [step("a", 0, "cut onion", 0, 4), step("a", 1, "fry", 3, 8),
                                           step("a", 2, "Cut  Onion", 10, 12), step("a", 3, "stir", 14, 16)])
    b = Video("b", 0.0, 10.0, None, None, [step("b", 0, "wash", 0, 2), step("b", 1, "fry", 2, 6),
                                           step("b", 2, "dry", 6, 8), step("b", 3, "peel", 8, 10)])
    c = Video("c", 0.0, 8.0, None, None, [step("c", 0, "boil", 0, 4), step("c", 1, "drain", 4, 8),
                                          step("c", 2, "salt", 0, 8)])
    return [a, b, c]


def tiny_features(dim=4):
    rng = np.random.default_rng(0)
    return {uid: rng.standard_normal((n, dim)).astype(np.float32) for uid, n in (("a", 10), ("b", 6), ("c", 4))}


def make(**kwargs):
    kwargs = {"negative_ratio": 3, "negative_source": "mixed", "seed": 0, **kwargs}
    return VideoTextAlignmentDataset(tiny_videos(), tiny_features(), **kwargs)


def test_texts_are_unique_and_positives_cover_the_right_chunks():
    ds = make()
    assert ds.texts == ["cut onion", "fry", "stir", "wash", "dry", "peel", "boil", "drain", "salt"]
    t = {text: i for i, text in enumerate(ds.texts)}
    got = set(zip(ds.sample_video.tolist(), ds.sample_chunk.tolist(), ds.sample_positive.tolist()))
    want = {(0, 0, t["cut onion"]), (0, 1, t["cut onion"]), (0, 1, t["fry"]), (0, 2, t["fry"]), (0, 3, t["fry"]),
            (0, 5, t["cut onion"]), (0, 7, t["stir"]),
            # b has 6 feature chunks: "peel" 8-10 s is chunk 4, inside
            (1, 0, t["wash"]), (1, 1, t["fry"]), (1, 2, t["fry"]), (1, 3, t["dry"]), (1, 4, t["peel"]),
            (2, 0, t["boil"]), (2, 1, t["boil"]), (2, 2, t["drain"]), (2, 3, t["drain"])}
    want |= {(2, c, t["salt"]) for c in range(4)}
    assert got == want and len(ds) == len(want)
    assert ds.stats["positives"] == len(want) and ds.stats["background"] == 0


def test_spans_are_clipped_and_steps_outside_are_dropped():
    videos = [Video("v", 0.0, 30.0, None, None, [step("v", 0, "early", 0, 2), step("v", 1, "late", 4, 100),
                                                  step("v", 2, "beyond", 50, 60)])]
    with pytest.warns(UserWarning, match="1 queries lie outside"):
        ds = VideoTextAlignmentDataset(videos, {"v": np.zeros((4, 2), np.float32)}, negative_ratio=1)
    assert ds.stats["queries_outside_features"] == 1 and "beyond" not in ds.texts
    assert any("query 2" in w for w in ds.warnings)
    late = ds.texts.index("late")
    assert sorted(ds.sample_chunk[ds.sample_positive == late].tolist()) == [2, 3]


def covering(ds, v, c):
    video = ds.videos[v]
    keys = {text_key(q.description) for q in video.steps
            if q.chunk_span(ds.chunk_seconds)[0] <= c <= q.chunk_span(ds.chunk_seconds)[1]}
    return {i for i, text in enumerate(ds.texts) if text_key(text) in keys}


def video_texts(ds, v):
    keys = {text_key(q.description) for q in ds.videos[v].steps}
    return {i for i, text in enumerate(ds.texts) if text_key(text) in keys}


@pytest.mark.parametrize("source", ["hard", "easy", "mixed"])
def test_negatives_respect_source_and_never_match_a_covering_text(source):
    ds = make(negative_source=source, negative_ratio=4, background_ratio=0.5)
    for epoch in range(5):
        ds.set_epoch(epoch)
        batch = ds.get_batch(np.arange(len(ds)))
        assert batch["negatives"].shape == (len(ds), 4) and batch["negatives"].dtype == torch.long
        for i in range(len(ds)):
            v, c, pos = int(batch["video"][i]), int(batch["chunk"][i]), int(batch["positive"][i])
            negs = batch["negatives"][i].tolist()
            cover, own = covering(ds, v, c), video_texts(ds, v)
            assert (pos == -1) == (not cover) and (pos == -1 or pos in cover)
            assert not set(negs) & cover, (i, negs, cover)
            hard_pool = own - cover
            if source == "hard":
                assert set(negs) <= hard_pool
            elif source == "easy":
                assert not set(negs) & own
            else:
                n_hard = min(2, len(hard_pool))
                assert set(negs[:n_hard]) <= hard_pool and not set(negs[n_hard:]) & own
                assert len(set(negs)) == 4  # both pools are large enough for distinct negatives
            pool = hard_pool if source == "hard" else None
            if pool is not None and len(pool) >= 4:
                assert len(set(negs)) == 4


def test_negative_draws_cover_the_pool_uniformly():
    ds = make(negative_source="easy", negative_ratio=1)
    i = int(np.flatnonzero(ds.sample_video == 2)[0])   # c: the other videos' texts form the easy pool
    pool = set(range(len(ds.texts))) - video_texts(ds, 2)
    counts = {}
    for epoch in range(1200):
        ds.set_epoch(epoch)
        n = int(ds[i]["negatives"][0])
        counts[n] = counts.get(n, 0) + 1
    assert set(counts) == pool
    expected = 1200 / len(pool)
    assert all(abs(k - expected) < 0.3 * expected for k in counts.values()), counts


def test_repeated_text_within_a_video_is_never_its_own_negative():
    videos = [Video("r", 0.0, 12.0, None, None, [step("r", 0, "Stir the pot", 0, 2), step("r", 1, "add salt", 2, 4),
                                                  step("r", 2, "stir the  pot", 4, 6)])]
    ds = VideoTextAlignmentDataset(videos, {"r": np.zeros((6, 2), np.float32)}, negative_ratio=3,
                                   negative_source="hard")
    stir = ds.texts.index("Stir the pot")
    assert len(ds.texts) == 2
    negs = ds.get_batch(np.flatnonzero(ds.sample_positive == stir))["negatives"]
    assert (negs == ds.texts.index("add salt")).all()


def test_determinism_seed_and_epoch():
    a, b = make(seed=3), make(seed=3)
    index = np.arange(len(a))
    assert torch.equal(a.get_batch(index)["negatives"], b.get_batch(index)["negatives"])
    first = a.get_batch(index)["negatives"]
    assert not torch.equal(make(seed=4).get_batch(index)["negatives"], first)
    a.set_epoch(1)
    assert not torch.equal(a.get_batch(index)["negatives"], first)
    a.set_epoch(0)
    assert torch.equal(a.get_batch(index)["negatives"], first)
    # a sample's draw does not depend on which batch it is fetched in
    assert torch.equal(a.get_batch(index[::-1])["negatives"], first.flip(0))


@pytest.mark.parametrize("w", [0, 2])
def test_batch_path_equals_item_path_and_dataloader(w):
    ds = make(context_window=w, background_ratio=0.3)
    index = np.random.default_rng(1).permutation(len(ds))
    batch = ds.get_batch(index)
    items = ds.collate([ds[int(i)] for i in index])
    assert batch.keys() == items.keys() == {"features", "positive", "negatives", "video", "chunk"}
    for key in batch:
        assert batch[key].dtype == items[key].dtype and torch.equal(batch[key], items[key]), key
    loader = ds.loader(batch_size=7, shuffle=False)
    joined = {k: torch.cat([b[k] for b in loader]) for k in batch}
    whole = ds.get_batch(np.arange(len(ds)))
    assert all(torch.equal(joined[k], whole[k]) for k in batch)
    plain = next(iter(torch.utils.data.DataLoader(ds, batch_size=len(ds))))   # default_collate still works
    assert all(torch.equal(plain[k], whole[k]) for k in batch)


@pytest.mark.parametrize("w", [0, 1])
def test_positive_pairs_are_the_batches_of_the_described_samples(w):
    ds = make(context_window=w, background_ratio=0.5)
    described = np.flatnonzero(ds.sample_positive >= 0)
    assert len(described) < len(ds)                     # background samples are left out
    pairs = list(ds.positive_pairs(batch_size=4))
    assert [len(ids) for _, ids in pairs[:-1]] == [4] * (len(pairs) - 1)
    whole = ds.get_batch(described)
    assert torch.equal(torch.cat([f for f, _ in pairs]), whole["features"])
    assert torch.equal(torch.cat([ids for _, ids in pairs]), whole["positive"])


def test_context_window_is_edge_padded():
    feats = tiny_features()
    ds = make(context_window=2)
    i = int(np.flatnonzero((ds.sample_video == 0) & (ds.sample_chunk == 0))[0])
    item = ds[i]
    assert item["features"].shape == (5, 4)
    rows = [0, 0, 0, 1, 2]
    np.testing.assert_array_equal(item["features"].numpy(), feats["a"][rows])
    j = int(np.flatnonzero((ds.sample_video == 1) & (ds.sample_chunk == 4))[0])
    np.testing.assert_array_equal(ds[j]["features"].numpy(), feats["b"][[2, 3, 4, 5, 5]])
    assert make()[j]["features"].shape == (4,)


def test_background_samples():
    ds = make(background_ratio=0.25, negative_source="hard")
    positives = ds.stats["positives"]
    bg = ds.sample_positive == -1
    assert bg.sum() == round(0.25 * positives) == ds.stats["background"]
    free = {(0, 4), (0, 6), (0, 8), (0, 9), (1, 5)}   # c has none; b's goal ends at 10 s -> chunk 4, so 5 is out
    free.discard((1, 5))
    assert set(zip(ds.sample_video[bg].tolist(), ds.sample_chunk[bg].tolist())) <= free
    more = make(background_ratio=1.0)
    assert (more.sample_positive == -1).sum() == positives  # all 4 free chunks, repeated
    assert set(zip(more.sample_video[more.sample_positive == -1].tolist(),
                   more.sample_chunk[more.sample_positive == -1].tolist())) == free


def test_bad_input_missing_features_and_empty_videos():
    videos = tiny_videos() + [Video("no_feats", 0.0, 4.0, None, None, [step("no_feats", 0, "x", 0, 2)]),
                              Video("no_steps", 0.0, 4.0, None, None, [])]
    feats = {**tiny_features(), "no_steps": np.zeros((2, 4), np.float32)}
    with pytest.raises(VtkitError, match="no_feats"):
        VideoTextAlignmentDataset(videos, feats)
    ds = VideoTextAlignmentDataset(videos, feats, skip_missing=True)
    assert ds.stats["videos_without_features"] == 1 and ds.stats["videos_without_steps"] == 1
    assert ds.video_uids == ["a", "b", "c"]
    with pytest.raises(VtkitError, match="feature dimension 5"):
        VideoTextAlignmentDataset(tiny_videos(), {**tiny_features(), "b": np.zeros((6, 5), np.float32)})
    with pytest.raises(VtkitError, match="NaN"):
        VideoTextAlignmentDataset(tiny_videos(), {**tiny_features(), "c": np.full((4, 4), np.nan, np.float32)})
    with pytest.raises(VtkitError, match="negative_source"):
        make(negative_source="random")


def test_substep_level():
    video = Video("s", 0.0, 8.0, None, None, [step("s", 0, "make tea", 0, 8),
                                              step("s", 1, "boil water", 0, 4, level="substep"),
                                              step("s", 2, "steep", 4, 8, level="substep")])
    feats = {"s": np.zeros((4, 2), np.float32)}
    sub = VideoTextAlignmentDataset([video], feats, level="substep", negative_ratio=1, negative_source="hard")
    assert sub.texts == ["boil water", "steep"]
    both = VideoTextAlignmentDataset([video], feats, level="both", negative_ratio=1, negative_source="hard")
    assert len(both) == 8
    tea = both.texts.index("make tea")
    negs = both.get_batch(np.arange(len(both)))["negatives"][:, 0]
    assert not (negs == tea).any()   # the step covers every chunk, so it is never a negative


def test_finest_level_keeps_the_substeps_where_they_cover():
    # "make tea" 0-12 s (chunks 0-5) has substeps "boil water" 0-4 s (0, 1) and "steep" 6-8 s (3);
    # chunks 2, 4, 5 lie under the step alone; "pour" 12-16 s (6, 7) has no substeps; "Steep" (the same
    # text as the substep, here a step) 16-18 s covers chunk 8.
    queries = [step("s", 0, "make tea", 0, 12), step("s", 1, "boil water", 0, 4, level="substep"),
               step("s", 2, "steep", 6, 8, level="substep"), step("s", 3, "pour", 12, 16),
               step("s", 4, "Steep", 16, 18)]
    video = Video("s", 0.0, 20.0, None, None, queries)
    feats = {"s": np.stack([np.arange(10), np.zeros(10)], axis=1).astype(np.float32)}   # feature 0: the chunk
    ds = VideoTextAlignmentDataset([video], feats, level="finest", negative_ratio=2, negative_source="hard",
                                   negative_chunks=4)
    t = {text: i for i, text in enumerate(ds.texts)}
    ids = {text_key(text): i for i, text in enumerate(ds.texts)}

    def reference():   # (chunk, text id): its substeps' texts where any covers it, else its steps' texts
        out = set()
        for c in range(10):
            covering = [q for q in queries if q.chunk_span()[0] <= c <= q.chunk_span()[1]]
            finest = [q for q in covering if q.level == "substep"] or covering
            out |= {(c, ids[text_key(q.description)]) for q in finest}
        return out

    got = set(zip(ds.sample_chunk.tolist(), ds.sample_positive.tolist()))
    assert got == reference()
    assert (0, t["make tea"]) not in got and (2, t["make tea"]) in got and (8, t["steep"]) in got
    batch = ds.get_batch(np.arange(len(ds)))
    under_step = np.isin(ds.sample_chunk, [0, 1, 2, 3, 4, 5])
    assert not (batch["negatives"][torch.from_numpy(under_step)] == t["make tea"]).any()  # covering, never negative
    tea = torch.from_numpy(ds.sample_positive == t["make tea"])
    drawn = batch["negative_chunk_features"][tea][..., 0]
    assert drawn.numel() and torch.equal(batch["negative_chunk_valid"][tea], drawn > 5)  # its substeps' chunks too
    both = VideoTextAlignmentDataset([video], feats, level="both", negative_ratio=2, negative_source="hard")
    assert len(both) == len(ds) + 3 and tea.sum() == 3   # "make tea" kept on chunks 2, 4, 5 only


def pack_tiny_features(tmp_path, chunk_seconds: float) -> dict:
    """The tiny features written as chunk folders and packed into tmp_path/packed."""
    feats = tiny_features()
    root = tmp_path / "videos"
    for uid, array in feats.items():
        (root / uid).mkdir(parents=True)
        for i, row in enumerate(array):
            torch.save(torch.from_numpy(row.copy()), root / uid / f"chunk_{i}.pt")
    pack_store(root, tmp_path / "packed", chunk_seconds=chunk_seconds, progress=False)
    return feats


def test_feature_store_and_chunk_seconds_check(tmp_path):
    pack_tiny_features(tmp_path, 2.0)
    store = FeatureStore(tmp_path / "packed")
    from_store = VideoTextAlignmentDataset(tiny_videos(), store, negative_ratio=3)
    from_dict = make()
    index = np.arange(len(from_dict))
    assert all(torch.equal(from_store.get_batch(index)[k], from_dict.get_batch(index)[k])
               for k in ("features", "negatives", "positive"))
    with pytest.raises(VtkitError, match="chunk_seconds=2.0 but the run uses 1.0"):
        VideoTextAlignmentDataset(tiny_videos(), store, chunk_seconds=1.0)


def test_real_goalstep_annotations_invariants():
    path = GOALSTEP / "goalstep_valid.json"
    if not path.exists():
        pytest.skip("GoalStep annotations not available")
    videos = load_annotations(path).videos[:20]
    feats = {v.video_uid: np.zeros((int(max(q.end for q in v.queries) // 2) + 2, 3), np.float32) for v in videos}
    ds = VideoTextAlignmentDataset(videos, feats, negative_ratio=6, negative_source="mixed", background_ratio=0.2)
    keys = [text_key(t) for t in ds.texts]
    assert len(set(keys)) == len(keys)
    batch = ds.get_batch(np.arange(len(ds)))
    for v in range(len(ds.videos)):
        for c in np.unique(ds.sample_chunk[ds.sample_video == v])[:50]:
            rows = np.flatnonzero((ds.sample_video == v) & (ds.sample_chunk == c))
            assert not set(batch["negatives"][rows].flatten().tolist()) & covering(ds, v, int(c))


def test_feature_dimension_is_set_by_kept_videos_only():
    # "x" has features but every step lies past them: skipped, so its D=3 must not reject the D=4 videos.
    x = Video("x", 0.0, 40.0, None, None, [step("x", 0, "far away", 30, 40)])
    feats = {**tiny_features(), "x": np.zeros((2, 3), np.float32)}
    with pytest.warns(UserWarning, match="1 queries lie outside"):
        ds = VideoTextAlignmentDataset([x, *tiny_videos()], feats, negative_ratio=1)
    assert ds.video_uids == ["a", "b", "c"] and ds.feature_dim == 4
    assert ds.stats["videos_without_steps"] == 1
    # a real disagreement between kept videos is one VtkitError naming the first kept video
    feats["b"] = np.zeros((6, 3), np.float32)
    with pytest.raises(VtkitError, match="video b: feature dimension 3 differs from 4 of video a"):
        VideoTextAlignmentDataset([x, *tiny_videos()], feats, negative_ratio=1)


def test_packed_videos_without_store_record_are_checked_per_video(tmp_path):
    feats = pack_tiny_features(tmp_path, 1.0)
    (tmp_path / "packed" / "store.json").unlink()
    store = FeatureStore(tmp_path / "packed")
    assert store.chunk_seconds is None     # unknown: never a made-up default
    with pytest.raises(VtkitError, match="chunk_seconds=1.0 but the run uses 2.0"):
        VideoTextAlignmentDataset(tiny_videos(), store, chunk_seconds=2.0)
    with pytest.raises(VtkitError, match="chunk_seconds=1.0 but the run uses 2.0"):   # a mapping of .npy files too
        VideoTextAlignmentDataset(tiny_videos(), {uid: tmp_path / "packed" / f"{uid}.npy" for uid in feats},
                                  chunk_seconds=2.0)
    with pytest.warns(UserWarning, match="outside their video's features"):   # 1 s chunks: a's steps pass b's end
        ok = VideoTextAlignmentDataset(tiny_videos(), store, chunk_seconds=1.0, negative_ratio=1)
    assert ok.video_uids == ["a", "b", "c"]


def test_video_features_are_the_kept_videos_rows():
    ds = make()
    got = ds.video_features()
    assert list(got) == ["a", "b", "c"]
    for uid, array in tiny_features().items():
        np.testing.assert_array_equal(got[uid], array)


@pytest.mark.parametrize("w", [0, 1])
def test_negative_chunks_are_same_video_chunks_the_text_does_not_cover(w):
    feats = tiny_features()
    ds = make(negative_chunks=6, background_ratio=0.3, context_window=w)
    index = np.arange(len(ds))
    batch = ds.get_batch(index)
    M = 6
    assert batch["negative_chunk_features"].shape == (len(ds), M, *((2 * w + 1,) if w else ()), 4)
    valid = batch["negative_chunk_valid"].numpy()
    seen_invalid = 0
    for i in index:
        v, pos = int(ds.sample_video[i]), int(ds.sample_positive[i])
        uid = ds.video_uids[v]
        rows = batch["negative_chunk_features"][i].numpy()
        centre = rows[:, w] if w else rows
        # each drawn row is a chunk of the sample's own video (its goal segment is the whole video here)
        chunks = [int(np.flatnonzero((feats[uid] == row).all(axis=1))[0]) for row in centre]
        if pos < 0:
            assert not valid[i].any()            # background samples have no text to contrast
            continue
        cover = {c for c in range(len(feats[uid])) if pos in covering(ds, v, c)}
        assert [c not in cover for c in chunks] == valid[i].tolist()
        seen_invalid += int((~valid[i]).sum())
    assert seen_invalid and valid.any()
    # deterministic per (seed, epoch, index), whatever the batch
    again = ds.get_batch(index[::-1])
    assert torch.equal(again["negative_chunk_valid"], batch["negative_chunk_valid"].flip(0))
    ds.set_epoch(1)
    assert not torch.equal(ds.get_batch(index)["negative_chunk_features"], batch["negative_chunk_features"])
    # item path and collate carry them too
    items = ds.collate([ds[int(i)] for i in index[:5]])
    assert torch.equal(items["negative_chunk_valid"], ds.get_batch(index[:5])["negative_chunk_valid"])
    assert "negative_chunk_features" not in make().get_batch([0, 1])
    with pytest.raises(VtkitError, match="negative_chunks"):
        make(negative_chunks=-1)


def test_negative_chunks_stay_inside_the_goal_segment():
    # features for 10 chunks, goal 6-14 s: chunks 3..6
    video = Video("g", 6.0, 14.0, None, None, [step("g", 0, "knead", 6, 10), step("g", 1, "roll", 10, 14)])
    feats = {"g": np.arange(40, dtype=np.float32).reshape(10, 4)}
    ds = VideoTextAlignmentDataset([video], feats, negative_ratio=1, negative_chunks=16, seed=1)
    batch = ds.get_batch(np.arange(len(ds)))
    chunks = batch["negative_chunk_features"][..., 0].numpy() / 4
    assert chunks.min() >= 3 and chunks.max() <= 6 and len(np.unique(chunks)) == 4
    spans = {ds.texts.index("knead"): {3, 4}, ds.texts.index("roll"): {5, 6}}
    for i, pos in enumerate(ds.sample_positive.tolist()):
        assert [c not in spans[pos] for c in chunks[i]] == batch["negative_chunk_valid"][i].tolist()


def _runs_of(cover_column: list[bool]) -> list[tuple[int, int]]:
    runs, start = [], None
    for c, on in enumerate(cover_column + [False]):
        if on and start is None:
            start = c
        elif not on and start is not None:
            runs.append((start, c - 1))
            start = None
    return runs


@pytest.mark.parametrize("window", [1, 2, 5])
def test_windowed_negative_chunks_border_the_texts_run(window):
    # goal 2-40 s of 25 chunks: chunks 1..19; "knead" covers 2..3 and 9..12 (a repeated text), "roll" 6..14
    # overlaps it, "rest" 16..19 runs to the goal's end (no room after)
    video = Video("g", 2.0, 40.0, None, None, [step("g", 0, "knead", 4, 8), step("g", 1, "roll", 12, 30),
                                               step("g", 2, "knead", 18, 26), step("g", 3, "rest", 32, 40)])
    feats = {"g": np.arange(100, dtype=np.float32).reshape(25, 4)}
    M = 7
    ds = VideoTextAlignmentDataset([video], feats, negative_ratio=1, negative_chunks=M,
                                   negative_chunk_window=window, seed=3)
    near = (M + 1) // 2
    for epoch in range(3):
        ds.set_epoch(epoch)
        batch = ds.get_batch(np.arange(len(ds)))
        chunks = (batch["negative_chunk_features"][..., 0].numpy() / 4).astype(int)
        valid = batch["negative_chunk_valid"].numpy()
        for i, (c, pos) in enumerate(zip(ds.sample_chunk.tolist(), ds.sample_positive.tolist())):
            column = [pos in covering(ds, 0, k) for k in range(25)]
            first, last = next(r for r in _runs_of(column) if r[0] <= c <= r[1])
            allowed = ({k for k in range(first - window, first) if k >= 1}
                       | {k for k in range(last + 1, last + window + 1) if k <= 19})
            assert set(chunks[i, :near].tolist()) <= allowed
            assert ((chunks[i, near:] >= 1) & (chunks[i, near:] <= 19)).all()
            assert [not column[k] for k in chunks[i]] == valid[i].tolist()
    # the repeated text's run 9..12 lies inside roll's 6..14: a knead sample at chunk 10 never draws 2..3
    knead = ds.texts.index("knead")
    rows = np.flatnonzero((ds.sample_positive == knead) & (ds.sample_chunk == 10))
    drawn = (ds.get_batch(rows)["negative_chunk_features"][..., 0].numpy() / 4).astype(int)[:, :near]
    assert not np.isin(drawn, [2, 3]).any()
    # a text whose run fills the goal segment has no neighbours: it draws over the goal
    whole = Video("w", 0.0, 8.0, None, None, [step("w", 0, "stir", 0, 8)])
    ds = VideoTextAlignmentDataset([whole], {"w": np.arange(16, dtype=np.float32).reshape(4, 4)},
                                   negative_ratio=0, negative_chunks=4, negative_chunk_window=2)
    assert not ds.get_batch(np.arange(len(ds)))["negative_chunk_valid"].any()
    with pytest.raises(VtkitError, match="negative_chunk_window"):
        make(negative_chunks=2, negative_chunk_window=-1)
