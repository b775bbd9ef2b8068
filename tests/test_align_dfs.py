"""DFS aligner: the DP optimum in K nodes; length, gap and skip limits checked by brute force; budgets."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vtkit.align import SearchBudgetExceeded, align_dfs, align_dp, alignment_score, check_segments
from vtkit.errors import VtkitError

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def brute_force(S, b, min_len=1, max_len=None, skip_penalty=None, max_total=None, max_gap=None, max_skips=None):
    """Best total over every ordered, non-overlapping choice of one span (or a skip) per step that keeps the limits."""
    K, N = S.shape
    hi = N if max_len is None else max_len
    gain = S - b
    best = [-np.inf, None]

    def rec(k, pos, acc, segs, used, skips):
        if k == K:
            if acc > best[0]:
                best[0], best[1] = acc, list(segs)
            return
        if skip_penalty is not None and (max_skips is None or skips < max_skips):
            rec(k + 1, pos, acc - skip_penalty, segs + [None], used, skips + 1)
        placed = any(seg is not None for seg in segs)
        for s in range(pos, N):
            if max_gap is not None and placed and s - pos > max_gap:
                break
            for e in range(s + min_len - 1, min(s + hi, N)):
                if max_total is None or used + e - s + 1 <= max_total:
                    rec(k + 1, e + 1, acc + gain[k, s: e + 1].sum(), segs + [(s, e)], used + e - s + 1, skips)

    rec(0, 0, 0.0, [], 0, 0)
    return best[0] + b.sum(), best[1]


def banded(K: int, N: int, rng, noise: float = 1.0, smooth: int = 5) -> np.ndarray:
    """Each step's own stretch of the video (in order) scores 1 higher, plus temporally smoothed noise."""
    raw = rng.normal(scale=noise, size=(K, N + smooth - 1))
    S = np.stack([np.convolve(row, np.ones(smooth) / np.sqrt(smooth), mode="valid") for row in raw])
    cuts = np.sort(rng.choice(np.arange(1, N), size=K - 1, replace=False)) if 1 < K < N else np.zeros(0, int)
    for k, (s, e) in enumerate(zip(np.r_[0, cuts], np.r_[cuts, N])):
        S[k, s:e] += 1.0
    return S


def _limits_kept(segments, max_total, max_gap, max_skips):
    placed = [seg for seg in segments if seg is not None]
    if max_total is not None:
        assert sum(e - s + 1 for s, e in placed) <= max_total
    if max_gap is not None:
        assert all(b[0] - a[1] - 1 <= max_gap for a, b in zip(placed, placed[1:]))
    if max_skips is not None:
        assert segments.count(None) <= max_skips


@st.composite
def problems(draw, max_k=8, max_n=60):
    K = draw(st.integers(1, max_k))
    N = draw(st.integers(1, max_n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["normal", "integer", "banded"]))
    if kind == "normal":
        S = rng.normal(size=(K, N))
    elif kind == "integer":     # ties everywhere: the search must still stop at the first optimum
        S = rng.integers(-3, 4, size=(K, N)).astype(float)
    else:
        S = banded(K, N, rng)
    median = draw(st.booleans())
    b = np.full(N, float(np.median(S))) if median else rng.normal(size=N) * 0.5
    min_len = draw(st.integers(1, 3))
    max_len = draw(st.one_of(st.none(), st.integers(min_len, 12)))
    skip = draw(st.one_of(st.none(), st.sampled_from([0.0, 0.5, 2.0])))
    if skip is None and K * min_len > N:
        skip = 1.0
    # continuous scores and background: no two alignments tie (a median background gives zero-gain chunks)
    unique = kind != "integer" and not median
    return S, b, min_len, max_len, skip, unique


@settings(max_examples=300, **SETTINGS)
@given(problems())
def test_dfs_finds_the_dp_optimum_in_k_nodes(problem):
    S, b, min_len, max_len, skip, unique = problem
    dp = align_dp(S, b, min_len, max_len, skip)
    dfs = align_dfs(S, b, min_len, max_len, skip)
    assert dfs.score == pytest.approx(dp.score, abs=1e-9)
    check_segments(dfs.segments, S.shape[1], min_len, max_len, allow_skip=skip is not None)
    assert alignment_score(S, b, dfs.segments, skip) == pytest.approx(dp.score, abs=1e-9)
    # the bound is exact: one node per step, ties included
    assert dfs.nodes == S.shape[0]
    if unique:
        assert dfs.segments == dp.segments


@st.composite
def constrained(draw):
    K = draw(st.integers(1, 4))
    N = draw(st.integers(1, 10))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    S = rng.integers(-3, 4, size=(K, N)).astype(float) if draw(st.booleans()) else rng.normal(size=(K, N))
    b = np.full(N, draw(st.sampled_from([-0.5, 0.0, 0.5])))
    min_len = draw(st.integers(1, 2))
    max_len = draw(st.one_of(st.none(), st.integers(min_len, 5)))
    skip = draw(st.one_of(st.none(), st.sampled_from([0.0, 0.5, 2.0])))
    if skip is None and K * min_len > N:
        skip = 1.0
    limits = dict(max_total=draw(st.one_of(st.none(), st.integers(0, N))),
                  max_gap=draw(st.one_of(st.none(), st.integers(0, 3))),
                  max_skips=draw(st.one_of(st.none(), st.integers(0, K))) if skip is not None else None)
    return S, b, min_len, max_len, skip, limits


