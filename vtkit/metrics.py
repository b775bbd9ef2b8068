"""Step-grounding metrics (Ego4D GoalStep / NLQ conventions), in seconds.

IoU of two windows is ``max(0, min(e1, e2) - max(s1, s2)) / (max(e1, e2) - min(s1, s2))``:
the denominator is the span covering both windows. A query is a hit at ``(k, t)`` when any of
its first ``k`` predicted windows has IoU strictly greater than ``t``; ``R{k}@{t}`` is the
mean of hits over the scored queries and ``mIoU`` the mean top-1 IoU. A query without a
prediction counts as a miss (IoU 0).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable, Mapping, Sequence

import numpy as np

from vtkit.errors import VtkitError
from vtkit.text import same_text_key
from vtkit.timeline import iou

THRESHOLDS = (0.3, 0.5)
KS = (1, 5)
METRIC_NAMES = ("R1@0.3", "R1@0.5", "R5@0.3", "R5@0.5", "mIoU")  # the headline metrics, in report order
DURATION_EDGES = (2.0, 4.0, 8.0, 16.0, 32.0)   # seconds: the buckets of ``by_duration`` (one chunk is 2 s)
RECURRENCE = ("unique", "repeated")   # the groups of ``by_recurrence``: :func:`text_recurs` false, true
LEVEL_BREAKDOWNS = ("by_duration", "by_recurrence")   # :func:`score`'s ``{level: {group: metrics}}`` breakdowns
Key = tuple[str, str, int]


def metric_name(k: int, t: float) -> str:
    return f"R{k}@{t:g}"


def _iou_table(predictions: Mapping[Key, Sequence], queries: Sequence, depth: int) -> np.ndarray:
    """IoU of each query's first ``depth`` windows ([Q, depth], 0 where absent)."""
    table = np.zeros((len(queries), depth))
    for i, q in enumerate(queries):
        if q.start is None:
            raise VtkitError(f"query {q.query_idx} of {q.video_uid} has no times (test split); cannot score",
                             field="annotations")
        windows = predictions.get(q.key)
        if windows is None:
            continue
        w = np.asarray(list(windows)[:depth], dtype=np.float64).reshape(-1, 2)
        table[i, : len(w)] = iou(w, (q.start, q.end))
    return table


def _summarise(table: np.ndarray, thresholds, ks) -> dict:
    out = {}
    n = table.shape[0]
    for k in ks:
        for t in thresholds:
            out[metric_name(k, t)] = float((table[:, :k] > t).any(axis=1).mean()) if n else 0.0
    out["mIoU"] = float(table[:, 0].mean()) if n else 0.0
    out["queries"] = n
    return out


def duration_buckets(edges: Sequence[float] = DURATION_EDGES) -> list[str]:
    """The labels of the duration buckets ``[0, e1), [e1, e2), ..., [e_last, inf)``: ``"<2 s"``, ``"2-4 s"``, ... ``">=32 s"``."""
    edges = [float(e) for e in edges]
    return [f"<{edges[0]:g} s"] + [f"{a:g}-{b:g} s" for a, b in zip(edges, edges[1:])] + [f">={edges[-1]:g} s"]


def duration_bucket(seconds: float, edges: Sequence[float] = DURATION_EDGES) -> str:
    """The label of the bucket a ``seconds`` long query falls in (buckets include their lower edge)."""
    return duration_buckets(edges)[int(np.searchsorted(np.asarray(edges, dtype=np.float64), seconds, side="right"))]


def text_recurs(queries: Sequence) -> np.ndarray:
    """Bool per query: its description (up to case and whitespace) is also another query's at the same level
    of the same annotation (video and goal segment), among ``queries``."""
    keys = [(q.annotation_uid, q.level, same_text_key(q.description)) for q in queries]
    counts = Counter(keys)
    return np.array([counts[k] > 1 for k in keys], dtype=bool)


def query_hits(predictions: Mapping[Key, Sequence], queries: Sequence, k: int = 1, threshold: float = 0.3) -> np.ndarray:
    """Bool per query: a hit at (``k``, ``threshold``), as :func:`score` counts it."""
    return (_iou_table(predictions, list(queries), k) > threshold).any(axis=1)


