"""Align one video's steps to its chunks: one contiguous segment per step, in order.

Input is a similarity matrix ``S`` of shape ``[K steps, N chunks]`` (steps in annotated
order). Every aligner maximises the same objective::

    total = sum_k sum_{i in segment k} S[k, i]  +  sum_{i in background} b[i]  -  skip_penalty * skipped

Segments are inclusive chunk spans ``(first, last)``, in step order, non-overlapping, each
``min_len <= length <= max_len`` chunks; chunks left uncovered are background and score
``b`` (:func:`background_vector`). With prefix sums of the gains ``G = S - b`` the total is
``sum(b) + sum_k (P[k, last+1] - P[k, first])``, so each step only adds its gain.

Aligners
  ``dp``        exact dynamic programme, O(K*N) with hard length bounds (sliding-window
                maximum), O(K*N*max_len) with a per-length duration score.
  ``dfs``       the original depth-first search with branch-and-bound, bounded by the exact
                backward DP (so it expands about K nodes); exact; also takes limits the DP
                cannot (total length, largest gap, number of skips); stops at a node or time budget.
  ``dropdtw``   Drop-DTW-style: every chunk is matched to a step or dropped at a cost; with
                contiguous, non-empty, ordered steps this is ``dp`` with ``b = -drop_cost``.
  ``unordered`` baseline: each step takes its best window alone (order and overlap ignored).

Identical adjacent rows (one text said several times in a row) tie wherever the boundaries between
their touching segments fall; the ordered aligners divide such runs evenly (:func:`split_ties`).
:func:`topk_segments` ranks alternative segments per step by max-marginals (the best full
alignment forced through that segment); :func:`align` is the entry point, configured by one
:class:`AlignSettings`. This module turns a matrix into an alignment and nothing more: query
windows in seconds and substep modes live in :mod:`vtkit.predict`.
"""
from __future__ import annotations

import dataclasses
import heapq
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from vtkit.errors import VtkitError
from vtkit.timeline import iou

ALIGNERS = ("dp", "dfs", "dropdtw", "unordered")          # every aligner (the config's choices)
REPORT_ALIGNERS = ("dp", "dfs", "unordered", "dropdtw")   # the aligners a report scores, in report order
BACKGROUNDS = ("percentile", "constant")
QUERY_NORMS = ("zscore", "none")     # how a query's similarities are scaled before aligning (query_scores)
DEFAULT_QUERY_NORM = "zscore"        # chosen on selection folds of the GoalStep-scale benchmark (README)
DEFAULT_TOP_K = 5
DEFAULT_MIN_LEN = 2         # chunks (4 s of 2 s chunks): chosen on held-out training videos of the GoalStep-scale benchmark
SUBSTEP_MODES = ("joint", "hierarchical", "parent", "video")   # how substeps are aligned (vtkit.predict)
DEFAULT_SUBSTEP_MODE = "joint"                        # chosen on selection folds of that benchmark (README)
DEFAULT_SUBSTEP_PRIOR = 0.5                           # hierarchical substeps: bonus on their share of the parent (selection folds, README)
DEFAULT_SUBSTEP_EVIDENCE = 1.0                        # steps: weight of their substeps' best score at each chunk (selection folds, README)
DEFAULT_NODE_BUDGET = 500_000
DEFAULT_TIME_BUDGET = 1.0
NEG = -np.inf

Span = tuple[int, int]


class SearchBudgetExceeded(VtkitError):
    """The DFS stopped at its budget; :func:`align_dp` finds the same optimum."""


@dataclass
class Alignment:
    """Top-1 segment per step (inclusive chunk span, None = skipped) and its total score.

    ``alternatives[k]`` lists up to ``top_k`` ``(span, score)`` pairs for step ``k``, best
    first (filled by :func:`align`); ``alternatives[k][0][0] == segments[k]`` whenever the
    step has a segment.
    """

    segments: list[Span | None]
    score: float
    aligner: str
    alternatives: list[list[tuple[Span, float]]] | None = field(default=None, repr=False)
    nodes: int | None = None   # DFS only: search nodes visited
    seconds: float | None = None   # DFS only: search time

    def spans(self, k: int, top_k: int | None = None) -> list[Span]:
        """Ranked spans for step ``k`` (top-1 first), from the alternatives if present."""
        if self.alternatives is not None and self.alternatives[k]:
            spans = [span for span, _ in self.alternatives[k]]
        else:
            spans = [self.segments[k]] if self.segments[k] is not None else []
        return spans[:top_k] if top_k else spans


# --------------------------------------------------------------------------- inputs


def background_vector(S, background="percentile", value: float = 50.0) -> np.ndarray:
    """Per-chunk background score ``b`` [N] from the config's ``background``/``background_value``.

    ``"percentile"``: the ``value``-th percentile of all of ``S``; ``"constant"``: ``value``;
    an array-like ``background`` of length N is used as given.
    """
    S = _check_S(S)
    n = S.shape[1]
    if isinstance(background, str):
        if background == "percentile":
            if not 0 <= value <= 100:
                raise VtkitError(f"a percentile must be in [0, 100], got {value!r}", field="background_value")
            return np.full(n, float(np.percentile(S, value)))
        if background == "constant":
            if not np.isfinite(value):
                raise VtkitError(f"must be finite, got {value!r}", field="background_value")
            return np.full(n, float(value))
        raise VtkitError(f"must be 'percentile', 'constant' or a vector, got {background!r}", field="background")
    return _check_b(background, n)


def query_scores(S, norm: str = DEFAULT_QUERY_NORM) -> np.ndarray:
    """The scores an aligner is given for similarities ``S`` [queries, N].

    ``"zscore"``: each query's row standardised over its N chunks (a constant row becomes 0), so a
    query whose text sits closer to every chunk than another's does not take their chunks, and one
    background percentile suits every row; ``"none"``: ``S`` as it is.
    """
    if norm not in QUERY_NORMS:
        raise VtkitError(f"must be one of {', '.join(QUERY_NORMS)}, got {norm!r}", field="query_norm")
    S = _check_S(S)
    if norm == "none" or S.shape[1] == 0:
        return S
    centred = S - S.mean(axis=1, keepdims=True)
    spread = centred.std(axis=1, keepdims=True)
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 1e-12)


