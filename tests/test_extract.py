"""`vtkit extract`: frame choice by timestamp, rotation, bad files, both layouts, resuming, sharding."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lavila_fixtures import (clip_text_state, decoded_times, frame_pattern, save_released, visual_state,
                             write_audio_only, write_corrupt, write_video)
from vtkit.cli import main
from vtkit.errors import VtkitError
from vtkit.extract import (RECORD_FILE, ClipVideoEncoder, LavilaVideoEncoder, decode_chunks, extract,
                           file_sha256, kept_chunks, resize_crop, sample_times)
from vtkit.features import FeatureStore, load_video_features, pack_store, read_chunk_folder

VFR_TIMES = [0, 0.03, 0.1, 0.5, 0.52, 1.3, 1.31, 1.9, 2.6, 3.3, 3.9, 4.05]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    videos = root / "videos"
    videos.mkdir()
    write_video(videos / "cook25.mp4", size=(97, 61), fps=25, seconds=3.0)
    write_video(videos / "cook30.mkv", size=(61, 97), fps=30, seconds=4.2)
    write_video(root / "vfr.mp4", pts_seconds=VFR_TIMES)
    write_audio_only(root / "audio_only.mp4")
    write_corrupt(root / "corrupt.mp4")
    ckpt = save_released(root / "lavila.pth", {**clip_text_state(width=64), **visual_state(width=64, depth=1)},
                         "CLIP_OPENAI_TIMESFORMER_BASE")
    return root, videos, ckpt


@pytest.fixture(scope="module")
def encoder(media):
    return LavilaVideoEncoder(media[2])


def _reference_times(path, chunk_seconds, frames):
    """Independently: every decoded frame's time, then the last one not after each sample time."""
    times = np.array(decoded_times(path))
    step = np.median(np.diff(times)) if len(times) > 1 else 0.04
    n = kept_chunks(times[-1] + step, chunk_seconds)
    out = []
    for i in range(n):
        targets = sample_times(i, chunk_seconds, frames)
        out.append([float(times[max(0, np.searchsorted(times, t, side="right") - 1)]) for t in targets])
    return out


@pytest.mark.parametrize("name,frames", [("videos/cook25.mp4", 4), ("videos/cook30.mkv", 3), ("vfr.mp4", 4)])
def test_frames_are_chosen_by_presentation_time(media, name, frames):
    path = media[0] / name
    got = [(i, times, x.shape) for i, times, x in decode_chunks(path, 2.0, frames, 32)]
    expected = _reference_times(path, 2.0, frames)
    assert [i for i, _, _ in got] == list(range(len(expected)))
    for (_, times, shape), want in zip(got, expected):
        assert np.allclose(times, want, atol=1e-6) and shape == (frames, 3, 32, 32)


def test_partial_chunk_rule_on_the_sample_videos(media):
    # 3.0 s: one full chunk and a half chunk (kept); 4.2 s: two full chunks and 0.2 s (dropped);
    # the VFR video ends at 4.05 s + one frame.
    counts = {name: sum(1 for _ in decode_chunks(media[0] / name, 2.0, 2, 16))
              for name in ("videos/cook25.mp4", "videos/cook30.mkv", "vfr.mp4")}
    assert counts == {"videos/cook25.mp4": 2, "videos/cook30.mkv": 2, "vfr.mp4": 2}


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 500.0), st.sampled_from([1.0, 2.0, 1.5]))
def test_kept_chunks_are_the_full_ones_and_a_half_full_last(duration, chunk_seconds):
    brute = sum(1 for i in range(1000) if duration - i * chunk_seconds >= chunk_seconds / 2 - 1e-9)
    assert kept_chunks(duration, chunk_seconds) == brute


def test_sample_times_are_part_middles():
    assert sample_times(3, 2.0, 4) == [6.25, 6.75, 7.25, 7.75]