def score(predictions: Mapping[Key, Sequence], queries: Sequence, thresholds: Iterable[float] = THRESHOLDS,
          ks: Iterable[int] = KS, breakdown: bool = True) -> dict:
    """Recall at each (k, IoU threshold), mIoU and the number of scored queries (fractions in [0, 1]).

    ``predictions`` maps ``Query.key`` (clip_uid, annotation_uid, query_idx) to ranked windows
    in seconds. With ``breakdown``, ``"by_level"`` (step / substep) and ``"by_relevance"``
    (essential / optional / irrelevant / unsure / unlabelled) hold the same metrics per group, and
    ``"by_duration"`` per level and annotated duration (``{level: {bucket: metrics}}``, buckets of
    :data:`DURATION_EDGES` in order, empty ones left out), so levels compare at equal durations, and
    ``"by_recurrence"`` per level and whether the query's text recurs in its video (:data:`RECURRENCE`,
    :func:`text_recurs`; empty groups left out).
    """
    thresholds, ks = tuple(thresholds), tuple(ks)
    queries = list(queries)
    table = _iou_table(predictions, queries, max(ks))
    out = _summarise(table, thresholds, ks)
    if breakdown:
        for name, attr in (("by_level", "level"), ("by_relevance", "is_relevant")):
            groups = defaultdict(list)
            for i, q in enumerate(queries):
                groups[getattr(q, attr) or "unlabelled"].append(i)
            out[name] = {g: _summarise(table[idx], thresholds, ks) for g, idx in sorted(groups.items())}
        level = np.array([q.level for q in queries])
        groups = {"by_duration": (np.searchsorted(DURATION_EDGES, [q.duration for q in queries], side="right"),
                                  duration_buckets()),
                  "by_recurrence": (text_recurs(queries).astype(np.int64), RECURRENCE)}
        for name, (group, labels) in groups.items():   # in label order, empty groups left out
            out[name] = {lvl: {labels[j]: _summarise(table[(level == lvl) & (group == j)], thresholds, ks)
                               for j in np.unique(group[level == lvl])}
                         for lvl in sorted(set(level))}
    return out


def missing_predictions(predictions: Mapping[Key, Sequence], queries: Sequence) -> int:
    """How many queries have no prediction (they score as misses)."""
    return sum(q.key not in predictions for q in queries)


def recall_curve(predictions: Mapping[Key, Sequence], queries: Sequence, thresholds=None, ks=KS) -> dict:
    """``{"thresholds": [T], "R1": [T], "R5": [T], ...}``: recall at k over IoU thresholds (for plots)."""
    thresholds = np.round(np.arange(0.05, 1.0, 0.05), 2) if thresholds is None else np.asarray(thresholds, float)
    table = _iou_table(predictions, list(queries), max(ks))
    best = {k: table[:, :k].max(axis=1) if len(table) else np.zeros(0) for k in ks}
    out = {"thresholds": thresholds}
    for k in ks:
        out[f"R{k}"] = (best[k][None, :] > thresholds[:, None]).mean(axis=1) if len(table) else \
            np.zeros(len(thresholds))
    return out


def format_table(result: dict, missing: int = 0) -> str:
    """A readable table of :func:`score` output, with its breakdowns."""
    names = [n for n in result if n.startswith("R")] + ["mIoU"]
    header = f"{'group':<16}{'queries':>8}" + "".join(f"{n:>9}" for n in names)
    rows = [header, "-" * len(header)]

    def row(label, r):
        return f"{label:<16}{r['queries']:>8}" + "".join(f"{100 * r[n]:>9.2f}" for n in names)

    rows.append(row("all", result))
    for key in ("by_level", "by_relevance"):
        if key in result:
            rows.append("")
            rows += [row(g, r) for g, r in result[key].items()]
    for key in LEVEL_BREAKDOWNS:
        if key in result:
            rows.append("")
            rows += [row(f"{level} {g}", r) for level, groups in result[key].items() for g, r in groups.items()]
    rows.append("")
    rows.append("recall and mIoU in %; a hit needs IoU strictly above the threshold")
    if missing:
        rows.append(f"{missing} queries have no prediction and count as misses")
    return "\n".join(rows)


def separation(pos, neg) -> dict[str, float]:
    """Mean gap ``mean(pos) - mean(neg)`` and AUC = P(pos > neg) + P(pos == neg) / 2."""
    pos, neg = (a[np.isfinite(a)] for a in (np.asarray(x, dtype=float).ravel() for x in (pos, neg)))
    if not pos.size or not neg.size:
        return {"mean_gap": float("nan"), "auc": float("nan")}
    neg_sorted = np.sort(neg)
    below = np.searchsorted(neg_sorted, pos, side="left")
    not_above = np.searchsorted(neg_sorted, pos, side="right")
    auc = float((below + 0.5 * (not_above - below)).sum() / (pos.size * neg.size))
    return {"mean_gap": float(pos.mean() - neg.mean()), "auc": auc}
