"""`vtkit extract`: per-chunk video features from video files (LaViLa's visual tower or a CLIP vision model).

Each video file becomes ``OUT/<video_uid>/chunk_<i>.pt`` (a float32 tensor ``[D]``) or, with
``--packed``, one video of the kit's packed store (``OUT/<video_uid>.npy`` + ``.json``, see
:mod:`vtkit.features`). ``video_uid`` is the file name without its suffix.

Sampling: chunk ``i`` covers ``[i * chunk_seconds, (i + 1) * chunk_seconds)`` of video time (time 0 =
the first frame's presentation time). Its ``frames_per_chunk`` frames are the ones shown at the
middle of each of that many equal parts of the chunk: for each such time, the last frame whose
presentation timestamp is not after it, so variable frame rates are followed. The video's length
is the last frame's timestamp plus its duration; a last partial chunk is kept when it holds at
least half a chunk of video (its times past the end show the last frame), else dropped. Frames are
turned upright by the stream's display matrix (rotation), their short side is resized to the
encoder's resolution (bilinear, antialiased, as torchvision's ``Resize``), centre-cropped, and
normalised with the encoder's mean and std (LaViLa's own constants for LaViLa checkpoints).

Encoders: ``lavila`` (``--checkpoint CKPT.pth``): the checkpoint's TimeSformer on the chunk's frames,
then ``image_projection`` (``--pre-projection``: the normed CLS, D = vision width); ``clip``
(``--model DIR``, a local transformers ``CLIPVisionModelWithProjection``): each frame alone, the
frame embeddings (projected, or the pooled output with ``--pre-projection``) averaged per chunk.

Resumable: a video whose record (``OUT/<uid>/features.json``, or ``OUT/<uid>.json`` when packed)
names the same source size and mtime and the same settings is skipped. Each video is written into
a hidden temp folder (or temp files) and renamed into place, so a killed run leaves no half video.
The folder's settings (encoder, checkpoint sha256, feature kind and D, chunk_seconds, frames per
chunk, resolution, normalisation) are in ``OUT/features.json`` (``OUT/store.json`` when packed); a
run with other settings into the same folder stops. ``torchrun --nproc_per_node G -m vtkit extract
...`` shards the videos (rank r takes videos r::world, from RANK / WORLD_SIZE), one device per
LOCAL_RANK.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from vtkit.annotations import video_uid_problem
from vtkit.errors import VtkitError, describe
from vtkit.features import STORE_FILE, read_store_info, read_video_metadata, write_packed, write_store_info
from vtkit.io import read_json, write_json
from vtkit.timeline import DEFAULT_CHUNK_SECONDS, chunk_of, chunks_to_seconds, frame_times

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")
DEFAULT_FRAMES_PER_CHUNK = 4
MIN_PARTIAL_CHUNK = 0.5        # share of a chunk the last partial chunk needs to be kept
RECORD_FILE = "features.json"  # per-chunk layout: in OUT (settings) and in each video folder (done marker)
FORMAT_VERSION = 1
CLIP_MEAN = (0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255)
CLIP_STD = (0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255)


# ----------------------------------------------------------------------------------------------
# decoding and frame selection
# ----------------------------------------------------------------------------------------------

def sample_times(chunk: int, chunk_seconds: float, frames: int) -> list[float]:
    """Times (seconds) of the frames of ``chunk``: the middle of each of ``frames`` equal parts."""
    return frame_times(*chunks_to_seconds(chunk, chunk, chunk_seconds), frames).tolist()


def kept_chunks(duration: float, chunk_seconds: float) -> int:
    """Chunks extracted from ``duration`` seconds: the full ones, plus a partial one of at least half a chunk."""
    return chunk_of(duration + (1 - MIN_PARTIAL_CHUNK) * chunk_seconds, chunk_seconds)


def resize_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """``[3, H, W]`` -> float ``[3, size, size]``: short side to ``size`` (bilinear, antialiased), centre crop."""
    _, h, w = image.shape
    if h <= w:
        new_h, new_w = size, int(size * w / h)
    else:
        new_h, new_w = int(size * h / w), size
    x = image.float()[None]
    if (new_h, new_w) != (h, w):
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    return x[0, :, top:top + size, left:left + size]


def _upright(frame, rotation: int) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24")
    turns = int(round(rotation / 90.0)) % 4   # the display matrix's counter-clockwise rotation
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def _open_video(path: Path):
    import av

    try:
        container = av.open(str(path))
    except av.error.FFmpegError as err:
        raise VtkitError(f"not a readable video ({_av_message(err)})", path=path) from None
    stream = next((s for s in container.streams if s.type == "video"), None)
    if stream is None:
        container.close()
        raise VtkitError("no video stream in the file", path=path)
    stream.thread_type = "AUTO"
    return container, stream


def _av_message(err) -> str:
    return (getattr(err, "strerror", None) or str(err)).strip().splitlines()[0][:120]


def estimated_chunks(path: str | Path, chunk_seconds: float) -> int | None:
    """Chunks expected from the container's recorded duration (for progress bars), None if unknown."""
    container, stream = _open_video(Path(path))
    try:
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            seconds = container.duration / 1e6
        else:
            return None
        return kept_chunks(seconds, chunk_seconds)
    finally:
        container.close()


