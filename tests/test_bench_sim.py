"""The GoalStep-scale feature simulator of the benchmarks (bench/goalstep_sim.py) on three tiny videos."""
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import goalstep_sim as sim  # noqa: E402

from vtkit.annotations import load_annotations  # noqa: E402
from vtkit.features import FeatureStore  # noqa: E402
from vtkit.timeline import num_chunks, seconds_to_chunks  # noqa: E402

def _records(hours: float = 0.25):
    """Three synthetic videos, about 5 minutes each by default."""
    return sim.synthetic_records(3, seed=5, hours=hours)


def _build(out: Path) -> sim.SimData:
    train, test = sim.split_records(_records(), 1, seed=5)
    return sim.build(out, train, test, sim.SimConfig(seed=5), log=lambda _: None,
                     category_encoder=sim.HashedEncoder(seed=99))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("sim") / "a")


def test_files_in_the_kits_layouts(built):
    train, test = load_annotations(built.train), load_annotations(built.test)
    assert (len(train.videos), len(test.videos)) == (2, 1)
    assert built.videos == 3 and built.chunks_total > 300
    chunks = FeatureStore(built.chunks, "chunks")
    packed = FeatureStore(built.ensure_packed(lambda _: None), "packed", chunk_seconds=2.0)
    for video in train.videos + test.videos:
        feats = chunks.load(video.video_uid)
        assert feats.dtype == np.float32 and feats.shape == (num_chunks(video.end_time), sim.FEATURE_DIM)
        assert np.isfinite(feats).all()
        np.testing.assert_array_equal(packed.load(video.video_uid), feats)


def test_deterministic_and_independent_of_the_selection(built, tmp_path):
    again = _build(tmp_path / "b")
    assert again.train.read_bytes() == built.train.read_bytes()
    for uid in FeatureStore(built.chunks, "chunks").video_uids():
        np.testing.assert_array_equal(FeatureStore(again.chunks, "chunks").load(uid),
                                      FeatureStore(built.chunks, "chunks").load(uid))
    simulator = sim.FeatureSimulator(sim.SimConfig(seed=5), sim.HashedEncoder(seed=99))
    alone = simulator.video(_records()[2])   # the same record, simulated on its own
    np.testing.assert_array_equal(alone.features, FeatureStore(built.chunks, "chunks").load(alone.video_uid))
    assert not np.array_equal(sim.FeatureSimulator(sim.SimConfig(seed=6), sim.HashedEncoder(seed=99))
                              .video(_records()[2]).features, alone.features)


def _segment_labels(record: dict, n: int) -> np.ndarray:
    """Index of the (last) step covering each chunk, -1 outside every step."""
    labels = np.full(n, -1)
    for k, (step, _) in enumerate(sim.segments_of(record)):
        a, b = seconds_to_chunks(step["start_time"], step["end_time"])
        labels[a: min(b, n - 1) + 1] = k
    return labels


def test_features_carry_the_meaning():
    """A linear map fit on two videos recovers, on the third, which of its steps a chunk shows."""
    records = _records(hours=0.75)
    simulator = sim.FeatureSimulator(sim.SimConfig(seed=5), sim.HashedEncoder(seed=99))
    videos = [simulator.video(r) for r in records]
    X = np.concatenate([v.features for v in videos[1:]]).astype(np.float64)
    Y = np.concatenate([v.meaning for v in videos[1:]])
    Z = np.hstack([X, np.ones((len(X), 1))])
    W = np.linalg.solve(Z.T @ Z + 10.0 * np.eye(Z.shape[1]), Z.T @ Y)
    test, labels = videos[0], _segment_labels(records[0], len(videos[0].features))
    covered = np.flatnonzero((labels >= 0) & ~test.background)
    steps = sorted(set(labels[covered]))
    centroids = np.stack([test.meaning[labels == k].mean(0) for k in steps])
    predicted = np.hstack([test.features.astype(np.float64), np.ones((len(test.features), 1))]) @ W
    guess = np.asarray(steps)[np.argmax(predicted[covered] @ centroids.T, axis=1)]
    accuracy = float(np.mean(guess == labels[covered]))
    assert len(steps) >= 8
    assert accuracy > 3.0 / len(steps)