def with_substep_evidence(step_scores, substep_scores, children, weight: float,
                          norm: str = DEFAULT_QUERY_NORM) -> np.ndarray:
    """Step scores that also count what their substeps show: each step's row plus ``weight`` times, at
    each chunk, the largest row among its substeps (``children[k]``: row indices into ``substep_scores``),
    then scaled again by :func:`query_scores` with ``norm``. A step without substeps keeps its own row."""
    Z, U = _check_S(step_scores), np.asarray(substep_scores, dtype=np.float64)
    if len(children) != len(Z):
        raise VtkitError(f"{len(children)} lists of substeps for {len(Z)} steps", field="children")
    out = Z.copy()
    for k, rows in enumerate(children):
        if len(rows):
            out[k] += weight * U[list(rows)].max(axis=0)
    return query_scores(out, norm)


def _check_S(S) -> np.ndarray:
    try:
        S = np.asarray(S, dtype=np.float64)
    except (TypeError, ValueError):
        raise VtkitError("similarity matrix is not numeric", field="S") from None
    if S.ndim != 2:
        raise VtkitError(f"similarity matrix must be 2-D [steps, chunks], got shape {S.shape}", field="S")
    if S.shape[0] == 0:
        raise VtkitError("no steps to align (K = 0)", field="S")
    if S.shape[1] == 0:
        raise VtkitError("no chunks to align to (N = 0)", field="S")
    if not np.isfinite(S).all():
        raise VtkitError(f"similarity matrix has {int((~np.isfinite(S)).sum())} NaN/Inf values", field="S")
    return S


def _check_b(b, n: int) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64)
    if b.ndim == 0:
        b = np.full(n, float(b))
    if b.shape != (n,):
        raise VtkitError(f"background must be a scalar or a vector of {n} chunks, got shape {b.shape}", field="b")
    if not np.isfinite(b).all():
        raise VtkitError("background has NaN/Inf values", field="b")
    return b


def length_bounds(min_len, max_len, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)``: each of ``k`` steps' least and most chunks over ``n`` chunks (scalars broadcast; checked)."""
    lo = np.broadcast_to(np.asarray(1 if min_len is None else min_len), (k,)) if np.ndim(min_len) == 0 \
        else np.asarray(min_len)
    hi_raw = n if max_len is None else max_len
    hi = np.broadcast_to(np.asarray(hi_raw), (k,)) if np.ndim(hi_raw) == 0 else np.asarray(hi_raw)
    for name, arr in (("min_len", lo), ("max_len", hi)):
        if arr.shape != (k,):
            raise VtkitError(f"must be a scalar or one value per step ({k}), got shape {arr.shape}", field=name)
        if not np.all(np.equal(np.mod(arr, 1), 0)) or not np.all(arr >= 1):
            raise VtkitError(f"must be whole numbers >= 1, got {arr.tolist()[:5]}", field=name)
    lo, hi = lo.astype(np.int64), np.minimum(hi.astype(np.int64), n)
    if max_len is not None:
        bad = np.flatnonzero(lo > np.broadcast_to(max_len, (k,)))
        if bad.size:
            i = int(bad[0])
            raise VtkitError(f"min_len ({lo[i]}) exceeds max_len ({np.broadcast_to(max_len, (k,))[i]}) "
                             f"for step {i}", field="max_len")
    return lo, hi


def _prepare(S, b, min_len, max_len, skip_penalty, scratch: bool = False):
    S = _check_S(S)
    k, n = S.shape
    b = _check_b(b, n)
    lo, hi = length_bounds(min_len, max_len, k, n)
    if skip_penalty is not None:
        if not np.isfinite(skip_penalty):
            raise VtkitError(f"must be a finite number or None, got {skip_penalty!r}", field="skip_penalty")
        skip_penalty = float(skip_penalty)
    elif lo.sum() > n:
        raise VtkitError(f"infeasible: {k} steps need at least {int(lo.sum())} chunks (min_len) but the video has {n};"
                         " lower min_len or allow skipping (skip_penalty)", field="min_len")
    P = _prefix_gains(S, b, _scratch("P", (k, n + 1)) if scratch else None)
    return S, b, lo, hi, skip_penalty, P


_SCRATCH = threading.local()


def _scratch(name: str, shape: tuple[int, int]) -> np.ndarray:
    """A reusable per-thread float64 work array: saves page-faulting fresh K*N tables on every call.

    Only for tables that do not outlive the call (results never reference them).
    """
    need = shape[0] * shape[1]
    buf = getattr(_SCRATCH, name, None)
    if buf is None or buf.size < need:
        buf = np.empty(need)
        setattr(_SCRATCH, name, buf)
    return buf[:need].reshape(shape)