def test_resize_matches_short_side_then_centre_crop():
    image = torch.arange(3 * 61 * 97, dtype=torch.float32).reshape(3, 61, 97)
    out = resize_crop(image, 32)
    assert out.shape == (3, 32, 32)
    full = torch.nn.functional.interpolate(image[None], size=(32, int(32 * 97 / 61)), mode="bilinear",
                                           antialias=True, align_corners=False)[0]
    left = int(round((full.shape[-1] - 32) / 2))
    assert torch.allclose(out, full[:, :, left:left + 32])


def test_display_rotation_turns_frames_upright(tmp_path):
    import av

    if not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        pytest.skip("this PyAV cannot write a display matrix")
    plain, rotated = tmp_path / "plain.mp4", tmp_path / "rotated.mp4"
    write_video(plain, size=(48, 48), fps=10, seconds=1.0)
    write_video(rotated, size=(48, 48), fps=10, seconds=1.0, rotation=90)
    _, _, upright = next(decode_chunks(plain, 2.0, 1, 48))
    _, _, turned = next(decode_chunks(rotated, 2.0, 1, 48))
    red = lambda x, rows, cols: float(x[0, 0, rows, cols].mean() - x[0, 1, rows, cols].mean())  # noqa: E731
    top_left, bottom_left = (slice(0, 10), slice(0, 10)), (slice(38, 48), slice(0, 10))
    assert red(upright, *top_left) > 150 and red(upright, *bottom_left) < 20
    # 90 degrees counter-clockwise: the top-left block is shown bottom-left
    assert red(turned, *bottom_left) > 150 and red(turned, *top_left) < 20
    assert frame_pattern(0, 48, 48)[0, 0, 0] == 250


@pytest.mark.parametrize("name,message", [("audio_only.mp4", "no video stream"), ("corrupt.mp4", "not a readable video")])
def test_bad_files_are_one_line_errors(media, name, message):
    with pytest.raises(VtkitError, match=message) as err:
        list(decode_chunks(media[0] / name))
    assert str(media[0] / name) in str(err.value) and "\n" not in str(err.value)


def _expected_features(path, encoder, frames=4):
    rows = []
    with torch.no_grad():
        for _, _, clip in decode_chunks(path, 2.0, frames, encoder.resolution):
            visual = encoder.ckpt.visual
            rows.append(visual(visual.normalize(clip).transpose(0, 1)[None])[0] @ encoder.ckpt.image_projection)
    return torch.stack(rows).numpy()


def test_extract_writes_chunk_folders_the_kit_reads(media, encoder, tmp_path):
    root, videos, ckpt = media
    out = tmp_path / "features"
    summary = extract(videos, out, encoder, batch_size=3, progress=False, checkpoint=str(ckpt))
    assert sorted(summary.extracted) == ["cook25", "cook30"] and summary.chunks == 4
    for uid in ("cook25", "cook30"):
        features, frames = read_chunk_folder(out / uid)
        assert features.shape == (2, 32) and frames is None
        assert np.allclose(features, _expected_features(videos / f"{uid}.{'mp4' if uid == 'cook25' else 'mkv'}",
                                                        encoder), atol=1e-5)
        chunk = torch.load(out / uid / "chunk_0.pt", weights_only=True)
        assert chunk.dtype == torch.float32 and chunk.shape == (32,) and chunk.untyped_storage().nbytes() == 128
    record = json.loads((out / RECORD_FILE).read_text())
    assert record["encoder"] == "lavila" and record["checkpoint_sha256"] == file_sha256(ckpt)
    assert (record["frames_per_chunk"], record["resolution"], record["chunk_seconds"], record["feature"]) == \
        (4, 32, 2.0, "projected")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]   # no temp folders left
    assert FeatureStore(out).video_uids() == ["cook25", "cook30"]
    packed = pack_store(out, tmp_path / "packed", encoder="lavila", frames_per_chunk=4, progress=False)
    assert packed.packed == ["cook25", "cook30"] and packed.feature_dim == 32


def test_rerun_skips_unchanged_videos_and_redoes_changed_ones(media, encoder, tmp_path):
    root, _, ckpt = media
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.mp4", fps=25, seconds=2.0)
    write_video(videos / "b.mp4", fps=25, seconds=2.0)
    out = tmp_path / "out"
    extract(videos, out, encoder, progress=False)
    again = extract(videos, out, encoder, progress=False)
    assert again.extracted == [] and again.unchanged == ["a", "b"]
    write_video(videos / "b.mp4", fps=25, seconds=4.0)
    third = extract(videos, out, encoder, progress=False)
    assert third.extracted == ["b"] and third.unchanged == ["a"]
    assert read_chunk_folder(out / "b")[0].shape[0] == 2