def decode_chunks(path: str | Path, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                  frames_per_chunk: int = DEFAULT_FRAMES_PER_CHUNK, resolution: int = 224
                  ) -> Iterator[tuple[int, list[float], torch.Tensor]]:
    """Yield ``(chunk index, chosen frame times, frames float [F, 3, R, R] on the 0-255 scale)`` in order.

    Decodes the whole video once (see the module docstring for which frames are chosen); a file
    that cannot be decoded is a :class:`VtkitError` naming it.
    """
    import av

    path = Path(path)
    container, stream = _open_video(path)
    rate = stream.average_rate or stream.guessed_rate
    chunk, targets, chosen, times = 0, sample_times(0, chunk_seconds, frames_per_chunk), [], []
    first = prev = prev_time = None
    rotation, last_step = 0, 0.0
    try:
        for frame in container.decode(stream):
            if frame.time is None:  # no timestamp: assume the nominal rate after the previous frame
                t = 0.0 if prev_time is None else prev_time + (1 / float(rate) if rate else 0.0)
            else:
                if first is None:
                    first = frame.time
                t = frame.time - first
            if prev is None:
                rotation = getattr(frame, "rotation", 0) or 0   # PyAV reads the display matrix
            else:
                t = max(t, prev_time)          # a broken file's out-of-order stamps never go back in time
                last_step = t - prev_time or last_step
                while targets and targets[0] < t:
                    chosen.append(resize_crop(torch.from_numpy(_upright(prev, rotation)).permute(2, 0, 1), resolution))
                    times.append(prev_time)
                    targets.pop(0)
                    if not targets:
                        yield chunk, times, torch.stack(chosen)
                        chunk += 1
                        targets, chosen, times = sample_times(chunk, chunk_seconds, frames_per_chunk), [], []
            prev, prev_time = frame, t
            frame_step = float(frame.duration * frame.time_base) if frame.duration and frame.time_base else 0.0
    except av.error.FFmpegError as err:
        raise VtkitError(f"video cannot be decoded at {prev_time or 0:.2f} s ({_av_message(err)})", path=path) from None
    finally:
        container.close()
    if prev is None:
        raise VtkitError("no decodable video frames in the file", path=path)
    step = frame_step or (1 / float(rate) if rate else last_step)
    duration = prev_time + step
    last = resize_crop(torch.from_numpy(_upright(prev, rotation)).permute(2, 0, 1), resolution)
    while chunk < kept_chunks(duration, chunk_seconds):  # the frames still wanted show the last frame
        chosen += [last] * len(targets)
        times += [prev_time] * len(targets)
        yield chunk, times, torch.stack(chosen)
        chunk += 1
        targets, chosen, times = sample_times(chunk, chunk_seconds, frames_per_chunk), [], []
    if chunk == 0:
        raise VtkitError(f"video is {duration:.2f} s long, shorter than half a chunk ({chunk_seconds} s)", path=path)


# ----------------------------------------------------------------------------------------------
# encoders
# ----------------------------------------------------------------------------------------------

