"""Feature extraction speed: a ViT-B-sized LaViLa visual tower (random weights) on a synthetic video.

    python bench/bench_extract.py [--seconds 10] [--repeats 3] [--batch-size 8] [--device cpu|cuda]

Writes a synthetic 30 fps video (512x288, the size LaViLa's Ego4D preprocessing makes) and a
checkpoint with LaViLa's layout (TimeSformer width 768, 12 blocks, patch 16, 4 frames x 224, and a
small text tower), then times ``extract_video``: decoding (with frame choice, resize and crop) vs
the encoder's forward passes, as medians over the repeats.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from timing import median_seconds
from vtkit.extract import LavilaVideoEncoder, extract_video, pick_device
from vtkit.lavila import ClipTextTower, SpaceTimeVisual


def write_synthetic_video(path: Path, seconds: float, fps: int = 30, size=(512, 288)) -> None:
    """Moving gradients with noise, so the encoder decodes real motion (not a static frame)."""
    import av

    width, height = size
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for i in range(int(seconds * fps)):
            base = ((xs + 3 * i) % 256 + (ys // 2)) % 256
            image = np.stack([base, (base + 85) % 256, (base + 170) % 256], axis=-1).astype(np.uint8)
            image = np.clip(image + rng.integers(0, 16, image.shape), 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_base_checkpoint(path: Path) -> None:
    """Random ViT-B/16 TimeSformer weights under LaViLa's key names (``module.`` prefixed, as released)."""
    torch.manual_seed(0)
    visual = SpaceTimeVisual(width=768, depth=12, patch=16, grid=14, num_frames=4, hidden=3072)
    text = ClipTextTower(vocab=49408, context=77, width=64, layers=1, hidden=256)
    state = {f"visual.{k}": v for k, v in visual.state_dict().items()}
    state.update(text.state_dict())
    state["image_projection"] = torch.randn(768, 256) * 768 ** -0.5
    state["text_projection"] = torch.randn(64, 256) * 64 ** -0.5
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the synthetic video")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)

    with tempfile.TemporaryDirectory() as tmp:
        video, ckpt = Path(tmp) / "synthetic.mp4", Path(tmp) / "lavila_base.pth"
        write_synthetic_video(video, args.seconds)
        write_base_checkpoint(ckpt)
        start = time.perf_counter()
        encoder = LavilaVideoEncoder(ckpt, device=device)
        load_s = time.perf_counter() - start
        with torch.inference_mode():   # warm-up (kernels, allocator)
            encoder(torch.zeros(1, 4, 3, encoder.resolution, encoder.resolution))
        runs = []
        total = median_seconds(lambda: runs.append(extract_video(video, encoder, batch_size=args.batch_size)[1]),
                               args.repeats)

    chunks = runs[0].chunks
    decode = statistics.median(r.decode_s for r in runs)
    encode = statistics.median(r.encode_s for r in runs)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"ViT-B/16 TimeSformer, 4 frames x 224, batch {args.batch_size}, {name}; {args.seconds:g} s video "
          f"(512x288, 30 fps) = {chunks} chunks; median of {args.repeats}; checkpoint load {load_s:.1f} s")
    print()
    print("| stage | seconds | ms per chunk | chunks/s |")
    print("|---|---:|---:|---:|")
    for stage, seconds in (("decode + frame choice + resize/crop", decode), ("encode (forward passes)", encode),
                           ("whole extract_video (wall)", total)):
        print(f"| {stage} | {seconds:.2f} | {1000 * seconds / chunks:.0f} | {chunks / seconds:.2f} |")


if __name__ == "__main__":
    main()
