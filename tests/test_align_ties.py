"""Runs of identical adjacent rows: the aligned segments of a run are divided evenly (split_ties)."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vtkit.align import AlignSettings, align, align_dp, alignment_score, background_vector, check_segments, split_ties

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_identical_rows_share_their_span_evenly():
    # rows 1-3 are one text said three times; the DP's own tie-break gives the first all but min_len of the rest
    S = np.array([[3, 3, 0, 0, 0, 0, 0, 0, 0, 0],
                  [0, 0, 2, 2, 2, 2, 2, 2, 2, 0],
                  [0, 0, 2, 2, 2, 2, 2, 2, 2, 0],
                  [0, 0, 2, 2, 2, 2, 2, 2, 2, 0],
                  [0, 0, 0, 0, 0, 0, 0, 0, 0, 3]], dtype=float)
    b = np.zeros(10)
    dp = align_dp(S, b, min_len=1)
    assert sorted(e - s + 1 for s, e in dp.segments[1:4]) != [2, 2, 3]   # the search order picks an uneven split
    result = align(S, AlignSettings(background="constant", background_value=0.0, min_len=1))
    assert result.segments == [(0, 1), (2, 3), (4, 5), (6, 8), (9, 9)]
    assert alignment_score(S, b, result.segments) == dp.score


def test_runs_stop_at_a_gap_a_different_row_or_different_bounds():
    segs = [(0, 5), (6, 6), (8, 8), (9, 14), (15, 15)]
    S = np.ones((5, 16))
    S[3], S[4] = 3.0, 2.0
    assert split_ties(S, segs, min_len=1) == [(0, 2), (3, 6), (8, 8), (9, 14), (15, 15)]
    assert split_ties(S, segs, min_len=[1, 2, 1, 1, 1]) == segs
    assert split_ties(S, [(0, 5), None, (6, 6)], min_len=1) == [(0, 5), None, (6, 6)]


@st.composite
def tied_problems(draw):
    n = draw(st.integers(4, 14))
    distinct = draw(st.integers(1, 3))
    repeats = draw(st.lists(st.integers(1, 3), min_size=distinct, max_size=distinct))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = rng.normal(size=(distinct, n)).round(1)
    S = np.repeat(base, repeats, axis=0)
    min_len = draw(st.integers(1, 2))
    max_len = draw(st.one_of(st.none(), st.integers(max(min_len, 3), n)))
    if len(S) * min_len > n:
        S = S[: n // min_len]
    return S, min_len, max_len


@settings(max_examples=400, **SETTINGS)
@given(tied_problems(), st.sampled_from([50.0, 80.0]))
def test_even_split_keeps_the_optimum_and_the_bounds(problem, percentile):
    S, min_len, max_len = problem
    b = background_vector(S, "percentile", percentile)
    dp = align_dp(S, b, min_len, max_len)
    result = align(S, AlignSettings(background_value=percentile, min_len=min_len, max_len=max_len))
    check_segments(result.segments, S.shape[1], min_len, max_len)
    assert np.isclose(alignment_score(S, b, result.segments), dp.score)
    for k in range(len(S) - 1):   # touching identical rows: lengths differ by at most one, longer ones last
        a, c = result.segments[k], result.segments[k + 1]
        if np.array_equal(S[k], S[k + 1]) and c[0] == a[1] + 1:
            assert 0 <= (c[1] - c[0]) - (a[1] - a[0]) <= 1
    assert _runs(S, result.segments) == _runs(S, dp.segments)   # each run's union and every other segment are the DP's


def _runs(S, segments):
    """Segments with each run of touching identical rows merged into its union."""
    out = [list(segments[0])]
    for k in range(1, len(segments)):
        if np.array_equal(S[k - 1], S[k]) and segments[k][0] == out[-1][1] + 1:
            out[-1][1] = segments[k][1]
        else:
            out.append(list(segments[k]))
    return out


def test_alternatives_lead_with_the_even_split():
    S = np.vstack([np.r_[np.zeros(2), np.ones(8)]] * 2)
    result = align(S, AlignSettings(background="constant", background_value=0.5, min_len=1, top_k=3))
    assert result.segments == [(2, 5), (6, 9)]
    assert [a[0][0] for a in result.alternatives] == [(2, 5), (6, 9)]