def test_other_settings_into_the_same_folder_stop(media, encoder, tmp_path):
    _, videos, ckpt = media
    out = tmp_path / "out"
    extract(videos, out, encoder, progress=False)
    with pytest.raises(VtkitError, match="other settings: frames_per_chunk=4 \\(now 2\\)"):
        extract(videos, out, encoder, frames_per_chunk=2, progress=False)
    with pytest.raises(VtkitError, match="feature='projected'"):
        extract(videos, out, LavilaVideoEncoder(ckpt, pre_projection=True), progress=False)
    with pytest.raises(VtkitError, match="per-chunk features"):
        extract(videos, out, encoder, packed=True, progress=False)


def test_packed_store_matches_the_chunk_layout(media, encoder, tmp_path):
    _, videos, ckpt = media
    extract(videos, tmp_path / "chunks", encoder, progress=False)
    summary = extract(videos, tmp_path / "packed", encoder, packed=True, progress=False)
    assert summary.extracted == ["cook25", "cook30"]
    store = FeatureStore(tmp_path / "packed", chunk_seconds=2.0)
    assert store.kind == "packed" and store.feature_dim == 32 and store.info["encoder"] == "lavila"
    assert store.info["extract"]["checkpoint_sha256"] == file_sha256(ckpt)
    for uid in ("cook25", "cook30"):
        assert np.array_equal(np.asarray(store.load(uid)), load_video_features(tmp_path / "chunks", uid))
        meta = store.metadata(uid)
        assert meta["frames_per_chunk"] == 4 and meta["source"] == "video" and meta["num_chunks"] == 2
    assert extract(videos, tmp_path / "packed", encoder, packed=True, progress=False).unchanged == ["cook25", "cook30"]


def test_pre_projection_features_are_the_cls(media, tmp_path):
    _, videos, ckpt = media
    encoder = LavilaVideoEncoder(ckpt, pre_projection=True)
    extract(videos, tmp_path / "cls", encoder, progress=False)
    cls = read_chunk_folder(tmp_path / "cls" / "cook25")[0]
    assert cls.shape == (2, 64)
    from vtkit.lavila import project_video
    projected = project_video(torch.from_numpy(cls), encoder.ckpt).numpy()
    assert np.allclose(projected, _expected_features(videos / "cook25.mp4", encoder), atol=1e-5)


def test_bad_videos_stop_or_are_counted_with_skip_bad(media, encoder, tmp_path):
    root, videos, _ = media
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name in ("audio_only.mp4", "corrupt.mp4"):
        (mixed / name).write_bytes((root / name).read_bytes())
    (mixed / "good.mp4").write_bytes((videos / "cook25.mp4").read_bytes())
    with pytest.raises(VtkitError, match="audio_only.mp4: no video stream"):
        extract(mixed, tmp_path / "out1", encoder, progress=False)
    summary = extract(mixed, tmp_path / "out2", encoder, skip_bad=True, progress=False)
    assert summary.extracted == ["good"] and sorted(summary.skipped) == ["audio_only", "corrupt"]
    assert "skipped corrupt" in str(summary)


def test_a_failing_video_leaves_nothing_half_written(media, encoder, tmp_path):
    _, videos, _ = media
    source = tmp_path / "videos"
    source.mkdir()
    (source / "cook25.mp4").write_bytes((videos / "cook25.mp4").read_bytes())
    out = tmp_path / "out"
    extract(source, out, encoder, progress=False)
    before = (out / "cook25" / "chunk_0.pt").read_bytes()
    os.utime(source / "cook25.mp4", ns=(1, 1))   # changed: it will be extracted again
    with pytest.raises(VtkitError, match="encoder broke"):
        extract(source, out, failing_copy(encoder), progress=False)
    assert (out / "cook25" / "chunk_0.pt").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def failing_copy(encoder):
    """The same encoder whose forward pass fails on the first batch."""
    class Failing:
        name, identity, pre_projection = encoder.name, encoder.identity, encoder.pre_projection
        resolution, mean, std, feature_dim = encoder.resolution, encoder.mean, encoder.std, encoder.feature_dim

        def __call__(self, clips):
            raise VtkitError("encoder broke")
    return Failing()


