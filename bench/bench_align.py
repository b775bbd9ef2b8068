"""Alignment timings: DP vs DFS vs brute force, DP at GoalStep sizes, top-5 max-marginals, DFS reach.

Run: ``python bench/bench_align.py [--repeats 15]``. Times are medians over repeats.
Similarities are synthetic: each step prefers its own stretch of the video (in order) plus noise.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from vtkit.align import align_dfs, align_dp, topk_segments
from vtkit.errors import VtkitError


def similarity(K: int, N: int, seed: int = 0, noise: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    S = rng.normal(scale=noise, size=(K, N))
    bounds = np.sort(rng.choice(np.arange(1, N), size=K - 1, replace=False)) if K > 1 else np.array([], int)
    for k, (s, e) in enumerate(zip(np.r_[0, bounds], np.r_[bounds, N])):
        S[k, s:e] += 1.0
    return S


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


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
        dp = median_ms(lambda: align_dp(S, b), r)
        dfs = median_ms(lambda: align_dfs(S, b), r)
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
            dp = median_ms(lambda: align_dp(S, b, 1, max_len), r)
            top = median_ms(lambda: topk_segments(S, b, 5, 1, max_len), max(3, r // 3))
            print(f"{K:>4}{N:>6}{str(max_len):>8}{dp:>9.2f}{1e6 * dp / (K * N):>9.0f}{top:>10.2f}{top / dp:>7.1f}")

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
            dp = median_ms(lambda: align_dp(S, b), 3)
            print(f"{K:>4}{N:>6}{noise:>7.1f}{nodes:>10}{ms:>10.1f}{dp:>8.2f}")


if __name__ == "__main__":
    main()
