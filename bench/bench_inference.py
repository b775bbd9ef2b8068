"""One video in, segments out: time of `align_video` for a 30-minute video on the CPU.

    python bench/bench_inference.py [--chunks 900] [--steps 25] [--dim 256] [--repeats 5]

Trains nothing: it measures the untrained towers (the same cost as a trained checkpoint's),
with the text cache warm and cold, for every aligner. Prints median seconds.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from timing import median_seconds
from vtkit.align import AlignSettings
from vtkit.checkpoint import load_model
from vtkit.config import Config
from vtkit.inference import align_video


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chunks", type=int, default=900)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(args.chunks, args.dim)).astype(np.float32)
    steps = [f"step number {k} of the recipe with {w} words" for k, w in enumerate(rng.integers(2, 8, args.steps))]
    with tempfile.TemporaryDirectory() as cache, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = Config(text_cache_dir=cache, device="cpu")
        start = time.perf_counter()
        model = load_model(None, cfg, args.dim)
        load = time.perf_counter() - start
        fresh = load_model(None, cfg.replace(text_cache_dir=None), args.dim)
        cold = median_seconds(lambda: align_video(feats, steps, model=fresh), 1)
        npy, txt = Path(cache) / "video.npy", Path(cache) / "steps.txt"
        np.save(npy, feats)
        txt.write_text("\n".join(steps))
        command = [sys.executable, "-m", "vtkit", "predict", "--features", str(npy), "--steps", str(txt),
                   "--out", str(Path(cache) / "segments.json")]
        whole = median_seconds(lambda: subprocess.run(command, check=True, capture_output=True), args.repeats)
        rows = []
        for a in ("dp", "dfs", "unordered"):
            used = align_video(feats, steps, settings=AlignSettings(aligner=a), model=model)[0].aligner
            seconds = median_seconds(lambda: align_video(feats, steps, settings=AlignSettings(aligner=a), model=model),
                                     args.repeats)
            rows.append((a if used == a else f"{a} (over budget: {used} answer)", seconds))
    print(f"align_video: N={args.chunks} chunks ({args.chunks * 2 / 60:.0f} min), K={args.steps} steps, "
          f"D={args.dim}, CPU, median of {args.repeats}")
    print(f"{'what':<42}{'seconds':>10}")
    print(f"{'load model (text backbone from disk)':<42}{load:>10.3f}")
    print(f"{'first call, text not cached (dp)':<42}{cold:>10.3f}")
    print(f"{'vtkit predict, whole process (dp)':<42}{whole:>10.3f}")
    for aligner, seconds in rows:
        print(f"{'similarity + ' + aligner + ' + top-5, text cached':<42}{seconds:>10.3f}")


if __name__ == "__main__":
    main()