def read_frames(path: str | Path, times: Sequence[float]) -> list[np.ndarray]:
    """Upright RGB frames ``[H, W, 3]`` uint8 of the video file, the last shown at or before each time (s,
    from the first frame, as chunks count them). One pass from a seek before the first time."""
    times = sorted(float(t) for t in times)
    container, stream = _open_video(Path(path))
    out: list[np.ndarray] = []
    try:
        start = getattr(stream, "start_time", None)
        origin = float(start * stream.time_base) if start is not None and stream.time_base else 0.0
        if times and times[0] > 1.0 and stream.time_base:
            container.seek(int((times[0] - 1.0 + origin) / stream.time_base), stream=stream, backward=True)
        last = None
        for frame in container.decode(stream):
            t = (frame.time or 0.0) - origin
            while len(out) < len(times) and t > times[len(out)] and last is not None:
                out.append(last)
            if len(out) == len(times):
                break
            last = _upright(frame, getattr(frame, "rotation", 0) or 0)
        while last is not None and len(out) < len(times):
            out.append(last)
    finally:
        container.close()
    return out


def frame_source(store) -> Callable[[str, float, float, int], list[np.ndarray]] | None:
    """``frames(video_uid, t0, t1, n)`` for a feature store made by ``vtkit extract`` (its records name each
    video file; packed caches of such folders too), else None. Frames are at the middle of ``n`` equal parts."""
    roots = [Path(store.root)] + ([Path(store.source)] if getattr(store, "source", None) else [])

    @functools.lru_cache(maxsize=None)
    def video_file(uid: str) -> Path | None:
        for root in roots:
            for record in (root / uid / RECORD_FILE, root / f"{uid}.json"):
                if record.is_file():
                    meta = read_json(record, "feature record")
                    path = meta.get("source_path") if isinstance(meta, dict) else None
                    if isinstance(path, str) and Path(path).is_file():
                        return Path(path)
        return None

    uids = store.video_uids()
    if not uids or video_file(uids[0]) is None:
        return None

    def frames(uid: str, t0: float, t1: float, n: int) -> list[np.ndarray]:
        path = video_file(uid)
        return read_frames(path, frame_times(t0, t1, n)) if path is not None else []

    return frames


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_sha256(folder: str | Path) -> str:
    """sha256 over the names and contents of a folder's files (a model directory's identity)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(f"{path.relative_to(folder)}\n{file_sha256(path)}\n".encode())
    return digest.hexdigest()


class LavilaVideoEncoder:
    """A LaViLa checkpoint's visual tower on ``[B, F, 3, R, R]`` clips; projected unless ``pre_projection``."""

    name = "lavila"

    def __init__(self, checkpoint: str | Path, pre_projection: bool = False, device="cpu"):
        from vtkit.lavila import load_lavila

        self.ckpt = load_lavila(checkpoint, device=device)
        visual = self.ckpt.visual
        if visual is None:
            raise VtkitError("the checkpoint has no visual tower (visual.*)", path=checkpoint)
        if not pre_projection and self.ckpt.image_projection is None:
            raise VtkitError("the checkpoint has no image_projection; use --pre-projection", path=checkpoint)
        self.pre_projection, self.device = pre_projection, torch.device(device)
        self.resolution, self.mean, self.std = visual.resolution, visual.mean, visual.std
        self.feature_dim = visual.width if pre_projection else self.ckpt.embed_dim
        self.identity = {"encoder": self.name, "family": self.ckpt.family, "checkpoint_sha256": file_sha256(checkpoint)}

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        x = self.ckpt.visual.normalize(clips.to(self.device)).transpose(1, 2)   # [B, 3, F, R, R]
        out = self.ckpt.visual(x)
        return out if self.pre_projection else out @ self.ckpt.image_projection