@settings(max_examples=400, **SETTINGS)
@given(constrained())
def test_constrained_dfs_matches_brute_force(problem):
    S, b, min_len, max_len, skip, limits = problem
    expected, _ = brute_force(S, b, min_len, max_len, skip, **limits)
    if not np.isfinite(expected):
        with pytest.raises(VtkitError, match="max_total|no alignment"):
            align_dfs(S, b, min_len, max_len, skip, **limits)
        return
    result = align_dfs(S, b, min_len, max_len, skip, **limits)
    assert result.score == pytest.approx(expected, abs=1e-9)
    check_segments(result.segments, S.shape[1], min_len, max_len, allow_skip=skip is not None)
    assert alignment_score(S, b, result.segments, skip) == pytest.approx(expected, abs=1e-9)
    _limits_kept(result.segments, **limits)
    if limits["max_total"] is None and limits["max_skips"] is None:   # the gap limit fits the DP's state: exact bound
        assert result.nodes == S.shape[0]


def test_limits_that_bind_change_the_answer():
    S = np.array([[3.0, 3.0, 2.5, -1.2, -1.2, -1.2, 0.0],
                  [-1.0, -1.0, -1.0, -1.0, -1.0, -1.0, 4.0]])
    b = np.zeros(7)
    assert align_dfs(S, b).segments == [(0, 2), (6, 6)]
    assert align_dfs(S, b, max_total=3).segments == [(0, 1), (6, 6)]
    gap = align_dfs(S, b, max_gap=1)    # step 2 may start 1 chunk after step 1 at most
    assert gap.segments == [(0, 2), (4, 6)] and gap.score == pytest.approx(8.5 + 2.0)
    S = np.array([[2.0, 2.0, 0.0], [-5.0, -5.0, -5.0], [-5.0, -5.0, 1.5]])
    assert align_dfs(S, np.zeros(3), skip_penalty=1.0).segments == [(0, 1), None, (2, 2)]
    limited = align_dfs(S, np.zeros(3), skip_penalty=1.0, max_skips=0)
    assert limited.segments == [(0, 0), (1, 1), (2, 2)] and limited.score == pytest.approx(-1.5)


def test_node_and_time_budgets_raise_search_budget_exceeded():
    rng = np.random.default_rng(0)
    S = banded(6, 60, rng)
    with pytest.raises(SearchBudgetExceeded, match=r"DFS node budget of 3 exceeded \(K=6, N=60\); use aligner='dp'"):
        align_dfs(S, np.zeros(60), node_budget=3)
    with pytest.raises(SearchBudgetExceeded, match=r"DFS time budget of 1e-09 s exceeded.*aligner='dp'") as err:
        align_dfs(S, np.zeros(60), time_budget=1e-9)
    assert err.value.field == "dfs_time_budget"
    # a tight length budget leaves the bound loose: the search needs many nodes
    S = np.random.default_rng(10).normal(size=(8, 80))
    assert align_dfs(S, np.zeros(80), max_total=20).nodes > 100
    with pytest.raises(SearchBudgetExceeded, match="node budget"):
        align_dfs(S, np.zeros(80), max_total=20, node_budget=50)


@pytest.mark.parametrize("noise", [1.0, 3.0])
def test_goalstep_sized_video_completes_within_budget(noise):
    rng = np.random.default_rng(1)
    S = banded(60, 1200, rng, noise=noise)
    b = np.full(1200, float(np.median(S)))
    result = align_dfs(S, b, node_budget=500_000)
    assert result.nodes == 60
    assert result.score == pytest.approx(align_dp(S, b).score)
    gap = align_dfs(S, b, max_gap=10)
    _limits_kept(gap.segments, None, 10, None)
    assert gap.nodes == 60
    limited = align_dfs(S, b, skip_penalty=0.5, max_skips=2, max_gap=100)
    _limits_kept(limited.segments, None, 100, 2)
    assert limited.nodes < 50_000


def test_largest_goalstep_video_completes(goalstep_valid):
    videos = json.loads(goalstep_valid.read_text())["videos"]
    video = max(videos, key=lambda v: len(v["segments"]))
    K, N = len(video["segments"]), round((video["end_time"] - video["start_time"]) / 2)
    S = banded(K, N, np.random.default_rng(2))
    b = np.full(N, float(np.median(S)))
    result = align_dfs(S, b)
    assert (K, result.nodes) == (178, 178)
    assert result.score == pytest.approx(align_dp(S, b).score)


@pytest.mark.parametrize("kwargs, field", [
    ({"max_total": -1}, "dfs_max_total"),
    ({"max_gap": 1.5}, "dfs_max_gap"),
    ({"max_skips": "2", "skip_penalty": 1.0}, "dfs_max_skips"),
    ({"time_budget": 0}, "dfs_time_budget"),
    ({"max_total": 2, "min_len": 2}, "dfs_max_total"),     # 3 steps need 6 chunks
])
def test_bad_limits_are_one_line_errors(kwargs, field):
    with pytest.raises(VtkitError) as err:
        align_dfs(np.zeros((3, 10)), np.zeros(10), **kwargs)
    assert err.value.field == field and "\n" not in str(err.value)