def test_substep_chunks_carry_step_and_substep_meaning():
    record = {"video_uid": "v", "start_time": 0.0, "end_time": 120.0, "segments": [
        {"start_time": 10.0, "end_time": 100.0, "step_category": "A: cut onions", "step_description": "cuts onions",
         "segments": [{"start_time": 40.0, "end_time": 60.0, "step_category": "B: peel garlic",
                       "step_description": "peels garlic"}]}]}
    simulator = sim.FeatureSimulator(sim.SimConfig(seed=1), sim.HashedEncoder(seed=99))
    v = simulator.video(record)
    assert v.background[:5].all() and not v.background[5:50].any() and v.background[50:].all()
    np.testing.assert_allclose(np.linalg.norm(v.meaning, axis=1), 1.0)
    step_only, inside = v.meaning[10], v.meaning[25]
    assert 0.3 < float(step_only @ inside) < 0.95          # the substep adds its own meaning to the step's
    assert float(step_only @ v.meaning[12]) > 0.999       # one step instance: one meaning
    assert float(v.meaning[2] @ step_only) < 0.5           # idle activity differs from the step


def test_the_latent_is_the_meaning_with_offset_and_temporal_noise_and_maps_to_the_features():
    """What the noisy oracle of bench_quality reads: the hidden MLP's input, the meaning plus the video's
    constant offset and AR(1) noise that carries from chunk to chunk."""
    config = sim.SimConfig(seed=5)
    simulator = sim.FeatureSimulator(config, sim.HashedEncoder(seed=99))
    v = simulator.video(_records(hours=0.75)[0])
    mapped = np.tanh(config.gain * v.latent @ simulator.w1 + simulator.b1) @ simulator.w2 + simulator.b2
    np.testing.assert_allclose(mapped, v.features, rtol=1e-5, atol=1e-5)
    residual = v.latent - v.meaning
    offset = residual.mean(axis=0)
    assert 0.5 * config.video_offset < np.linalg.norm(offset) < 2.0 * config.video_offset
    noise = residual - offset
    steps = noise[1:] - noise[:-1]
    assert np.linalg.norm(steps, axis=1).mean() < 0.8 * np.linalg.norm(noise, axis=1).mean()   # AR(1), rho 0.9
    np.testing.assert_array_equal(simulator.video(_records(hours=0.75)[0]).latent, v.latent)


def test_meaning_reads_the_description_through_the_text_encoder_and_a_substep_chunk_shows_its_substep():
    """Siblings under one coarse taxonomy name differ by their descriptions, which the encoder can read."""
    enc = sim.HashedEncoder(seed=99)
    subs = [{"start_time": t, "end_time": t + 20.0, "step_category": "Peel and cut ingredients: Prepare",
             "step_description": d} for t, d in ((20.0, "peels the garlic"), (40.0, "stirs the sauce"))]
    record = {"video_uid": "v", "start_time": 0.0, "end_time": 100.0, "segments": [
        {"start_time": 10.0, "end_time": 80.0, "step_category": "Make recipes: Cook soup",
         "step_description": "cooks a soup", "segments": subs}]}
    v = sim.FeatureSimulator(sim.SimConfig(seed=1), enc).video(record)
    garlic, sauce = enc(["peel garlic", "stir sauce"])
    in_garlic, in_sauce, step_only = v.meaning[15], v.meaning[25], v.meaning[7]
    assert float(in_garlic @ garlic) > float(in_garlic @ sauce) + 0.2
    assert float(in_sauce @ sauce) > float(in_sauce @ garlic) + 0.2
    soup = enc(["cook soup"])[0]
    assert float(step_only @ soup) > float(in_garlic @ soup)     # inside a substep, the step shows less
    assert float(in_garlic @ garlic) > float(in_garlic @ soup)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 60), n_test=st.integers(1, 30), seed=st.integers(0, 10))
def test_split_is_a_stratified_partition(n, n_test, seed):
    records = [{"video_uid": f"v{i}", "start_time": 0.0, "end_time": float(10 + (i * 37) % 101)} for i in range(n)]
    n_test = min(n_test, n)
    train, test = sim.split_records(records, n_test, seed)
    assert len(test) == n_test and len(train) == n - n_test
    assert sorted(r["video_uid"] for r in train + test) == sorted(r["video_uid"] for r in records)
    assert [r for r in records if r in test] == test                  # file order kept
    lengths = sorted(sim.goal_seconds(r) for r in records)
    if n_test >= 2:   # one test video from each length stratum: the shortest and longest strata are hit
        cut = lengths[n // n_test - 1]
        assert min(sim.goal_seconds(r) for r in test) <= cut
    assert sim.split_records(records, n_test, seed) == (train, test)