def _prefix_gains(S: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``P[k, j] = sum_{i < j} (S[k, i] - b[i])``, shape [K, N + 1]."""
    P = np.empty((S.shape[0], S.shape[1] + 1)) if out is None else out
    P[:, 0] = 0.0
    np.subtract(S, b, out=P[:, 1:])
    np.add.accumulate(P, axis=1, out=P)   # in place on one contiguous array: the fast path
    return P


def _duration_table(duration_score, n: int) -> np.ndarray | None:
    """Score per length ``L = 0..n`` (index 0 unused); lengths an array does not reach are forbidden."""
    if duration_score is None:
        return None
    lengths = np.arange(n + 1)
    if callable(duration_score):
        d = np.asarray(duration_score(lengths[1:]), dtype=np.float64)
        if d.shape != (n,):
            raise VtkitError(f"duration_score(lengths) must return {n} values, got shape {d.shape}",
                             field="duration_score")
        d = np.concatenate([[NEG], d])
    else:
        raw = np.asarray(duration_score, dtype=np.float64)
        if raw.ndim != 1:
            raise VtkitError(f"must be a 1-D array over lengths, got shape {raw.shape}", field="duration_score")
        d = np.full(n + 1, NEG)
        m = min(n + 1, raw.size)
        d[:m] = raw[:m]
        d[0] = NEG
    if np.isnan(d).any() or np.isposinf(d).any():
        raise VtkitError("duration score has NaN or +Inf values", field="duration_score")
    return d


# --------------------------------------------------------------------------- window maxima


def _window_max(X: np.ndarray, lo: int, hi: int, d: np.ndarray | None = None, want_arg: bool = False):
    """``out[j] = max over L in [lo, hi], L <= j of X[j - L] (+ d[L])``, optional argmax as L.

    Hard bounds use the van Herk / Gil-Werman block trick (O(n), vectorised); ``hi >= n``
    is a shifted prefix maximum; a duration table ``d`` needs all ``hi - lo + 1`` lengths.
    """
    n = X.size
    hi = min(hi, n - 1)
    out = np.full(n, NEG)
    arg = np.zeros(n, dtype=np.int64) if want_arg else None
    if lo > hi:
        return out, arg
    if d is not None:
        w = hi - lo + 1
        padded = np.concatenate([np.full(hi, NEG), X])
        view = np.lib.stride_tricks.sliding_window_view(padded, w)[:n]   # row j: X[j-hi .. j-lo]
        vals = view + d[lo: hi + 1][::-1]
        best = vals.argmax(axis=1)
        out = vals[np.arange(n), best]
        if want_arg:
            arg = hi - best
        return out, arg
    if hi >= n - 1:  # unbounded: prefix maximum of X[0 .. j-lo]
        pm = np.fmax.accumulate(X[: n - lo])
        out[lo:] = pm
        if want_arg:
            idx = np.maximum.accumulate(np.where(X[: n - lo] == pm, np.arange(n - lo), 0))
            arg[lo:] = np.arange(lo, n) - idx
        return out, arg
    w = hi - lo + 1
    m = -(-(n + hi) // w) * w
    padded = np.full(m, NEG)
    padded[hi: hi + n] = X                          # padded[j + hi - L] = X[j - L]
    blocks = padded.reshape(-1, w)
    pre = np.fmax.accumulate(blocks, axis=1).ravel()      # no NaN here: fmax is the faster maximum
    suf = np.fmax.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    left, right = suf[:n], pre[w - 1: w - 1 + n]    # window padded[j .. j + w - 1]
    np.maximum(left, right, out=out)
    if want_arg:
        cols = np.arange(w)
        pre_i = np.maximum.accumulate(np.where(blocks == pre.reshape(-1, w), cols, 0), axis=1)
        suf_i = np.minimum.accumulate(np.where(blocks == suf.reshape(-1, w), cols, w - 1)[:, ::-1], axis=1)[:, ::-1]
        base = (np.arange(blocks.shape[0]) * w)[:, None]
        pre_i, suf_i = (pre_i + base).ravel(), (suf_i + base).ravel()
        pos = np.where(left >= right, suf_i[:n], pre_i[w - 1: w - 1 + n])
        arg = np.arange(n) + hi - pos                 # padded index pos holds X[pos - hi]; L = j - (pos - hi)
    return out, arg


# --------------------------------------------------------------------------- exact DP


def _forward(P, lo, hi, skip_penalty, d, scratch: bool = False):
    """Rows ``F[k, j]``: best gain of steps ``0..k-1`` within chunks ``[0, j)`` (non-decreasing in j)."""
    k_steps, n1 = P.shape
    F = _scratch("F", (k_steps + 1, n1)) if scratch else np.empty((k_steps + 1, n1))
    F[0] = 0.0
    A = np.empty(n1)
    running_max = np.fmax.accumulate      # inputs hold no NaN: fmax skips maximum's NaN checks, ~25 % faster
    for k in range(k_steps):
        np.subtract(F[k], P[k], out=A)
        lo_k, hi_k = int(lo[k]), int(hi[k])
        E = F[k + 1]                      # first E[j]: best with step k ending exactly at chunk j - 1
        if d is None and hi_k >= n1 - 1:  # unbounded: prefix maximum, the common case, kept lean
            E[:lo_k] = NEG
            running_max(A[: n1 - lo_k], out=E[lo_k:])
        else:
            E[:], _ = _window_max(A, lo_k, hi_k, d)
        E += P[k]
        running_max(E, out=E)
        if skip_penalty is not None:
            np.maximum(E, F[k] - skip_penalty, out=E)
    return F


def _best_start(F_k, P_k, j: int, lo: int, hi: int, d) -> tuple[int, float]:
    """Best segment length for a step ending at chunk ``j - 1`` (rows F[k], P[k]) and the E[k, j] it gives."""
    L_hi = min(hi, j)
    if L_hi < lo:
        return 0, NEG
    if d is None:   # contiguous slice over starts j-L_hi .. j-lo
        vals = F_k[j - L_hi: j - lo + 1] - P_k[j - L_hi: j - lo + 1]
        i = int(vals.argmax())
        return L_hi - i, vals[i] + P_k[j]
    lengths = np.arange(L_hi, lo - 1, -1)
    vals = (F_k[j - lengths] - P_k[j - lengths]) + d[lengths]
    i = int(vals.argmax())
    return int(lengths[i]), vals[i] + P_k[j]


def _backtrack(F, P, lo, hi, d) -> list[Span | None]:
    """Recover segments from the F rows alone (each step: one binary search and one window argmax)."""
    k_steps, n1 = P.shape
    segments: list[Span | None] = [None] * k_steps
    lo, hi = lo.tolist(), hi.tolist()     # Python ints: numpy scalars make each step several times slower
    j = n1 - 1
    for k in range(k_steps - 1, -1, -1):
        row = F[k + 1]
        val = row[j]
        # F[k+1] is non-decreasing: the first index reaching val is where a segment ended (or a skip)
        j_end = int(row[: j + 1].searchsorted(val))
        L, e_val = _best_start(F[k], P[k], j_end, lo[k], hi[k], d)
        if e_val != val:        # only the skip reaches this value
            continue
        segments[k] = (j_end - L, j_end - 1)
        j = j_end - L
    return segments


def align_dp(S, b, min_len=1, max_len=None, skip_penalty=None, duration_score=None) -> Alignment:
    """Exact optimum of the objective by dynamic programming over (step, chunk).

    ``duration_score``: score per segment length added per step, a callable on an array of
    lengths ``1..N`` or an array indexed by length (lengths beyond it are forbidden).
    """
    S, b, lo, hi, skip_penalty, P = _prepare(S, b, min_len, max_len, skip_penalty, scratch=True)
    d = _duration_table(duration_score, S.shape[1])
    F = _forward(P, lo, hi, skip_penalty, d, scratch=True)
    if not np.isfinite(F[-1, -1]):
        raise VtkitError("no alignment satisfies the length bounds and duration score", field="S")
    segments = _backtrack(F, P, lo, hi, d)
    return Alignment(segments, float(b.sum() + F[-1, -1]), "dp")


def alignment_score(S, b, segments: Sequence[Span | None], skip_penalty=None, duration_score=None) -> float:
    """The objective of a given alignment (no validity check: see :func:`check_segments`)."""
    S = np.asarray(S, dtype=np.float64)
    b = _check_b(b, S.shape[1])
    total = float(b.sum())
    d = _duration_table(duration_score, S.shape[1])
    for k, seg in enumerate(segments):
        if seg is None:
            total -= skip_penalty if skip_penalty is not None else np.inf
            continue
        s, e = seg
        total += float((S[k, s: e + 1] - b[s: e + 1]).sum())
        if d is not None:
            total += float(d[e - s + 1])
    return total


def check_segments(segments: Sequence[Span | None], n: int, min_len=1, max_len=None, allow_skip=False) -> None:
    """Raise VtkitError unless the segments are in order, disjoint, in bounds and of valid length."""
    k = len(segments)
    lo, hi = length_bounds(min_len, max_len, k, n)
    prev_end = -1
    for i, seg in enumerate(segments):
        if seg is None:
            if not allow_skip:
                raise VtkitError(f"step {i} has no segment", field="segments")
            continue
        s, e = seg
        if not (0 <= s <= e < n):
            raise VtkitError(f"step {i} span {seg} is outside chunks 0..{n - 1}", field="segments")
        if s <= prev_end:
            raise VtkitError(f"step {i} span {seg} overlaps or precedes the previous step", field="segments")
        if not lo[i] <= e - s + 1 <= hi[i]:
            raise VtkitError(f"step {i} span {seg} has length {e - s + 1} outside [{lo[i]}, {hi[i]}]",
                             field="segments")
        prev_end = e


# --------------------------------------------------------------------------- DFS (original method)


def align_dfs(S, b, min_len=1, max_len=None, skip_penalty=None, node_budget: int = DEFAULT_NODE_BUDGET, *,
              time_budget: float = DEFAULT_TIME_BUDGET, max_total=None, max_gap=None, max_skips=None) -> Alignment:
    """Depth-first branch-and-bound over each step's segment in order; exact.

    A partial alignment's bound is its gain plus the best completion of the remaining steps,
    read from a backward DP over (step, first free chunk) with the same lengths, skips and
    ``max_gap`` (free chunks allowed between consecutive placed steps). That bound is exact, so
    the search walks down the optimal path (K nodes) and stops. Limits outside the DP's state
    are searched: ``max_total`` (sum of segment lengths, chunks) and ``max_skips`` (skipped
    steps, with ``skip_penalty``); for them the bound is the backward DP without them,
    tightened by Lagrange multipliers (:func:`_dfs_multipliers`), and the result is still the
    exact optimum. Children are tried best bound first (ties: earlier end, then earlier start;
    placing before skipping); every child visited counts as one node. Past ``node_budget``
    nodes or ``time_budget`` seconds it raises SearchBudgetExceeded (``aligner='dp'`` solves
    the problem without the extra limits).
    """
    started = time.perf_counter()
    S, b, lo, hi, skip_penalty, P = _prepare(S, b, min_len, max_len, skip_penalty)
    k_steps, n = S.shape
    if k_steps > sys.getrecursionlimit() - 100:     # one Python frame per step
        raise SearchBudgetExceeded(f"DFS depth of {k_steps} steps exceeds the recursion limit (K={k_steps}, N={n}); "
                                   "use aligner='dp'", field="aligner")
    if not (isinstance(time_budget, (int, float)) and time_budget > 0):
        raise VtkitError(f"must be a positive number of seconds, got {time_budget!r}", field="dfs_time_budget")
    max_total, max_gap = _dfs_limit(max_total, "dfs_max_total"), _dfs_limit(max_gap, "dfs_max_gap")
    max_skips = None if skip_penalty is None else _dfs_limit(max_skips, "dfs_max_skips")
    must_place = int(np.sort(lo)[: max(0, k_steps - (max_skips or 0))].sum()) \
        if max_skips is not None or skip_penalty is None else 0
    if max_total is not None and must_place > max_total:
        raise VtkitError(f"infeasible: the steps need at least {must_place} chunks (min_len) but max_total is "
                         f"{max_total}", field="dfs_max_total")
    lam, mu = _dfs_multipliers(S, b, lo, hi, skip_penalty, max_total, max_skips)
    V = _suffix_gains(S, b + lam, lo, hi, None if skip_penalty is None else skip_penalty + mu, max_gap)
    if not np.isfinite(V[0, 0]):
        raise VtkitError("no alignment satisfies the length bounds", field="S")
    search = _DfsSearch(P, _prefix_gains(S, b + lam) if lam else P, V, lo, hi, skip_penalty, (lam, mu),
                        (max_total, max_gap, max_skips), (node_budget, started + time_budget, time_budget))
    search.visit(0, 0, 0.0, 0, 0)
    if search.best_segments is None:
        raise VtkitError(f"no alignment satisfies max_total={max_total}, max_gap={max_gap}, max_skips={max_skips} "
                         "with the length bounds", field="S")
    return Alignment(search.best_segments, float(b.sum() + search.best), "dfs", nodes=search.nodes,
                     seconds=time.perf_counter() - started)


def _dfs_limit(value, name: str) -> int | None:
    """A whole number >= 0 or None (no limit)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not float(value).is_integer() or value < 0:
        raise VtkitError(f"must be a whole number >= 0 or None, got {value!r}", field=name)
    return int(value)


def _dfs_multipliers(S, b, lo, hi, skip_penalty, max_total, max_skips) -> tuple[float, float]:
    """Lagrange multipliers that tighten the DFS bound for ``max_total`` and ``max_skips``.

    For ``lam, mu >= 0`` the best completion with every covered chunk costing ``lam`` more and
    every skip ``mu`` more, plus ``lam`` times the length budget left and ``mu`` times the skips
    left, bounds every completion that keeps both limits. Each multiplier is set by bisection
    on the sign of its limit's slack in the DP optimum (the dual optimum of the root bound).
    """
    lam = mu = 0.0
    if max_total is not None:
        def length_slack(x):
            return max_total - sum(e - s + 1 for s, e in filter(None, _dp_segments(S, b + x, lo, hi, skip_penalty)))
        lam = _bisect_multiplier(length_slack, float(max(np.max(S - b), 0.0)) + 1.0)
    if max_skips is not None:
        top = float(np.abs(S - b).sum(axis=1).max()) + 1.0     # a skip this dear is never worth it
        mu = _bisect_multiplier(lambda x: max_skips - _dp_segments(S, b + lam, lo, hi, skip_penalty + x).count(None),
                                top)
    return lam, mu


def _dp_segments(S, b, lo, hi, skip_penalty) -> list[Span | None]:
    """The DP optimum's segments (inputs already checked)."""
    P = _prefix_gains(S, b, _scratch("P", (S.shape[0], S.shape[1] + 1)))
    return _backtrack(_forward(P, lo, hi, skip_penalty, None, scratch=True), P, lo, hi, None)


def _bisect_multiplier(slack, top: float, steps: int = 16) -> float:
    """Smallest multiplier in ``[0, top]`` (to ``top / 2**steps``) whose optimum keeps the limit (slack >= 0)."""
    if slack(0.0) >= 0:
        return 0.0
    low, high = 0.0, top
    for _ in range(steps):
        mid = 0.5 * (low + high)
        low, high = (low, mid) if slack(mid) >= 0 else (mid, high)
    return high


def _suffix_gains(S, b, lo, hi, skip_penalty, max_gap=None) -> np.ndarray:
    """``V[k, pos]``: best gain of steps ``k..K-1`` within chunks ``[pos, N)``, shape [K + 1, N + 1].

    ``V[K] = 0``; -inf where the steps cannot fit. Without ``max_gap`` it is the forward DP on
    the reversed problem, read backwards. With it, ``pos`` is also the end of the last placed
    step, so the next placed step starts in ``[pos, pos + max_gap]`` (anywhere from ``pos = 0``,
    where no step is placed yet): the gap limit fits the same (step, chunk) state.
    """
    if max_gap is None:
        Pr = _prefix_gains(S[::-1, ::-1], b[::-1])
        return _forward(Pr, lo[::-1], hi[::-1], skip_penalty, None)[::-1, ::-1]
    P = _prefix_gains(S, b)
    k_steps, n1 = P.shape
    V = np.empty((k_steps + 1, n1))
    V[k_steps] = 0.0
    for k in range(k_steps - 1, -1, -1):
        # E[s]: best with step k starting exactly at chunk s, as window maxima over the reversed rows
        ends, _ = _window_max((P[k] + V[k + 1])[::-1], int(lo[k]), int(hi[k]))
        E = ends[::-1] - P[k]
        starts, _ = _window_max(E[::-1], 0, max_gap)
        V[k] = starts[::-1]
        V[k, 0] = E.max()
        if skip_penalty is not None:
            np.maximum(V[k], V[k + 1] - skip_penalty, out=V[k])
    return V


class _Children:
    """The segments of one step starting in ``[pos, s_hi]``, lazily in descending bound order.

    Segment ``[s, j)`` (chunks ``s..j-1``, ``lo <= j - s <= hi``) has bound ``W[j] - P[s]``,
    where ``W = P + V[k + 1]`` (its gain plus the best completion after it). Ends are ranked
    by their best start (one window maximum over all ends); an end's other starts are sorted
    only when the search comes back for them, and ends whose bound cannot beat the best
    found so far are never looked at. Ties go to the earlier end, then the earlier start.
    """

    def __init__(self, P_k: np.ndarray, W_k: np.ndarray, pos: int, s_hi: int, lo: int, hi: int):
        self.P_k, self.W_k, self.pos, self.s_hi, self.lo, self.hi = P_k, W_k, pos, s_hi, lo, hi
        j_hi = min(s_hi + hi, P_k.size - 1)
        X = np.full(j_hi - pos + 1, NEG)
        np.negative(P_k[pos: s_hi + 1], out=X[: s_hi - pos + 1])
        best, _ = _window_max(X, lo, hi)
        self.U = best + W_k[pos: j_hi + 1]          # U[t]: best bound of a segment ending before chunk pos + t
        t = int(np.argmax(self.U))
        self.first = None
        if self.U[t] != NEG:
            s_lo, s_hi = self._start_range(t)
            self.first = (float(self.U[t]), s_lo + int(np.argmin(P_k[s_lo: s_hi + 1])), pos + t)
        self.done_t = -1                            # the end of the first child, once it is done
        self.ends = None                            # ends still to rank, once the first child is done

    def _start_range(self, t: int) -> tuple[int, int]:
        """First and last start of segments ending before chunk ``pos + t``."""
        j = self.pos + t
        return max(self.pos, j - self.hi), min(self.s_hi, j - self.lo)

    def _starts(self, t: int) -> np.ndarray:
        """Starts of segments ending before chunk ``pos + t``, best (lowest prefix gain) first."""
        s_lo, s_hi = self._start_range(t)
        return s_lo + np.argsort(self.P_k[s_lo: s_hi + 1], kind="stable")

    def peek(self, floor: float):
        """The next ``(bound, s, j)`` with bound above ``floor``, or None (floor never decreases)."""
        if self.first is not None:
            return self.first if self.first[0] > floor else None
        if self.ends is None:
            ends = np.flatnonzero(self.U > floor)
            self.ends = ends[np.argsort(-self.U[ends], kind="stable")].tolist()[::-1]   # popped from the end
            self.heap, self.orders = [], {}
        heap = self.heap
        while self.ends:
            t = self.ends[-1]
            u = float(self.U[t])
            if heap and (-heap[0][0], -heap[0][1]) > (u, -t):
                break
            self.ends.pop()
            order = self._starts(t)
            first = 1 if t == self.done_t else 0
            if first < order.size:
                self.orders[t] = order
                s = int(order[first])
                heapq.heappush(heap, (-(float(self.W_k[self.pos + t]) - float(self.P_k[s])), t, first))
        if not heap or -heap[0][0] <= floor:
            return None
        neg, t, i = heap[0]
        return -neg, int(self.orders[t][i]), self.pos + t

    def pop(self) -> None:
        """Drop the child :meth:`peek` returned."""
        if self.first is not None:
            self.done_t = self.first[2] - self.pos
            self.first = None
            return
        _, t, i = heapq.heappop(self.heap)
        order = self.orders[t]
        if i + 1 < order.size:
            s = int(order[i + 1])
            heapq.heappush(self.heap, (-(float(self.W_k[self.pos + t]) - float(self.P_k[s])), t, i + 1))


class _DfsSearch:
    """The state of one :func:`align_dfs` search (best so far, node count, budgets)."""

    def __init__(self, P, P_bound, V, lo, hi, skip_penalty, multipliers, limits, budgets):
        self.P, self.P_bound, self.V, self.lo, self.hi = P, P_bound, V, lo.tolist(), hi.tolist()
        self.W = P_bound + V[1:]      # W[k, j] - P_bound[k, s]: bound of segment [s, j) for step k
        self.k_steps, self.n = P.shape[0], P.shape[1] - 1
        self.lam, self.mu = multipliers
        self.skip_penalty = skip_penalty
        self.skip_cost = None if skip_penalty is None else skip_penalty + self.mu
        self.max_total, self.max_gap, self.max_skips = limits
        self.node_budget, self.deadline, self.time_budget = budgets
        # gains differ by rounding only below this; a child must beat the best by more to be searched
        scale = 1.0 + float(np.abs(P).max()) + float(np.abs(P_bound).max()) + float(np.abs(V[0, 0]))
        self.tol = 1e-12 * (self.k_steps + 1) * scale
        # least_len[k][c]: total min_len of the c shortest steps among k..K-1 (what must still be placed)
        self.least_len = [np.concatenate([[0], np.cumsum(np.sort(lo[k:]))]).tolist() for k in range(self.k_steps + 1)]
        self.best, self.best_segments, self.nodes = NEG, None, 0
        self.segments: list[Span | None] = []
        self.reached: dict[tuple[int, int], list[tuple[float, int, int]]] = {}

    def must_place(self, k: int, skips: int) -> int:
        """Total min_len of the steps among ``k..`` that cannot be skipped any more."""
        rest = self.k_steps - k
        if self.skip_penalty is None:
            return self.least_len[k][rest]
        if self.max_skips is None:
            return 0
        return self.least_len[k][max(0, rest - (self.max_skips - skips))]

    def count_node(self) -> None:
        self.nodes += 1
        if self.nodes > self.node_budget:
            raise SearchBudgetExceeded(f"DFS node budget of {self.node_budget} exceeded (K={self.k_steps}, "
                                       f"N={self.n}); use aligner='dp'", field="dfs_node_budget")
        if time.perf_counter() > self.deadline:
            raise SearchBudgetExceeded(f"DFS time budget of {self.time_budget:g} s exceeded after {self.nodes} nodes "
                                       f"(K={self.k_steps}, N={self.n}); use aligner='dp'", field="dfs_time_budget")

    def visit(self, k: int, pos: int, acc: float, used: int, skips: int) -> None:
        """Search every completion of steps ``k..`` from chunk ``pos`` with gain ``acc`` so far."""
        if k == self.k_steps:
            if acc > self.best:
                self.best, self.best_segments = acc, list(self.segments)
            return
        need = self.must_place(k, skips)
        if need > self.n - pos or (self.max_total is not None and used + need > self.max_total):
            return
        # dominance: an earlier visit here with at least this gain and no more length or skips used
        # has been searched completely
        seen = self.reached.setdefault((k, pos), [])
        if any(a >= acc and u <= used and m <= skips for a, u, m in seen):
            return
        seen.append((acc, used, skips))
        lo_k, hi_k = self.lo[k], self.hi[k]
        s_hi = self.n - lo_k
        if self.max_gap is not None and pos > 0:
            s_hi = min(s_hi, pos + self.max_gap)
        if self.max_total is not None:
            hi_k = min(hi_k, self.max_total - used - self.must_place(k + 1, skips))
        children = _Children(self.P_bound[k], self.W[k], pos, s_hi, lo_k, hi_k) if s_hi >= pos and hi_k >= lo_k \
            else None
        # bounds are relative to base: gain so far plus the multipliers' share of the limits left
        base = acc
        if self.max_total is not None:
            base += self.lam * (self.max_total - used)
        if self.max_skips is not None:
            base += self.mu * (self.max_skips - skips)
        can_skip = self.skip_penalty is not None and (self.max_skips is None or skips < self.max_skips)
        skip_bound = base - self.skip_cost + float(self.V[k + 1, pos]) if can_skip else NEG
        P_k = self.P[k]
        while True:
            floor = self.best + self.tol
            nxt = children.peek(floor - base) if children is not None else None
            if can_skip and skip_bound > (base + nxt[0] if nxt is not None else NEG):
                can_skip = False
                if skip_bound > floor:
                    self.count_node()
                    self.segments.append(None)
                    self.visit(k + 1, pos, acc - self.skip_penalty, used, skips + (self.max_skips is not None))
                    self.segments.pop()
                continue
            if nxt is None:
                return
            children.pop()
            _, s, j = nxt
            self.count_node()
            self.segments.append((s, j - 1))
            length = j - s if self.max_total is not None else 0
            self.visit(k + 1, j, acc + (float(P_k[j]) - float(P_k[s])), used + length, skips)
            self.segments.pop()


# --------------------------------------------------------------------------- Drop-DTW and baseline


def align_dropdtw(S, drop_costs=None, min_len=1, max_len=None, skip_penalty=None, percentile: float = 50.0):
    """Drop-DTW-style alignment: every chunk is matched to one step or dropped at ``drop_costs[i]``.

    Matches are monotone and each step's matches are one contiguous, non-empty run (unless
    the step is skipped). The objective, sum of matched similarities minus the costs of
    dropped chunks, is exactly :func:`align_dp` with background ``b = -drop_costs``. Unlike
    the original Drop-DTW, drops inside a step's run are not allowed (steps stay contiguous).
    Default drop cost: minus the ``percentile``-th percentile of ``S``.
    """
    S = _check_S(S)
    if drop_costs is None:
        b = background_vector(S, "percentile", percentile)
    else:
        b = -_check_b(drop_costs, S.shape[1])
    result = align_dp(S, b, min_len, max_len, skip_penalty)
    result.aligner = "dropdtw"
    return result


def align_unordered(S, b, min_len=1, max_len=None) -> Alignment:
    """Baseline: each step independently takes its highest-gain window (order and overlap ignored).

    ``score`` is ``sum(b)`` plus the steps' gains, an upper bound of the ordered optimum, not
    an achievable total when windows overlap.
    """
    S, b, lo, hi, _, P = _prepare(S, b, min_len, max_len, skip_penalty=0.0)
    segments, total = [], float(b.sum())
    for k in range(S.shape[0]):
        T, L = _window_max(-P[k], int(lo[k]), int(hi[k]), want_arg=True)
        vals = T + P[k]
        j = int(np.argmax(vals))
        if not np.isfinite(vals[j]):
            raise VtkitError(f"step {k}: no window satisfies min_len={lo[k]}", field="min_len")
        segments.append((j - int(L[j]), j - 1))
        total += float(vals[j])
    return Alignment(segments, total, "unordered")


# --------------------------------------------------------------------------- top-k by max-marginals


def _nms(starts, scores, k: int, iou_suppress: float) -> list[tuple[Span, float]]:
    """Greedy best-first choice of spans whose chunk IoU with every chosen one is <= ``iou_suppress``.

    Candidate ``j`` is the span ``starts[j] .. j - 1`` (one per end chunk), so only a short
    slice of candidates can overlap a chosen span. Ties go to the earlier end. If fewer than
    ``k`` survive, the list is filled with the next best distinct spans.
    """
    live = scores.copy()                  # no NaN here: inputs are finite, infeasible is -inf
    windows = np.stack([starts, np.arange(starts.size)], axis=1)     # [start, end + 1) in chunks
    chosen: list[int] = []
    while len(chosen) < k:
        i = int(np.argmax(live))
        if live[i] == NEG:
            break
        chosen.append(i)
        s_i = int(starts[i])
        # a candidate ending at j overlaps only if j > s_i, and its hull j - s_i must stay below len / iou
        stop = live.size if iou_suppress <= 0 else min(live.size, s_i + int((i - s_i) / iou_suppress) + 2)
        near = live[s_i + 1: stop]
        near[iou(windows[i], windows[s_i + 1: stop]) > iou_suppress] = NEG
        live[i] = NEG
    if len(chosen) < k:
        taken = set(chosen)
        for i in np.argsort(-scores, kind="stable"):
            if len(chosen) == k or scores[i] == NEG:
                break
            if int(i) not in taken:
                chosen.append(int(i))
    return [((int(starts[i]), int(i) - 1), float(scores[i])) for i in chosen]


def topk_segments(S, b, k: int = 5, min_len=1, max_len=None, skip_penalty=None, iou_suppress: float = 0.5,
                  duration_score=None) -> list[list[tuple[Span, float]]]:
    """Per step, the ``k`` best distinct segments by max-marginal score, best first.

    A segment's score is the best total of a full alignment that puts this step exactly
    there (forward DP up to its start + its gain + backward DP after its end). Candidates
    per step are, for every end chunk, its best start (N candidates, found with the same
    window maxima as the DP): the optimum is among them, so top-1 is the DP's segment (or
    one of equal score), at O(K*N) cost for any ``max_len``. A candidate is suppressed when
    its chunk IoU with a chosen one exceeds ``iou_suppress``; if fewer than ``k`` remain the
    list is filled with the best others. A step the optimum skips still gets its ranking.
    """
    S, b, lo, hi, skip_penalty, P = _prepare(S, b, min_len, max_len, skip_penalty)
    if k < 1:
        raise VtkitError(f"must be >= 1, got {k!r}", field="top_k")
    d = _duration_table(duration_score, S.shape[1])
    k_steps, n = S.shape
    F = _forward(P, lo, hi, skip_penalty, d)
    Pr = _prefix_gains(S[::-1, ::-1], b[::-1])
    Fr = _forward(Pr, lo[::-1], hi[::-1], skip_penalty, d)
    B = Fr[::-1, ::-1]          # B[k, j]: best gain of steps k..K-1 within chunks [j, N)
    base = float(b.sum())
    j_all = np.arange(n + 1)
    out = []
    for step in range(k_steps):
        best, L = _window_max(F[step] - P[step], int(lo[step]), int(hi[step]), d, want_arg=True)
        scores = best + P[step] + B[step + 1] + base       # step ends at chunk j - 1
        out.append(_nms(j_all - L, scores, k, iou_suppress))
    return out


def _own_ranking(S, b, k, min_len, max_len, iou_suppress) -> list[list[tuple[Span, float]]]:
    """Per step, its best windows by gain alone (the unordered baseline's own ranking)."""
    S, b, lo, hi, _, P = _prepare(S, b, min_len, max_len, 0.0)
    n = S.shape[1]
    j_all = np.arange(n + 1)
    out = []
    for step in range(S.shape[0]):
        T, L = _window_max(-P[step], int(lo[step]), int(hi[step]), want_arg=True)
        out.append(_nms(j_all - L, T + P[step] + b.sum(), k, iou_suppress))
    return out


# --------------------------------------------------------------------------- entry point


@dataclass(frozen=True)
class AlignSettings:
    """Everything an aligner is told: one value per knob, built once (:meth:`from_config`).

    ``min_len``/``max_len`` are chunks (scalars, or one value per step); ``skip_penalty`` None
    means every step must be placed; ``node_budget`` bounds the DFS; ``top_k`` alternatives per
    step are ranked with IoU suppression at ``iou_suppress``.
    """

    aligner: str = "dp"
    background: Any = "percentile"      # "percentile", "constant" or a per-chunk vector
    background_value: float = 50.0
    substep_background_value: Optional[float] = None   # substeps' background_value (vtkit.predict); None: the same
    min_len: Any = DEFAULT_MIN_LEN
    max_len: Any = None
    skip_penalty: Optional[float] = None
    node_budget: int = DEFAULT_NODE_BUDGET
    top_k: int = DEFAULT_TOP_K
    iou_suppress: float = 0.5
    time_budget: float = DEFAULT_TIME_BUDGET    # DFS: seconds before it gives up (then the DP answers)
    max_total: Optional[int] = None             # DFS only: at most this many chunks in all segments together
    max_gap: Optional[int] = None               # DFS only: at most this many chunks between consecutive steps
    max_skips: Optional[int] = None             # DFS only: at most this many skipped steps (with skip_penalty)
    substep_prior: float = DEFAULT_SUBSTEP_PRIOR  # hierarchical substeps: bonus on their share of the parent (vtkit.predict)
    substep_evidence: float = DEFAULT_SUBSTEP_EVIDENCE  # steps: + this times their substeps' best score (vtkit.predict)
    query_norm: str = DEFAULT_QUERY_NORM   # similarities -> aligner scores (query_scores), applied by vtkit.predict and vtkit.inference

    @classmethod
    def from_config(cls, cfg) -> "AlignSettings":
        """The alignment fields of a :class:`vtkit.config.Config`."""
        return cls(aligner=cfg.aligner, background=cfg.background, background_value=cfg.background_value,
                   substep_background_value=cfg.substep_background_value, min_len=cfg.min_len,
                   max_len=cfg.max_len, skip_penalty=cfg.skip_penalty,
                   node_budget=cfg.dfs_node_budget, top_k=cfg.top_k, time_budget=cfg.dfs_time_budget,
                   max_total=cfg.dfs_max_total, max_gap=cfg.dfs_max_gap, max_skips=cfg.dfs_max_skips,
                   substep_prior=cfg.substep_prior, substep_evidence=cfg.substep_evidence,
                   query_norm=cfg.query_norm)

    def replace(self, **changes) -> "AlignSettings":
        return dataclasses.replace(self, **changes)

    def for_substeps(self) -> "AlignSettings":
        """The settings substeps are aligned with: their own ``substep_background_value`` when one is set."""
        if self.substep_background_value is None:
            return self
        return self.replace(background_value=self.substep_background_value)

    def relaxed(self, k: int, n: int, own_bounds: bool = False) -> "AlignSettings":
        """Settings for ``k`` steps over ``n`` chunks that always admit an alignment.

        Without a ``skip_penalty``, ``min_len`` drops to 1 when the steps would not fit at their
        minimum lengths, and skipping becomes free when there are more steps than chunks (real
        videos can have both). Per-step ``min_len``/``max_len`` are kept when ``own_bounds`` (they
        belong to these ``k`` steps); a sub-problem (substeps) uses their loosest scalar version.
        """
        min_len, max_len, skip_penalty = self.min_len, self.max_len, self.skip_penalty
        if not own_bounds:
            if np.ndim(min_len):
                min_len = int(np.min(min_len))
            if max_len is not None and np.ndim(max_len):
                max_len = int(np.max(max_len))
        min_len = 1 if min_len is None else min_len
        need = k * min_len if np.ndim(min_len) == 0 else (np.sum(min_len) if np.size(min_len) == k else 0)
        if skip_penalty is None and int(need) > n:
            min_len = 1
            if k > n:
                skip_penalty = 0.0
        elif np.max(min_len) > n:  # skippable steps, but none could be placed: every query still gets windows
            min_len = np.minimum(min_len, n) if np.ndim(min_len) else n
        return dataclasses.replace(self, min_len=min_len, max_len=max_len, skip_penalty=skip_penalty)


def align(S, settings: AlignSettings | None = None, duration_score=None) -> Alignment:
    """Align with ``settings.aligner`` and attach ``settings.top_k`` ranked alternatives per step.

    Alternatives come from the DP max-marginals (:func:`topk_segments`, same background and
    bounds) for ``dp``, ``dfs`` and ``dropdtw`` (whose optimum is the DP's; the background is
    minus the drop cost), and from the per-step window ranking for ``unordered``. The
    aligner's own segment is always first; a skipped step (None) keeps its alternatives, so
    callers that must answer every query can use ``spans(k)``. ``duration_score`` is
    supported by ``dp`` only.
    """
    st = settings or AlignSettings()
    aligner, min_len, max_len, skip_penalty, top_k = st.aligner, st.min_len, st.max_len, st.skip_penalty, st.top_k
    if aligner not in ALIGNERS:
        raise VtkitError(f"must be one of {', '.join(ALIGNERS)}, got {aligner!r}", field="aligner")
    if duration_score is not None and aligner != "dp":
        raise VtkitError(f"a duration score is supported by aligner='dp' only, not {aligner!r}", field="aligner")
    b = background_vector(S, st.background, st.background_value)
    if aligner == "dp":
        result = align_dp(S, b, min_len, max_len, skip_penalty, duration_score)
    elif aligner == "dfs":
        result = align_dfs(S, b, min_len, max_len, skip_penalty, st.node_budget, time_budget=st.time_budget,
                           max_total=st.max_total, max_gap=st.max_gap, max_skips=st.max_skips)
    elif aligner == "dropdtw":
        result = align_dropdtw(S, -b, min_len, max_len, skip_penalty)
    else:
        result = align_unordered(S, b, min_len, max_len)
    if aligner != "unordered" and duration_score is None:
        result.segments = split_ties(S, result.segments, min_len, max_len)
    if aligner == "unordered":
        alts = _own_ranking(S, b, top_k, min_len, max_len, st.iou_suppress)
    else:
        alts = topk_segments(S, b, top_k, min_len, max_len, skip_penalty, st.iou_suppress, duration_score)
    for k, seg in enumerate(result.segments):
        if seg is not None and (not alts[k] or alts[k][0][0] != seg):
            alts[k] = lead_with((seg, alts[k][0][1] if aligner == "unordered" else result.score), alts[k], top_k,
                                st.iou_suppress)
    result.alternatives = alts
    return result


def split_ties(S, segments: Sequence[Span | None], min_len=1, max_len=None) -> list[Span | None]:
    """``segments`` with each run of identical adjacent rows of ``S`` whose segments touch (equal bounds too)
    re-divided evenly over the run's span.

    Identical rows score the same wherever the boundaries between their touching segments fall, so every
    such split is an optimum; an aligner's own pick among them is an artefact of its search order (often
    one long segment and the rest at ``min_len``). The even split is the one that assumes nothing, and
    it keeps the total score, the lengths' bounds and every other segment.
    """
    S = np.asarray(S, dtype=np.float64)
    out = list(segments)
    if len(out) < 2:
        return out
    lo, hi = length_bounds(min_len, max_len, len(out), S.shape[1])
    scale = 1e-9 * max(1.0, float(np.abs(S).max(initial=0.0)))

    def joins(k: int) -> bool:   # do k and k + 1 belong to one run?
        a, b = out[k], out[k + 1]
        return (a is not None and b is not None and b[0] == a[1] + 1 and lo[k] == lo[k + 1]
                and hi[k] == hi[k + 1] and bool(np.all(np.abs(S[k] - S[k + 1]) <= scale)))

    k = 0
    while k < len(out) - 1:
        end = k
        while end < len(out) - 1 and joins(end):
            end += 1
        if end > k:
            first, count, total = out[k][0], end - k + 1, out[end][1] + 1 - out[k][0]
            cuts = [first + (j * total) // count for j in range(count + 1)]
            out[k: end + 1] = [(cuts[j], cuts[j + 1] - 1) for j in range(count)]
        k = end + 1
    return out


def lead_with(own: tuple[Span, float], alternatives: Sequence[tuple[Span, float]], top_k: int,
              iou_suppress: float) -> list[tuple[Span, float]]:
    """``own`` first, then the ``alternatives`` that overlap it by at most ``iou_suppress``, ``top_k`` in all."""
    seg = own[0]
    rest = [a for a in alternatives if iou((seg[0], seg[1] + 1), (a[0][0], a[0][1] + 1)) <= iou_suppress]
    return [own] + rest[: top_k - 1]
