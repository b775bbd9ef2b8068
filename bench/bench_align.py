"""Alignment timings and memory: DP vs DFS vs brute force, DP at GoalStep sizes, top-5
max-marginals, peak memory, DFS reach.

Run: ``python bench/bench_align.py [--repeats 15]``. Times are medians over repeats.
Similarities are synthetic: each step prefers its own stretch of the video (in order) plus noise.
Peak memory is measured with ``tracemalloc`` (numpy reports its array buffers to it), each case in
a fresh thread so the aligner's per-thread work arrays are counted as new allocations.
"""
from __future__ import annotations

import argparse
import threading
import time
import tracemalloc

import numpy as np

from timing import median_seconds

from vtkit.align import align, align_dfs, align_dp, topk_segments
from vtkit.errors import VtkitError


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
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

    print("\nDP at GoalStep sizes (median video, largest video), and top-5 max-marginals")
    print(f"{'K':>4}{'N':>6}{'max_len':>8}{'DP ms':>9}{'ns/cell':>9}{'top-5 ms':>10}{'ratio':>7}")
    for K, N in [(25, 840), (178, 3600)]:
        S = similarity(K, N)
        b = np.full(N, float(np.median(S)))
        for max_len in (None, 60):
            dp = 1e3 * median_seconds(lambda: align_dp(S, b, 1, max_len), r)
            top = 1e3 * median_seconds(lambda: topk_segments(S, b, 5, 1, max_len), max(3, r // 3))
            print(f"{K:>4}{N:>6}{str(max_len):>8}{dp:>9.2f}{1e6 * dp / (K * N):>9.0f}{top:>10.2f}{top / dp:>7.1f}")

    print("\nPeak memory (tracemalloc; each peak includes making S): DP, top-5 max-marginals, align(dp, top_k=5);"
          " B/cell = align peak / (K*N)")
    print(f"{'K':>4}{'N':>6}{'max_len':>8}{'S MiB':>8}{'DP MiB':>8}{'top-5 MiB':>10}{'align MiB':>10}"
          f"{'B/cell':>8}")
    peak_mib(lambda: align(similarity(8, 50), "dp"))    # warm-up: first-call allocations are not the aligner's
    for K, N in [(45, 900), (89, 1800), (178, 3600)]:
        for max_len in (None, 60):
            s_mib = similarity(K, N).nbytes / 2**20
            dp = peak_mib(lambda: align_dp(similarity(K, N), 0.0, 1, max_len))
            top = peak_mib(lambda: topk_segments(similarity(K, N), 0.0, 5, 1, max_len))
            full = peak_mib(lambda: align(similarity(K, N), "dp", max_len=max_len, top_k=5))
            per_cell = full * 2**20 / (K * N)
            print(f"{K:>4}{N:>6}{str(max_len):>8}{s_mib:>8.1f}{dp:>8.1f}{top:>10.1f}{full:>10.1f}{per_cell:>8.0f}")

    print("\nDFS reach within the default budget of 2,000,000 nodes (unbounded lengths)")
    print(f"{'K':>4}{'N':>6}{'noise':>7}{'nodes':>10}{'DFS ms':>10}{'DP ms':>8}")
    for noise in (1.0, 3.0):
        for K, N in [(8, 200), (8, 400), (12, 400), (16, 600), (25, 840)]:
            S = similarity(K, N, noise=noise)
            b = np.full(N, float(np.median(S)))
            t = time.perf_counter()
            try:
                result = align_dfs(S, b)
                ms, nodes = 1e3 * (time.perf_counter() - t), f"{result.nodes}"
                assert np.isclose(result.score, align_dp(S, b).score)
            except VtkitError:
                ms, nodes = 1e3 * (time.perf_counter() - t), "budget"
            dp = 1e3 * median_seconds(lambda: align_dp(S, b), 3)
            print(f"{K:>4}{N:>6}{noise:>7.1f}{nodes:>10}{ms:>10.1f}{dp:>8.2f}")


if __name__ == "__main__":
    main()