class ClipVideoEncoder:
    """A local transformers CLIP vision model on each frame; frame embeddings averaged per chunk."""

    name = "clip"

    def __init__(self, model_dir: str | Path, pre_projection: bool = False, device="cpu"):
        from transformers import CLIPVisionModelWithProjection
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        model_dir = Path(model_dir).expanduser()
        try:
            self.model = CLIPVisionModelWithProjection.from_pretrained(model_dir, local_files_only=True)
        except (OSError, ValueError) as err:
            raise VtkitError(f"cannot load a CLIP vision model ({str(err).splitlines()[0][:120]})",
                             path=model_dir, field="model") from None
        self.model.eval().requires_grad_(False).to(device)
        self.pre_projection, self.device = pre_projection, torch.device(device)
        config = self.model.config
        self.resolution = int(config.image_size)
        self.feature_dim = int(config.hidden_size if pre_projection else config.projection_dim)
        self.mean, self.std = CLIP_MEAN, CLIP_STD
        processor = model_dir / "preprocessor_config.json"
        if processor.is_file():
            spec = read_json(processor, "preprocessor config")
            if isinstance(spec, dict) and spec.get("image_mean") and spec.get("image_std"):
                self.mean = tuple(float(m) * 255 for m in spec["image_mean"])
                self.std = tuple(float(s) * 255 for s in spec["image_std"])
        self.identity = {"encoder": self.name, "family": config.model_type, "model_sha256": folder_sha256(model_dir)}

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        b, f = clips.shape[:2]
        mean = torch.tensor(self.mean, device=self.device).view(3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(3, 1, 1)
        pixels = ((clips.to(self.device) - mean) / std).flatten(0, 1)
        out = self.model(pixel_values=pixels)
        if self.pre_projection:  # the pooled output: the CLS token after the final layer norm
            frames = self.model.vision_model.post_layernorm(out.last_hidden_state[:, 0])
        else:
            frames = out.image_embeds
        return frames.view(b, f, -1).mean(1)


def encoder_settings(encoder, chunk_seconds: float, frames_per_chunk: int) -> dict:
    """What the features depend on; a folder holds features of one settings record only."""
    return {"format": FORMAT_VERSION, **encoder.identity,
            "feature": "pre-projection" if encoder.pre_projection else "projected",
            "feature_dim": int(encoder.feature_dim), "chunk_seconds": float(chunk_seconds),
            "frames_per_chunk": int(frames_per_chunk), "resolution": int(encoder.resolution),
            "mean": [round(m, 6) for m in encoder.mean], "std": [round(s, 6) for s in encoder.std],
            "min_partial_chunk": MIN_PARTIAL_CHUNK}


# ----------------------------------------------------------------------------------------------
# one video
# ----------------------------------------------------------------------------------------------

@dataclass
class VideoTiming:
    chunks: int = 0
    decode_s: float = 0.0      # decoding, frame selection, resize and crop
    encode_s: float = 0.0      # the encoder's forward passes


def extract_video(path: str | Path, encoder, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                  frames_per_chunk: int = DEFAULT_FRAMES_PER_CHUNK, batch_size: int = 8,
                  progress=None) -> tuple[np.ndarray, VideoTiming]:
    """Features ``[N, D]`` (float32) of one video file, and where the time went."""
    timing, rows, clips = VideoTiming(), [], []

    def flush():
        start = time.perf_counter()
        with torch.inference_mode():
            rows.append(encoder(torch.stack(clips)).float().cpu())
        timing.encode_s += time.perf_counter() - start
        if progress is not None:
            progress.update(len(clips))
        clips.clear()

    chunks = decode_chunks(path, chunk_seconds, frames_per_chunk, encoder.resolution)
    start = time.perf_counter()
    for _, _, frames in chunks:
        clips.append(frames)
        timing.chunks += 1
        timing.decode_s += time.perf_counter() - start
        if len(clips) == batch_size:
            flush()
        start = time.perf_counter()
    timing.decode_s += time.perf_counter() - start
    if clips:
        flush()
    features = torch.cat(rows).numpy()
    if not np.isfinite(features).all():
        raise VtkitError("the encoder produced NaN or Inf features", path=path)
    return features, timing


# ----------------------------------------------------------------------------------------------
# a folder of videos
# ----------------------------------------------------------------------------------------------

def list_videos(source: str | Path) -> list[Path]:
    """The video files to extract: ``source`` itself, or the video files in the folder (sorted)."""
    source = Path(source)
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise VtkitError("videos not found (expected a video file or a folder of them)", path=source)
    files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                   and not p.name.startswith("."))
    if not files:
        raise VtkitError(f"no video files ({', '.join(VIDEO_SUFFIXES)}) in the folder", path=source)
    seen: dict[str, Path] = {}
    for path in files:
        problem = video_uid_problem(path.stem)
        if problem:
            raise VtkitError(f"video uid {describe(path.stem)} (the file name stem) {problem}; rename the file",
                             path=path)
        if path.stem in seen:
            raise VtkitError(f"two videos share the uid {path.stem!r} ({seen[path.stem].name}, {path.name})",
                             path=source)
        seen[path.stem] = path
    return files


