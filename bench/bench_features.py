"""Load speed of the two feature layouts, and dataset throughput over the packed store.

    python bench/bench_features.py [--chunks 1800] [--dim 256] [--repeats 5]

Builds a synthetic video in a temp folder (per-chunk layout), packs it, and prints median times.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from timing import median_seconds
from vtkit.annotations import Query, Video
from vtkit.dataset import VideoTextAlignmentDataset
from vtkit.features import FeatureStore, load_video_features, pack_store


def synthetic_video(uid: str, num_chunks: int, chunk_seconds: float, step_chunks: int = 15) -> Video:
    """Steps of ``step_chunks`` chunks with a one-chunk gap; one text in ten repeats an earlier one."""
    queries, t, i = [], 0.0, 0
    while (t + step_chunks * chunk_seconds) <= num_chunks * chunk_seconds:
        text = f"step {i // 10 * 10}" if i % 10 == 9 else f"step {i}"
        queries.append(Query(uid, f"{uid}_0_{num_chunks * chunk_seconds}", i, "step", text, t,
                             t + step_chunks * chunk_seconds, i))
        t += (step_chunks + 1) * chunk_seconds
        i += 1
    return Video(uid, 0.0, num_chunks * chunk_seconds, None, None, queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=1800)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(2)

    with tempfile.TemporaryDirectory() as tmp:
        root, out = Path(tmp) / "videos", Path(tmp) / "packed"
        folder = root / "synthetic"
        folder.mkdir(parents=True)
        values = torch.randn(args.chunks, args.dim)
        for i in range(args.chunks):
            torch.save(values[i].clone(), folder / f"chunk_{i}.pt")
        pack_store(root, out, chunk_seconds=2.0, progress=False)

        chunk_s = median_seconds(lambda: load_video_features(root, "synthetic", store="chunks"), args.repeats)
        # np.array(...) reads the memory map into memory, so both timings include reading every value.
        packed_s = median_seconds(lambda: np.array(load_video_features(out, "synthetic", store="packed")),
                                  max(args.repeats, 20))

        store = FeatureStore(out)
        videos = [synthetic_video("synthetic", args.chunks, store.chunk_seconds)]
        rows = []
        for source in ("hard", "mixed"):
            for w in (0, 2):
                ds = VideoTextAlignmentDataset(videos, store, negative_ratio=4, negative_source=source,
                                               background_ratio=0.1, context_window=w)
                order = np.random.default_rng(0).permutation(len(ds))
                batches = [order[i:i + args.batch_size] for i in range(0, len(order), args.batch_size)]

                epochs = max(1, 20_000 // len(ds))   # time ~20k samples per run

                def epoch_via_get_batch():
                    for _ in range(epochs):
                        for b in batches:
                            ds.get_batch(b)

                loader = ds.loader(batch_size=args.batch_size, shuffle=True)

                def epoch_via_loader():
                    for _ in range(epochs):
                        for _ in loader:
                            pass

                def epoch_per_item():
                    for i in order[:2000]:
                        ds[int(i)]

                n = epochs * len(ds)
                rows.append((source, w, len(ds), n / median_seconds(epoch_via_get_batch, args.repeats),
                             n / median_seconds(epoch_via_loader, args.repeats),
                             2000 / median_seconds(epoch_per_item, 1)))

    print(f"feature loading, one video of {args.chunks} chunks x D={args.dim} (median of {args.repeats}+ runs)")
    print(f"{'layout':<28}{'median ms':>12}")
    print(f"{'per-chunk .pt (loop)':<28}{chunk_s * 1e3:>12.1f}")
    print(f"{'packed .npy (mmap + read)':<28}{packed_s * 1e3:>12.2f}")
    print(f"{'speed-up':<28}{chunk_s / packed_s:>11.0f}x   (target >= 50x)")
    print()
    print(f"dataset samples/s over the packed store, negative_ratio=4, batch {args.batch_size}  (target >= 100k/s)")
    print(f"{'source':<8}{'w':>3}{'samples':>9}{'get_batch':>12}{'DataLoader':>12}{'per item':>10}")
    for source, w, n, fast, loader_rate, item in rows:
        print(f"{source:<8}{w:>3}{n:>9}{fast:>12,.0f}{loader_rate:>12,.0f}{item:>10,.0f}")


if __name__ == "__main__":
    main()
