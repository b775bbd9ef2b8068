"""Alignment: DP == DFS == brute force on small random problems, max-marginals, bad input."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vtkit.align import (AlignSettings, Alignment, align, align_dfs, align_dp, align_dropdtw, align_unordered,
                         alignment_score, background_vector, check_segments, query_scores, topk_segments,
                         with_substep_evidence)
from vtkit.errors import VtkitError

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def brute_force(S, b, min_len=1, max_len=None, skip_penalty=None, duration_score=None):
    """Best total over every ordered, non-overlapping choice of one span (or a skip) per step."""
    K, N = S.shape
    lo = np.broadcast_to(min_len, (K,))
    hi = np.broadcast_to(N if max_len is None else max_len, (K,))
    gain = S - b
    best = [-np.inf, None]

    def rec(k, pos, acc, segs):
        if k == K:
            if acc > best[0]:
                best[0], best[1] = acc, list(segs)
            return
        if skip_penalty is not None:
            rec(k + 1, pos, acc - skip_penalty, segs + [None])
        for s in range(pos, N):
            for e in range(s, N):
                L = e - s + 1
                if lo[k] <= L <= hi[k]:
                    extra = 0.0 if duration_score is None else duration_score[L]
                    rec(k + 1, e + 1, acc + gain[k, s: e + 1].sum() + extra, segs + [(s, e)])

    rec(0, 0, 0.0, [])
    return best[0] + b.sum(), best[1]


@st.composite
def problems(draw, max_k=5, max_n=12, durations=False):
    K = draw(st.integers(1, max_k))
    N = draw(st.integers(1, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # integer-valued scores make ties common, which is where backtracking goes wrong
    S = rng.integers(-3, 4, size=(K, N)).astype(float) if draw(st.booleans()) else rng.normal(size=(K, N))
    b = np.full(N, draw(st.sampled_from([-0.5, 0.0, 0.5]))) if draw(st.booleans()) else rng.normal(size=N) * 0.5
    min_len = draw(st.integers(1, 3))
    max_len = draw(st.one_of(st.none(), st.integers(min_len, 6)))
    skip = draw(st.one_of(st.none(), st.sampled_from([0.0, 0.5, 2.0])))
    if skip is None and K * min_len > N:
        skip = 1.0
    dur = rng.normal(size=N + 1) if durations else None
    return S, b, min_len, max_len, skip, dur


def _check_result(result: Alignment, S, b, min_len, max_len, skip, expected, dur=None):
    assert result.score == pytest.approx(expected, abs=1e-9)
    check_segments(result.segments, S.shape[1], min_len, max_len, allow_skip=skip is not None)
    assert alignment_score(S, b, result.segments, skip, dur) == pytest.approx(expected, abs=1e-9)


@settings(max_examples=1200, **SETTINGS)
@given(problems())
def test_dp_and_dfs_match_brute_force(problem):
    S, b, min_len, max_len, skip, _ = problem
    expected, _ = brute_force(S, b, min_len, max_len, skip)
    _check_result(align_dp(S, b, min_len, max_len, skip), S, b, min_len, max_len, skip, expected)
    _check_result(align_dfs(S, b, min_len, max_len, skip), S, b, min_len, max_len, skip, expected)


@settings(max_examples=500, **SETTINGS)
@given(problems(durations=True))
def test_dp_with_duration_prior_matches_brute_force(problem):
    S, b, min_len, max_len, skip, dur = problem
    expected, _ = brute_force(S, b, min_len, max_len, skip, dur)
    if not np.isfinite(expected):
        return
    _check_result(align_dp(S, b, min_len, max_len, skip, duration_score=dur), S, b, min_len, max_len, skip,
                  expected, dur)


@settings(max_examples=800, **SETTINGS)
@given(problems(durations=False), st.booleans())
def test_max_marginal_top1_is_the_dp_answer(problem, with_duration):
    S, b, min_len, max_len, skip, _ = problem
    dur = np.linspace(0, -1, S.shape[1] + 1) if with_duration else None
    best = align_dp(S, b, min_len, max_len, skip, duration_score=dur)
    ranked = topk_segments(S, b, 3, min_len, max_len, skip, duration_score=dur)
    for k, seg in enumerate(best.segments):
        spans = [span for span, _ in ranked[k]]
        scores = [score for _, score in ranked[k]]
        assert len(set(spans)) == len(spans)
        if not spans:   # no segment fits this step (min_len > N): it can only be skipped
            assert seg is None
            continue
        assert scores[0] >= max(scores) - 1e-9
        if seg is None:
            assert all(s <= best.score + 1e-9 for s in scores)
            continue
        assert scores[0] == pytest.approx(best.score, abs=1e-9)
        # ties: the top span may differ from the DP's only at equal score (checked just above)
        for span, score in ranked[k]:
            assert score <= best.score + 1e-9
            assert min_len <= span[1] - span[0] + 1 <= (max_len or S.shape[1])


def test_max_marginals_equal_forced_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(60):
        K, N = int(rng.integers(1, 4)), int(rng.integers(3, 10))
        S, b = rng.normal(size=(K, N)), rng.normal(size=N) * 0.3
        ranked = topk_segments(S, b, 4, 1, 4, None)
        for k in range(K):
            for span, score in ranked[k]:
                S_forced = S.copy()
                S_forced[k] = -1e6
                S_forced[k, span[0]: span[1] + 1] = S[k, span[0]: span[1] + 1] + 1e7
                ref, segs = brute_force(S_forced, b, 1, 4)
                assert segs[k] == span
                forced = alignment_score(S, b, segs)
                assert score == pytest.approx(forced, abs=1e-6)


def test_hand_computed_alignment():
    S = np.array([[5.0, 5.0, 0.0, 0.0, 0.0, 0.0],
                  [0.0, 0.0, 0.0, 4.0, 4.0, 0.0]])
    b = np.full(6, 0.5)
    result = align_dp(S, b)
    assert result.segments == [(0, 1), (3, 4)]
    assert result.score == 10.0 + 8.0 + 0.5 + 0.5
    # steps must stay in order: with the rows swapped the best ordered answer is worse
    swapped = align_dp(S[::-1], b)
    assert swapped.segments == [(3, 4), (5, 5)] and swapped.score == 9.5
    assert align_dp(S, b, min_len=1, max_len=1).score == 5.0 + 4.0 + 4 * 0.5
    skipped = align_dp(np.array([[1.0, 1.0], [-10.0, -10.0]]), np.zeros(2), skip_penalty=3.0)
    assert skipped.segments == [(0, 1), None] and skipped.score == -1.0


def test_background_vector_modes():
    S = np.arange(12, dtype=float).reshape(3, 4)
    assert np.allclose(background_vector(S, "percentile", 50.0), 5.5)
    assert np.allclose(background_vector(S, "constant", 0.25), 0.25)
    assert np.allclose(background_vector(S, np.arange(4.0)), np.arange(4.0))
    with pytest.raises(VtkitError, match="background"):
        background_vector(S, np.arange(3.0))


def test_query_scores_standardise_each_row():
    rng = np.random.default_rng(3)
    S = rng.normal(size=(4, 30)) * np.array([[0.1], [1.0], [5.0], [0.0]]) + np.array([[2.0], [-1.0], [0.0], [0.7]])
    Z = query_scores(S, "zscore")
    reference = [(row - row.mean()) / row.std() if row.std() > 1e-12 else np.zeros_like(row) for row in S]
    assert np.allclose(Z, reference)
    assert np.allclose(Z[:3].mean(axis=1), 0.0) and np.allclose(Z[:3].std(axis=1), 1.0) and not Z[3].any()
    assert np.array_equal(query_scores(S, "none"), S)
    with pytest.raises(VtkitError, match="query_norm") as err:
        query_scores(S, "rank")
    assert "\n" not in str(err.value)


def test_substep_evidence_adds_the_best_child_row_at_each_chunk():
    rng = np.random.default_rng(4)
    Z, U = rng.normal(size=(3, 12)), rng.normal(size=(4, 12))
    children = [[0, 2], [], [1, 3]]
    out = with_substep_evidence(Z, U, children, 0.5, "none")
    for k, rows in enumerate(children):   # a loop reference: chunk by chunk
        for i in range(12):
            best = max((U[r, i] for r in rows), default=0.0)
            assert out[k, i] == pytest.approx(Z[k, i] + 0.5 * best)
    assert np.allclose(with_substep_evidence(Z, U, children, 0.5, "zscore"), query_scores(out, "zscore"))
    assert np.array_equal(with_substep_evidence(Z, U, children, 0.0, "none"), Z)
    with pytest.raises(VtkitError, match="children"):
        with_substep_evidence(Z, U, children[:2], 0.5)


def test_dropdtw_is_dp_with_negative_drop_cost():
    rng = np.random.default_rng(1)
    S, cost = rng.normal(size=(4, 20)), rng.random(20)
    assert align_dropdtw(S, cost).score == pytest.approx(align_dp(S, -cost).score)
    assert align_dropdtw(S, cost).segments == align_dp(S, -cost).segments


def test_unordered_takes_each_steps_best_window():
    S = np.array([[0.0, 0.0, 3.0, 3.0], [0.0, 2.0, 2.0, -5.0]])
    result = align_unordered(S, np.zeros(4))
    assert result.segments == [(2, 3), (1, 2)]   # overlapping and out of order: allowed here
    assert result.score == 10.0


def test_align_entry_point_attaches_alternatives():
    rng = np.random.default_rng(2)
    S = rng.normal(size=(5, 60))
    for aligner in ("dp", "dfs", "dropdtw", "unordered"):
        result = align(S, AlignSettings(aligner=aligner, top_k=5, max_len=15))
        assert result.aligner == aligner
        assert len(result.alternatives) == 5
        for k, seg in enumerate(result.segments):
            assert result.alternatives[k][0][0] == seg
            assert len(result.alternatives[k]) == 5
    dp, dfs = align(S, AlignSettings(aligner="dp", max_len=15)), align(S, AlignSettings(aligner="dfs", max_len=15))
    assert dp.score == pytest.approx(dfs.score)


def test_dfs_reaches_k8_n200_within_budget():
    rng = np.random.default_rng(0)
    S = rng.normal(size=(8, 200))
    result = align_dfs(S, np.zeros(200), node_budget=2_000_000)
    assert result.score == pytest.approx(align_dp(S, np.zeros(200)).score)


def test_dfs_budget_error_names_the_way_out():
    rng = np.random.default_rng(0)
    with pytest.raises(VtkitError, match="DFS node budget of 3 exceeded.*aligner='dp'"):
        align_dfs(rng.normal(size=(6, 60)), np.zeros(60), node_budget=3)


@pytest.mark.parametrize("S, kwargs, message", [
    (np.array([[1.0, np.nan]]), {}, "NaN"),
    (np.array([[1.0, np.inf]]), {}, "NaN/Inf"),
    (np.zeros((0, 5)), {}, "K = 0"),
    (np.zeros((2, 0)), {}, "N = 0"),
    (np.zeros(5), {}, "2-D"),
    (np.zeros((3, 5)), {"min_len": 2}, "infeasible"),
    (np.zeros((2, 5)), {"min_len": 3, "max_len": 2}, "exceeds max_len"),
    (np.zeros((2, 5)), {"min_len": [1, 1, 1]}, "one value per step"),
    (np.zeros((2, 5)), {"min_len": 0}, ">= 1"),
])
def test_bad_input_is_one_line_error(S, kwargs, message):
    with pytest.raises(VtkitError, match=message) as err:
        align(S, AlignSettings(**kwargs))
    assert "\n" not in str(err.value)


def test_bad_aligner_and_background():
    with pytest.raises(VtkitError, match="aligner"):
        align(np.zeros((1, 3)), AlignSettings(aligner="viterbi"))
    with pytest.raises(VtkitError, match="background"):
        align(np.zeros((1, 3)), AlignSettings(background="median"))


def test_per_step_bounds():
    S = np.ones((2, 10))
    result = align_dp(S, np.zeros(10), min_len=[2, 3], max_len=[2, 3])
    assert [e - s + 1 for s, e in result.segments] == [2, 3]


def test_topk_alternatives_are_suppressed_then_filled():
    from vtkit.timeline import iou

    rng = np.random.default_rng(4)
    S = rng.normal(size=(3, 80))
    for thr in (0.0, 0.3, 0.5):
        for alts in topk_segments(S, np.zeros(80), 5, 1, 20, iou_suppress=thr):
            assert len(alts) == 5
            scores = [s for _, s in alts]
            assert scores == sorted(scores, reverse=True)
            spans = [(s, e + 1) for (s, e), _ in alts]
            for i in range(5):
                for j in range(i):
                    assert iou(spans[i], spans[j]) <= thr
    # two chunks: one candidate per end chunk; suppression keeps one, filling adds the other
    alts = topk_segments(np.array([[1.0, 2.0]]), np.zeros(2), 5)[0]
    assert alts == [((0, 1), 3.0), ((0, 0), 1.0)]