def test_ranks_take_every_world_th_video(media, encoder, tmp_path, monkeypatch):
    _, videos, _ = media
    done = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        summary = extract(videos, tmp_path / "out", encoder, packed=True, progress=False)
        assert (summary.rank, summary.world) == (rank, 2)
        done.append(summary.extracted)
    assert done == [["cook25"], ["cook30"]]
    assert json.loads((tmp_path / "out" / "store.json").read_text())["videos"] == 2


def test_clip_encoder_averages_frame_embeddings(media, tmp_path):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    _, videos, _ = media
    torch.manual_seed(0)
    model = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                                                           num_attention_heads=2, projection_dim=16, image_size=32,
                                                           patch_size=8)).eval()
    model.save_pretrained(tmp_path / "clip")
    encoder = ClipVideoEncoder(tmp_path / "clip")
    extract(videos / "cook25.mp4", tmp_path / "out", encoder, progress=False)
    got = read_chunk_folder(tmp_path / "out" / "cook25")[0]
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1) * 255
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1) * 255
    with torch.no_grad():
        expected = [model(pixel_values=(clip - mean) / std).image_embeds.mean(0)
                    for _, _, clip in decode_chunks(videos / "cook25.mp4", 2.0, 4, 32)]
    assert np.allclose(got, torch.stack(expected).numpy(), atol=1e-5)


def test_cli_extract_and_its_errors(media, tmp_path, capsys):
    _, videos, ckpt = media
    assert main(["extract", str(videos / "cook25.mp4"), str(tmp_path / "out"), "--checkpoint", str(ckpt),
                 "--no-progress", "--device", "cpu", "--frames-per-chunk", "2"]) == 0
    assert "extracted 1" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / RECORD_FILE).read_text())["frames_per_chunk"] == 2
    assert main(["extract", str(videos), str(tmp_path / "o2")]) == 2
    assert "needs --checkpoint" in capsys.readouterr().err
    assert main(["extract", str(tmp_path / "nothing"), str(tmp_path / "o3"), "--checkpoint", str(ckpt)]) == 2
    err = capsys.readouterr().err
    assert "videos not found" in err and len(err.strip().splitlines()) == 1


def test_frames_of_a_store_made_by_extract_come_from_its_video_files(media, encoder, tmp_path):
    from vtkit.extract import frame_source, read_frames
    from vtkit.features import open_store

    root, videos, ckpt = media
    out = tmp_path / "features"
    extract(videos, out, encoder, progress=False, checkpoint=str(ckpt))
    path = videos / "cook25.mp4"
    times = [0.1, 1.0, 2.5]
    frames = read_frames(path, times)
    decoded = np.array(decoded_times(path))
    for frame, t in zip(frames, times):   # the frame shown at t: its level encodes its index (frame_pattern)
        index = int(np.searchsorted(decoded, t, side="right") - 1)
        assert frame.shape[2] == 3 and abs(frame.shape[0] - 61) <= 1 and abs(frame.shape[1] - 97) <= 1  # codec pads
        assert abs(int(frame[40, 60, 1]) - ((index * 7) % 200 + 20)) <= 6
    for store in (FeatureStore(out), open_store(out, cache_dir=tmp_path / "cache")):   # also through the cache
        source = frame_source(store)
        strip = source("cook25", 0.0, 3.0, 3)
        assert len(strip) == 3 and all(f.shape == frames[0].shape for f in strip)
    plain = tmp_path / "plain"
    (plain / "v").mkdir(parents=True)
    torch.save(torch.zeros(4), plain / "v" / "chunk_0.pt")
    assert frame_source(FeatureStore(plain)) is None      # features without their videos: no frames