def source_fingerprint(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _compared(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k != "checkpoint"}


def check_folder_settings(out: Path, settings: dict, packed: bool) -> None:
    """Stop when ``out`` already holds features made with other settings (or in the other layout)."""
    record, other = (out / STORE_FILE, out / RECORD_FILE) if packed else (out / RECORD_FILE, out / STORE_FILE)
    if other.is_file():
        layout = "a packed store" if not packed else "per-chunk features"
        raise VtkitError(f"the folder holds {layout}; extract into another folder"
                         + ("" if packed else " or add --packed"), path=out)
    if not record.is_file():
        return
    found = read_store_info(record).get("extract", {}) if packed else read_json(record, "feature metadata")
    old, new = _compared(found if isinstance(found, dict) else {}), _compared(settings)
    if not old and packed:
        raise VtkitError("the packed store was not written by vtkit extract; extract into another folder", path=out)
    diff = [k for k in sorted(set(old) | set(new)) if k != "layout" and old.get(k) != new.get(k)]
    if diff:
        shown = ", ".join(f"{k}={old.get(k)!r} (now {new.get(k)!r})" for k in diff[:3])
        raise VtkitError(f"holds features made with other settings: {shown}; extract into another folder",
                         path=out, field="settings")


def _done(out: Path, uid: str, source: dict, settings: dict, packed: bool) -> bool:
    marker = out / f"{uid}.json" if packed else out / uid / RECORD_FILE
    if not marker.is_file() or (packed and not (out / f"{uid}.npy").is_file()):
        return False
    try:
        meta = read_video_metadata(marker) if packed else read_json(marker, "feature metadata")
    except VtkitError:  # a damaged record: extract the video again
        return False
    return (isinstance(meta, dict) and meta.get("fingerprint") == source
            and _compared(meta.get("extract", {})) == _compared(settings))


def _write_chunk_folder(out: Path, uid: str, features: np.ndarray, record: dict) -> None:
    """Write ``out/<uid>/chunk_<i>.pt`` + ``features.json`` into a hidden folder, then rename it into place."""
    tmp = out / f".{uid}.partial-{os.getpid()}"
    old = out / f".{uid}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        tensor = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        for i in range(tensor.shape[0]):
            torch.save(tensor[i].clone(), tmp / f"chunk_{i}.pt")  # clone: save one row, not the whole storage
        write_json(tmp / RECORD_FILE, record)
        target = out / uid
        if target.exists():
            target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class ExtractSummary:
    out: Path
    extracted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)   # uid -> reason
    chunks: int = 0
    decode_s: float = 0.0
    encode_s: float = 0.0
    rank: int = 0
    world: int = 1

    def __str__(self) -> str:
        shard = f" (rank {self.rank} of {self.world})" if self.world > 1 else ""
        lines = [f"extracted {len(self.extracted)}, unchanged {len(self.unchanged)}, skipped {len(self.skipped)}"
                 f"{shard} -> {self.out} ({self.chunks} chunks; decode {self.decode_s:.1f} s, encode "
                 f"{self.encode_s:.1f} s)"]
        lines += [f"  skipped {uid}: {reason}" for uid, reason in self.skipped.items()]
        return "\n".join(lines)


def shard() -> tuple[int, int]:
    """``(rank, world size)`` from torchrun's environment; ``(0, 1)`` outside it."""
    try:
        rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    except ValueError:
        raise VtkitError("RANK and WORLD_SIZE must be integers", field="RANK") from None
    if world < 1 or not 0 <= rank < world:
        raise VtkitError(f"RANK={rank} is not in 0..WORLD_SIZE-1 (WORLD_SIZE={world})", field="RANK")
    return rank, world


def pick_device(device: str = "auto") -> torch.device:
    """``auto``: this process's GPU (LOCAL_RANK) when CUDA is there, else the CPU."""
    if device not in ("auto", "cpu", "cuda"):
        raise VtkitError(f"device must be auto, cpu or cuda, not {device!r}", field="device")
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise VtkitError("device='cuda' but no CUDA GPU is visible", field="device")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())


