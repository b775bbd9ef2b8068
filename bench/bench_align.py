"""Alignment timings and memory: DP vs DFS vs brute force, DP per cell vs a plain numpy DP, top-5
max-marginals, peak memory, DFS completion at GoalStep scale.

Run: ``python bench/bench_align.py [--repeats 15] [--annotations goalstep_valid.json]``. Times are
medians over repeats. Similarities are synthetic: each step prefers its own stretch of the video
(in order) plus noise. The DFS completion table takes the real step counts, goal lengths (2 s
chunks) and step times of the GoalStep val annotations (``../shared/goalstep/goalstep_valid.json``
when present, else sizes drawn from the same distribution), builds a banded similarity (each
step's annotated segment scores higher, plus temporally smoothed noise) and a pure-noise one, with
the median as background, and runs the DFS with the kit's node budget and a 1 s time budget.
Peak memory is measured with ``tracemalloc`` (numpy reports its array buffers to it), each case in
a fresh thread so the aligner's per-thread work arrays are counted as new allocations.
"""
from __future__ import annotations

import argparse
import json
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

from timing import median_seconds

from vtkit.align import (DEFAULT_NODE_BUDGET, AlignSettings, SearchBudgetExceeded, align, align_dfs, align_dp,
                         topk_segments)

GOALSTEP_VALID = Path(__file__).resolve().parents[2] / "shared" / "goalstep" / "goalstep_valid.json"
SIZE_CLASSES = [(1, 10), (11, 25), (26, 60), (61, 178)]     # steps per video


