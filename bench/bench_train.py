"""Training benchmark on the sample data: throughput with and without the text cache, wall time, memory.

    python bench/bench_train.py [--data data_samples] [--epochs 8] [--device cpu|cuda]

Each configuration runs in its own process, so peak memory is that process's peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the whole process, torch and the text model included);
on CUDA also the peak GPU memory allocated by torch (``torch.cuda.max_memory_allocated``).
"with cache": the default run (a cold disk cache: a fresh ``text_cache_dir``); pairs/s counts training
steps only, wall time is the whole ``train()`` call (loading, text cache, validation each epoch, checkpoints).
"without cache": the text backbone re-run on every step's texts (``train(..., text_cache=False)``), a few steps.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one(mode: str, data: Path, epochs: int, device: str) -> dict:
    import torch

    from vtkit.config import Config
    from vtkit.train import train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Config(video_root=str(data / "videos"), train_annotations=str(data / "goalstep_train.json"),
                     val_annotations=str(data / "goalstep_val.json"), out_dir=tmp, text_cache_dir=f"{tmp}/cache",
                     epochs=epochs if mode == "cached" else 1, max_steps_per_epoch=None if mode == "cached" else 3,
                     device=device)
        t0 = time.perf_counter()
        result = train(cfg, progress=False, text_cache=mode == "cached")
        wall = time.perf_counter() - t0
    first, best = result.history[0], max(result.history, key=lambda r: (r[result.metric], -r["heldout_loss"]))
    return {"mode": mode, "pairs_per_second": result.pairs_per_second, "wall_s": wall, "epochs": result.epochs_run,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
            "untrained": {k: first[k] for k in ("heldout_t2v_R1", "heldout_R1@0.3")},
            "best": {k: best[k] for k in ("epoch", "heldout_t2v_R1", "heldout_R1@0.3")},
            "params": [result.trainable_params, result.total_params], "start": result.start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data_samples", type=Path)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--one", choices=("cached", "uncached"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.data, args.epochs, args.device)))
        return
    if not (args.data / "goalstep_train.json").is_file():
        sys.exit(f"{args.data}: no sample data; run `vtkit samples --out {args.data}` first")
    rows = []
    for mode in ("cached", "uncached"):
        out = subprocess.run([sys.executable, __file__, "--one", mode, "--data", str(args.data), "--epochs",
                              str(args.epochs), "--device", args.device], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    import torch

    where = torch.cuda.get_device_name() if args.device == "cuda" else f"{torch.get_num_threads()} threads, CPU"
    print(f"training on {args.data} (torch {torch.__version__}, {where})")
    gpu = args.device == "cuda"
    print(f"{'text cache':<14}{'pairs/s':>12}{'wall s':>10}{'epochs':>8}{'peak RSS MB':>13}"
          + (f"{'GPU peak MB':>13}" if gpu else ""))
    for r in rows:
        label = "with cache" if r["mode"] == "cached" else "without cache"
        print(f"{label:<14}{r['pairs_per_second']:>12.0f}{r['wall_s']:>10.1f}{r['epochs']:>8}{r['maxrss_mb']:>13.0f}"
              + (f"{r['gpu_peak_mb']:>13.0f}" if gpu else ""))
    cached = rows[0]
    print(f"speed-up from the cache: {rows[0]['pairs_per_second'] / rows[1]['pairs_per_second']:.1f}x "
          "(wall s without cache: 1 epoch of 3 steps)")
    print(f"parameters: {cached['params'][0]:,} trainable / {cached['params'][1]:,} total")
    print(f"selection-split quality (held-out train videos), {cached['start']} (epoch 0) -> best epoch "
          f"{cached['best']['epoch']}: "
          + ", ".join(f"{k} {cached['untrained'][k]:.3f} -> {cached['best'][k]:.3f}"
                      for k in ("heldout_t2v_R1", "heldout_R1@0.3")))


if __name__ == "__main__":
    main()