def extract(videos: str | Path, out: str | Path, encoder, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
            frames_per_chunk: int = DEFAULT_FRAMES_PER_CHUNK, packed: bool = False, skip_bad: bool = False,
            batch_size: int = 8, progress: bool = True, checkpoint: str | None = None) -> ExtractSummary:
    """Extract every video under ``videos`` into ``out`` (this process's shard of them); see the module docstring."""
    from tqdm.auto import tqdm

    if not chunk_seconds > 0:
        raise VtkitError(f"chunk_seconds must be positive, got {chunk_seconds}", field="chunk_seconds")
    if frames_per_chunk < 1 or batch_size < 1:
        raise VtkitError("frames_per_chunk and batch_size must be at least 1", field="frames_per_chunk")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise VtkitError("output must be a folder, not a file", path=out)
    files = list_videos(videos)
    rank, world = shard()
    settings = encoder_settings(encoder, chunk_seconds, frames_per_chunk)
    if checkpoint is not None:
        settings["checkpoint"] = str(checkpoint)
    check_folder_settings(out, settings, packed)
    out.mkdir(parents=True, exist_ok=True)
    if not packed:  # every rank writes the same record: harmless if they race
        write_json(out / RECORD_FILE, {"layout": "chunks", **settings})

    summary = ExtractSummary(out=out, rank=rank, world=world)
    show = progress and rank == 0
    mine = files[rank::world]
    for path in tqdm(mine, desc="extract", unit="video", disable=not show, position=0):
        uid = path.stem
        try:
            source = source_fingerprint(path)
            if _done(out, uid, source, settings, packed):
                summary.unchanged.append(uid)
                continue
            total = estimated_chunks(path, chunk_seconds) if show else None
            with tqdm(total=total, desc=uid[:24], unit="chunk", disable=not show, position=1, leave=False) as bar:
                features, timing = extract_video(path, encoder, chunk_seconds, frames_per_chunk, batch_size, bar)
            record = {"video_uid": uid, "chunk_seconds": float(chunk_seconds), "feature_dim": int(features.shape[1]),
                      "num_chunks": int(features.shape[0]), "frames_per_chunk": int(frames_per_chunk),
                      "encoder": encoder.name, "source": "video", "source_path": str(path.resolve()),
                      "fingerprint": source, "extract": settings}
            if packed:
                write_packed(out, uid, features, record)
            else:
                _write_chunk_folder(out, uid, features, record)
            summary.extracted.append(uid)
            summary.chunks += timing.chunks
            summary.decode_s += timing.decode_s
            summary.encode_s += timing.encode_s
        except VtkitError as err:
            if not skip_bad:
                raise
            summary.skipped[uid] = str(err)
    if packed:  # written last, by each rank: the last one to finish counts every video
        write_store_info(out, float(chunk_seconds), int(encoder.feature_dim), encoder.name, int(frames_per_chunk),
                         "video", extract=settings)
    return summary


def cli_extract(argv: list[str]) -> int:
    from vtkit.options import ArgumentParser, positive_float, positive_int

    parser = ArgumentParser(prog="vtkit extract", description="Extract per-chunk video features from "
                                     "video files (one <video_uid>/chunk_<i>.pt folder per video, or a packed store).")
    parser.add_argument("videos", help="a video file or a folder of them (.mp4, .mkv, ...); uid = file name stem")
    parser.add_argument("out", help="output folder")
    parser.add_argument("--encoder", choices=("lavila", "clip"), default="lavila")
    parser.add_argument("--checkpoint", help="LaViLa dual-encoder checkpoint (.pth), for --encoder lavila")
    parser.add_argument("--model", help="local transformers CLIPVisionModelWithProjection folder, for --encoder clip")
    parser.add_argument("--pre-projection", action="store_true",
                        help="store the visual tower's CLS features (D = its width) instead of the projected ones")
    parser.add_argument("--packed", action="store_true", help="write the packed store (<uid>.npy + .json, store.json)")
    parser.add_argument("--chunk-seconds", type=positive_float, default=DEFAULT_CHUNK_SECONDS)
    parser.add_argument("--frames-per-chunk", type=positive_int, default=DEFAULT_FRAMES_PER_CHUNK)
    parser.add_argument("--batch-size", type=positive_int, default=8, help="chunks per forward pass")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--skip-bad", action="store_true", help="skip and report unreadable videos instead of stopping")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    if args.encoder == "lavila":
        if not args.checkpoint:
            raise VtkitError("--encoder lavila needs --checkpoint CKPT.pth", field="--checkpoint")
        encoder = LavilaVideoEncoder(args.checkpoint, args.pre_projection, device)
    else:
        if not args.model:
            raise VtkitError("--encoder clip needs --model DIR (a local CLIP vision model)", field="--model")
        encoder = ClipVideoEncoder(args.model, args.pre_projection, device)
    summary = extract(args.videos, args.out, encoder, chunk_seconds=args.chunk_seconds,
                      frames_per_chunk=args.frames_per_chunk, packed=args.packed, skip_bad=args.skip_bad,
                      batch_size=args.batch_size, progress=not args.no_progress,
                      checkpoint=args.checkpoint or args.model)
    print(summary)
    return 0