def similarity(K: int, N: int, seed: int = 0, noise: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    S = rng.normal(scale=noise, size=(K, N))
    bounds = np.sort(rng.choice(np.arange(1, N), size=K - 1, replace=False)) if K > 1 else np.array([], int)
    for k, (s, e) in enumerate(zip(np.r_[0, bounds], np.r_[bounds, N])):
        S[k, s:e] += 1.0
    return S


def peak_mib(fn) -> float:
    """Peak traced memory (MiB) of ``fn()`` run in a fresh thread, above what was allocated before."""
    def run():
        tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        peak[0] = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()

    peak = [0]
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return peak[0] / 2**20


def brute_force(S, b):
    """Best total over every ordered, non-overlapping choice of one span per step (no skips)."""
    K, N = S.shape
    P = np.concatenate([np.zeros((K, 1)), np.cumsum(S - b, axis=1)], axis=1)

    def rec(k, pos):
        if k == K:
            return 0.0
        best = -np.inf
        for s in range(pos, N):
            for e in range(s, N):
                best = max(best, P[k, e + 1] - P[k, s] + rec(k + 1, e + 1))
        return best

    return rec(0, 0) + b.sum()


def reference_dp(S, b):
    """The plain vectorised DP of the same objective (min_len=1, no max_len, no skips): total and segments.

    ``F[k + 1, j]``, the best gain of steps 0..k within chunks [0, j), is a running maximum over
    segment ends of the best start before each end (one ``np.maximum.accumulate`` per row each).
    """
    K, N = S.shape
    P = np.concatenate([np.zeros((K, 1)), np.cumsum(S - b, axis=1)], axis=1)
    F = np.zeros((K + 1, N + 1))
    for k in range(K):
        best_start = np.maximum.accumulate(F[k] - P[k])              # max over s <= j of F[k, s] - P[k, s]
        E = np.concatenate([[-np.inf], best_start[:-1] + P[k, 1:]])  # step k ends exactly at chunk j - 1
        F[k + 1] = np.maximum.accumulate(E)
    segments, j = [], N
    for k in range(K - 1, -1, -1):
        j = int(np.argmax(F[k + 1, : j + 1] == F[k + 1, j]))         # where that best first appears: an end
        s = int(np.argmax(F[k, :j] - P[k, :j]))
        segments.append((s, j - 1))
        j = s
    return float(F[K, N] + b.sum()), segments[::-1]


def goalstep_sizes(path: Path, rng) -> tuple[str, list[tuple[int, int, list[tuple[int, int]]]]]:
    """Per val video: steps K, chunks N (goal length / 2 s) and each step's chunk span inside the goal.

    Without the annotation file: 134 sizes drawn from log-normals with the same medians and
    spread (K median 17, N median 614), steps tiling 85 % of the video in order.
    """
    if path.is_file():
        out = []
        for video in json.loads(path.read_text())["videos"]:
            n = max(1, round((video["end_time"] - video["start_time"]) / 2))
            spans = []
            for step in video["segments"]:
                s = int(np.clip((step["start_time"] - video["start_time"]) // 2, 0, n - 1))
                e = int(np.clip(np.ceil((step["end_time"] - video["start_time"]) / 2), s + 1, n))
                spans.append((s, e))
            out.append((len(spans), n, spans))
        return f"{path.name}, {len(out)} videos", out
    out = []
    for _ in range(134):
        k = int(np.clip(np.round(rng.lognormal(np.log(17), 1.0)), 1, 178))
        n = int(np.clip(np.round(rng.lognormal(np.log(614), 0.75)), max(19, k), 3612))
        cuts = np.sort(rng.choice(np.arange(1, n), size=k - 1, replace=False)) if k > 1 else np.zeros(0, int)
        starts, ends = np.r_[0, cuts], np.r_[cuts, n]
        out.append((k, n, [(int(s), int(max(s + 1, s + 0.85 * (e - s)))) for s, e in zip(starts, ends)]))
    return "synthetic sizes (annotations not found), 134 videos", out


def goalstep_similarity(K: int, N: int, spans, rng, band: bool, smooth: int = 5) -> np.ndarray:
    """Unit-variance noise smoothed over ``smooth`` chunks, plus 1 on each step's own span when ``band``."""
    raw = rng.normal(size=(K, N + smooth - 1))
    S = np.stack([np.convolve(row, np.ones(smooth) / np.sqrt(smooth), mode="valid") for row in raw])
    if band:
        for k, (s, e) in enumerate(spans):
            S[k, s:e] += 1.0
    return S


def dfs_completion(videos, kwargs: dict, band: bool, total_share: float | None = None,
                   seed: int = 0) -> list[tuple[int, bool, float, int | None]]:
    """(K, finished, seconds, nodes) of the DFS per video; a finished search must equal the DP optimum.

    ``total_share``: ``max_total`` is that share of the chunks the DP optimum covers (a limit that binds).
    """
    rng = np.random.default_rng(seed)
    out = []
    for K, N, spans in videos:
        S = goalstep_similarity(K, N, spans, rng, band)
        b = np.full(N, float(np.median(S)))
        limits = dict(kwargs)
        if total_share is not None:
            covered = sum(e - s + 1 for s, e in align_dp(S, b).segments)
            limits["max_total"] = max(K, int(total_share * covered))
        start = time.perf_counter()
        try:
            result = align_dfs(S, b, node_budget=DEFAULT_NODE_BUDGET, time_budget=1.0, **limits)
        except SearchBudgetExceeded:
            out.append((K, False, time.perf_counter() - start, None))
            continue
        out.append((K, True, time.perf_counter() - start, result.nodes))
        if not limits:
            assert np.isclose(result.score, align_dp(S, b).score), (K, N)
    return out


def print_completion(label: str, runs) -> None:
    for lo, hi in SIZE_CLASSES + [(1, 178)]:
        rows = [r for r in runs if lo <= r[0] <= hi]
        done = [r for r in rows if r[1]]
        if not rows:
            continue
        times = 1e3 * np.array([r[2] for r in done]) if done else np.array([np.nan])
        nodes = np.array([r[3] for r in done]) if done else np.array([0])
        steps = f"{lo}-{hi}" if (lo, hi) != (1, 178) else "all"
        print(f"{label:<26}{steps:>7}{len(rows):>7}{100 * len(done) / len(rows):>8.1f}{np.median(times):>9.2f}"
              f"{times.max():>9.1f}{np.median(nodes):>10.0f}{nodes.max():>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--annotations", type=Path, default=GOALSTEP_VALID,
                        help="GoalStep val annotations for the DFS completion sizes")
    args = parser.parse_args()
    r = args.repeats

    print("small problems (unbounded lengths, no skips), ms")
    print(f"{'K':>4}{'N':>6}{'DP':>10}{'DFS':>10}{'brute':>12}  same optimum")
    for K, N in [(2, 8), (2, 12), (3, 10), (3, 14), (4, 12)]:
        S = similarity(K, N)
        b = np.full(N, float(np.median(S)))
        dp = 1e3 * median_seconds(lambda: align_dp(S, b), r)
        dfs = 1e3 * median_seconds(lambda: align_dfs(S, b), r)
        t = time.perf_counter()
        ref = brute_force(S, b)
        brute = 1e3 * (time.perf_counter() - t)
        same = np.isclose(align_dp(S, b).score, ref) and np.isclose(align_dfs(S, b).score, ref)
        print(f"{K:>4}{N:>6}{dp:>10.3f}{dfs:>10.3f}{brute:>12.1f}  {same}")

    print("\nDP per cell at GoalStep sizes (median video, largest video; min_len=1, no max_len): vtkit vs a plain"
          " numpy DP (reference_dp), same process")
    print(f"{'K':>4}{'N':>6}{'vtkit ms':>10}{'ns/cell':>9}{'plain ms':>10}{'ns/cell':>9}{'speed-up':>9}  same optimum")
    for K, N in [(25, 840), (178, 3600)]:
        S = similarity(K, N)
        b = np.full(N, float(np.median(S)))
        ours = median_seconds(lambda: align_dp(S, b), r)
        plain = median_seconds(lambda: reference_dp(S, b), r)
        ref_score, ref_segments = reference_dp(S, b)
        same = np.isclose(align_dp(S, b).score, ref_score) and align_dp(S, b).segments == ref_segments
        print(f"{K:>4}{N:>6}{1e3 * ours:>10.2f}{1e9 * ours / (K * N):>9.1f}{1e3 * plain:>10.2f}"
              f"{1e9 * plain / (K * N):>9.1f}{plain / ours:>9.2f}  {same}")

    print("\nDP with a duration bound, and top-5 max-marginals")
    print(f"{'K':>4}{'N':>6}{'max_len':>8}{'DP ms':>9}{'ns/cell':>9}{'top-5 ms':>10}{'ratio':>7}")
    for K, N in [(25, 840), (178, 3600)]:
        S = similarity(K, N)
        b = np.full(N, float(np.median(S)))
        for max_len in (None, 60):
            dp = 1e3 * median_seconds(lambda: align_dp(S, b, 1, max_len), r)
            top = 1e3 * median_seconds(lambda: topk_segments(S, b, 5, 1, max_len), max(3, r // 3))
            print(f"{K:>4}{N:>6}{str(max_len):>8}{dp:>9.2f}{1e6 * dp / (K * N):>9.1f}{top:>10.2f}{top / dp:>7.1f}")

    print("\nPeak memory (tracemalloc; each peak includes making S): DP, top-5 max-marginals, align(dp, top_k=5);"
          " B/cell = align peak / (K*N)")
    print(f"{'K':>4}{'N':>6}{'max_len':>8}{'S MiB':>8}{'DP MiB':>8}{'top-5 MiB':>10}{'align MiB':>10}"
          f"{'B/cell':>8}")
    peak_mib(lambda: align(similarity(8, 50)))    # warm-up: first-call allocations are not the aligner's
    for K, N in [(45, 900), (89, 1800), (178, 3600)]:
        for max_len in (None, 60):
            s_mib = similarity(K, N).nbytes / 2**20
            dp = peak_mib(lambda: align_dp(similarity(K, N), 0.0, 1, max_len))
            top = peak_mib(lambda: topk_segments(similarity(K, N), 0.0, 5, 1, max_len))
            full = peak_mib(lambda: align(similarity(K, N), AlignSettings(max_len=max_len, top_k=5)))
            per_cell = full * 2**20 / (K * N)
            print(f"{K:>4}{N:>6}{str(max_len):>8}{s_mib:>8.1f}{dp:>8.1f}{top:>10.1f}{full:>10.1f}{per_cell:>8.0f}")

    source, videos = goalstep_sizes(args.annotations, np.random.default_rng(0))
    print(f"\nDFS completion at GoalStep scale ({source}; node budget {DEFAULT_NODE_BUDGET:,}, 1 s; background = "
          "median); times in ms, over the finished searches")
    print(f"{'similarity, limits':<26}{'steps':>7}{'videos':>7}{'done %':>8}{'med ms':>9}{'max ms':>9}"
          f"{'med nodes':>10}{'max nodes':>10}")
    for label, band, kwargs in [("banded", True, {}), ("pure noise", False, {}),
                                ("banded, max_len=60, skip", True, dict(max_len=60, skip_penalty=1.0)),
                                ("banded, max_gap=30", True, dict(max_gap=30)),
                                ("banded, <= 2 skips", True, dict(skip_penalty=0.5, max_skips=2))]:
        print_completion(label, dfs_completion(videos, kwargs, band))
    print_completion("banded, max_total 90 %", dfs_completion(videos, {}, True, total_share=0.9))


if __name__ == "__main__":
    main()
