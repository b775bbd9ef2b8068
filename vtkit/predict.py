"""From a model and an annotated split to ranked windows for every query: the evaluation path.

Training's validation, notebooks 03 and 04 and ``vtkit submit`` all go through
:func:`predict_split`: similarities once per video over its searched chunk range (the goal
segment when annotated, :func:`vtkit.timeline.goal_chunk_range`), then each aligner.

Query windows: :func:`predict_queries` turns similarities into aligner scores
(:func:`vtkit.align.query_scores` by ``settings.query_norm``; a step's scores also count the best of
its own substeps' at each chunk, by ``settings.substep_evidence``: :func:`video_scores`), then aligns a
video's steps (one :class:`AlignSettings`, relaxed where the steps would not fit) and its substeps by
``substep_mode``:

* ``"joint"``: steps and substeps as one ordered sequence, aligned once (:func:`_joint_alignments`): each
  step without substeps, and each substep with its parent's score added to its own, in the video's order.
  A step with substeps spans its substeps. Substeps then locate their parent (a step's text may be worded
  like the steps around it, or repeat one word for word), and the parent keeps its substeps near it;
* ``"hierarchical"``: all substeps of the video in order, as one sequence, over the
  searched range; a substep's similarity is lowered away from its parent's predicted segment (by
  :data:`PARENT_PENALTY` standard deviations of S, nothing inside the segment, fading in over a margin
  of half the parent's length, at least :data:`PARENT_MARGIN` chunks) and raised by
  ``settings.substep_prior`` standard deviations on its slot: its even share of the parent's segment,
  the parent's substeps taken in order (:func:`parent_slots`; substeps tend to tile their parent).
  Substeps stay ordered and non-overlapping, prefer their parent's segment, may spill out of it where
  the evidence is strong, and a skipped parent leaves its substeps free over the whole range;
* ``"parent"``: each step's substeps aligned inside the parent's predicted segment only (widened
  around it when too short to hold them at ``min_len``);
* ``"video"``: all substeps of the video, in order, aligned as their own sequence, parents ignored;
* ``"best"``: the mode :func:`vtkit.train.choose_alignment` picked on the selection split (held-out
  training videos, never the reported split), recorded with the checkpoint; without it, the default.

In every mode the substeps have their own background, ``settings.substep_background_value`` when it is
set (:meth:`AlignSettings.for_substeps`): finer queries cover less of the video.

A DFS over its budget falls back to the DP (same optimum); every fallback is counted and named.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from vtkit.align import (DEFAULT_SUBSTEP_MODE, REPORT_ALIGNERS, SUBSTEP_MODES, AlignSettings, Alignment,
                         SearchBudgetExceeded, align, background_vector, lead_with, query_scores,
                         with_substep_evidence)
from vtkit.annotations import Annotations, Video, check_goal_within, load_annotations
from vtkit.checkpoint import build_model, load_model, read_choices
from vtkit.config import Config
from vtkit.errors import VtkitError
from vtkit.features import open_store, require_features
from vtkit.timeline import DEFAULT_CHUNK_SECONDS, chunks_to_seconds, goal_chunk_range

PARENT_MARGIN = 3        # chunks: the least room around a parent's segment in hierarchical mode
PARENT_PENALTY = 1.0     # hierarchical mode: cost away from the parent's segment, in standard deviations of S
JOINT_PARENT_WEIGHT = 1.0   # joint mode: weight of the parent step's score on each substep's row

Windows = dict[int, list[tuple[float, float]]]


# --------------------------------------------------------------------------- similarities


def similarities(model, features: np.ndarray, video: Video, chunk_seconds: float = DEFAULT_CHUNK_SECONDS):
    """``(S_steps, S_substeps, offset)`` over the searched chunk range of ``video`` (its goal must start
    inside the features)."""
    check_goal_within(video, len(features), chunk_seconds)
    first, last = goal_chunk_range((video.start_time, video.end_time), len(features), chunk_seconds)
    window = np.asarray(features[first: last + 1], dtype=np.float32)
    steps, subs = video.steps, video.substeps
    S = model.similarity(window, [q.description for q in steps + subs])  # the video tower runs once
    return S[: len(steps)], (S[len(steps):] if subs else None), first


def positive_negative(sims: dict, videos: Sequence[Video], chunk_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Step-to-chunk similarities inside (positive) and outside (negative) each step's ground truth."""
    pos, neg = [], []
    for video in videos:
        S, _, first = sims[video.video_uid]
        inside = np.zeros(S.shape, dtype=bool)
        for k, q in enumerate(video.steps):
            a, b = q.chunk_span(chunk_seconds)
            inside[k, max(a - first, 0): max(b - first + 1, 0)] = True
        pos.append(S[inside])
        neg.append(S[~inside])
    return np.concatenate(pos), np.concatenate(neg)


# --------------------------------------------------------------------------- one sequence of steps


def align_steps(S, settings: AlignSettings, dfs_fallback: bool = False) -> Alignment:
    """``align(S, settings)``; with ``dfs_fallback`` a DFS over its budget yields the DP answer
    (then ``result.aligner == "dp"`` while ``settings.aligner == "dfs"``)."""
    return _dp_if_over_budget(lambda st: align(S, st), settings, dfs_fallback)[0]


def _dp_if_over_budget(run, settings: AlignSettings, fallback: bool = True):
    """``(run(settings), False)``, or ``(run(settings with the DP), True)`` when a DFS went over its budget
    (re-raised without ``fallback``)."""
    try:
        return run(settings), False
    except SearchBudgetExceeded:
        if not fallback:
            raise
    return run(settings.replace(aligner="dp")), True


def fell_back(result: Alignment, settings: AlignSettings) -> bool:
    """True when ``result`` is the DP answer standing in for a DFS over its budget."""
    return result.aligner != settings.aligner


def video_scores(video: Video, S_steps, S_substeps, settings: AlignSettings) -> tuple[np.ndarray, np.ndarray | None]:
    """What the aligners maximise, each scaled once: ``(step scores, substep scores or None)``. Step scores are the
    steps' :func:`query_scores` plus ``settings.substep_evidence`` times, at each chunk, the best score among each
    step's own substeps (when they are known)."""
    Z = query_scores(_check_S(S_steps, len(video.steps), "step", video.video_uid), settings.query_norm)
    U = _substep_scores(video, S_substeps, settings, Z.shape[1]) if video.substeps and S_substeps is not None else None
    return _plus_substep_evidence(video, Z, U, settings), U


def _substep_scores(video: Video, S_substeps, settings: AlignSettings, n: int) -> np.ndarray:
    return query_scores(_check_S(S_substeps, len(video.substeps), "substep", video.video_uid, n), settings.query_norm)


def _plus_substep_evidence(video: Video, Z: np.ndarray, U: np.ndarray | None, settings: AlignSettings) -> np.ndarray:
    """Step scores ``Z`` with the substep evidence of the substeps' scores ``U`` (none: ``Z`` as it is)."""
    if not settings.substep_evidence or U is None:
        return Z
    row = {q.query_idx: i for i, q in enumerate(video.substeps)}
    children = [[row[c.query_idx] for c in video.substeps_of(step)] for step in video.steps]
    return with_substep_evidence(Z, U, children, settings.substep_evidence, settings.query_norm)


def _step_alignment(video: Video, Z: np.ndarray, U: np.ndarray | None, st: AlignSettings,
                    substep_mode: str) -> tuple[Alignment, Alignment | None]:
    """``(the steps' alignment, the substeps' one in joint mode, else None)`` from the scores of :func:`_scores`.

    Every mode but ``joint`` aligns the steps alone (see :func:`_own_mode`)."""
    if _own_mode(substep_mode, st) == "joint" and U is not None:
        return _joint_alignments(video, Z, U, st)
    return align(Z, st.relaxed(*Z.shape, own_bounds=True)), None


def _own_mode(substep_mode: str, st: AlignSettings) -> str:
    """The mode ``st.aligner`` runs: the ``unordered`` aligner places each query by its own scores, so ``joint``
    there is ``video``."""
    return "video" if substep_mode == "joint" and st.aligner == "unordered" else substep_mode


def _joint_alignments(video: Video, Z: np.ndarray, U: np.ndarray, st: AlignSettings) -> tuple[Alignment, Alignment]:
    """``substep_mode="joint"``: ``(the steps' alignment, the substeps' alignment)`` from one ordered sequence.

    The sequence holds, in the video's order, each step without substeps (its score row ``Z``) and each
    substep, whose row is its own score plus :data:`JOINT_PARENT_WEIGHT` times its parent's (``U + w Z``,
    scaled again by ``query_norm``); it is aligned once, with the substeps' background, so that background
    places every step of the video. Steps keep their own ``min_len``/``max_len``, substeps take the loosest.
    A step with substeps spans its substeps' segments (first start to last end), which its own bounds do
    not limit; its next alternatives are those of the steps aligned alone that overlap that span by at most
    ``iou_suppress`` (their scores are that alignment's: scores rank within one step's list only). Where
    the sequence does not fit the chunks, it is relaxed as a whole (:meth:`AlignSettings.relaxed`), and
    the DFS's ``max_total``/``max_gap``/``max_skips`` count its substeps too.
    """
    step_of = {q.query_idx: k for k, q in enumerate(video.steps)}
    sub_of = {q.query_idx: i for i, q in enumerate(video.substeps)}
    parents = {q.parent_query_idx for q in video.substeps} & set(step_of)
    parent_rows = [step_of.get(q.parent_query_idx) for q in video.substeps]
    with_parent = np.array([k is not None for k in parent_rows])
    joined = U.copy()   # each substep's row plus its parent's, scaled again; one without a known parent keeps its own
    if with_parent.any():
        parent_of = [k for k in parent_rows if k is not None]
        joined[with_parent] = query_scores(U[with_parent] + JOINT_PARENT_WEIGHT * Z[parent_of], st.query_norm)
    units = [("step", step_of[q.query_idx]) if q.level == "step" else ("substep", sub_of[q.query_idx])
             for q in video.queries if q.level == "substep" or q.query_idx not in parents]   # in the video's order
    rows = [Z[r] if level == "step" else joined[r] for level, r in units]
    bounds = {}
    for name, loosest in (("min_len", np.min), ("max_len", np.max)):
        value = getattr(st, name)
        if value is not None and np.ndim(value) and np.size(value) == len(Z):   # else length_bounds says what is wrong
            own = np.asarray(value)
            bounds[name] = np.array([own[r] if level == "step" else loosest(own) for level, r in units])
    n = Z.shape[1]
    sequence = align(np.stack(rows), st.for_substeps().replace(**bounds).relaxed(len(rows), n, own_bounds=True))
    steps = Alignment([None] * len(Z), sequence.score, sequence.aligner, [[] for _ in range(len(Z))])
    subs = Alignment([None] * len(U), sequence.score, sequence.aligner, [[] for _ in range(len(U))])
    hulls: dict[int, list[int]] = {}
    for j, (level, r) in enumerate(units):
        target = steps if level == "step" else subs
        target.segments[r], target.alternatives[r] = sequence.segments[j], sequence.alternatives[j]
        parent = video.substeps[r].parent_query_idx if level == "substep" else None
        if parent in parents and sequence.segments[j] is not None:
            s, e = sequence.segments[j]
            hull = hulls.setdefault(step_of[parent], [s, e])
            hull[:] = min(hull[0], s), max(hull[1], e)
    if parents:   # twice the alternatives: some give way to the span
        alone = align(Z, st.replace(top_k=2 * st.top_k).relaxed(*Z.shape, own_bounds=True))
        for k in (step_of[p] for p in parents):
            if k in hulls:
                steps.segments[k] = tuple(hulls[k])
                steps.alternatives[k] = lead_with((steps.segments[k], sequence.score), alone.alternatives[k],
                                                  st.top_k, st.iou_suppress)
            else:
                steps.alternatives[k] = alone.alternatives[k][: st.top_k]
    return steps, subs


def _ranked_steps(video: Video, sims_entry, settings: AlignSettings,
                  substep_mode: str = DEFAULT_SUBSTEP_MODE) -> tuple[list[list[tuple[int, int]]], Alignment]:
    """``(each step's ranked chunk spans in video chunk indices, the alignment)``, placed as ``substep_mode``
    places steps; a DFS over budget falls back to the DP (then ``result.aligner == "dp"``)."""
    S_steps, S_substeps, offset = sims_entry
    Z, U = video_scores(video, S_steps, S_substeps, settings)
    result = _dp_if_over_budget(lambda st: _step_alignment(video, Z, U, st, substep_mode)[0], settings)[0]
    ranked = [[(s + offset, e + offset) for s, e in result.spans(k, settings.top_k)] for k in range(len(video.steps))]
    return ranked, result


def step_spans(video: Video, sims_entry, settings: AlignSettings,
               substep_mode: str = DEFAULT_SUBSTEP_MODE) -> list[list[tuple[int, int]]]:
    """Each step's ranked chunk spans (video chunk indices) under ``settings``, as ``substep_mode`` places steps."""
    return _ranked_steps(video, sims_entry, settings, resolve_substep_mode(substep_mode))[0]


# --------------------------------------------------------------------------- queries in seconds


def _windows(alignment: Alignment, k: int, top_k: int, offset: int, chunk_seconds: float) -> list[tuple[float, float]]:
    spans = alignment.spans(k, top_k)
    wins = [chunks_to_seconds(s + offset, e + offset, chunk_seconds) for s, e in spans]
    while wins and len(wins) < top_k:   # very short videos: fewer distinct spans than top_k
        wins.append(wins[-1])
    return wins


def _check_S(S, rows: int, what: str, uid: str, columns: int | None = None) -> np.ndarray:
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2 or S.shape[0] != rows or (columns is not None and S.shape[1] != columns):
        want = f"({rows}, {columns})" if columns is not None else f"{rows} rows"
        raise VtkitError(f"{what} similarities must have shape {want}, got {S.shape}", field=uid)
    return S


def predict_queries(video, S_steps, S_substeps=None, settings: AlignSettings | None = None, *,
                    substep_mode: str = DEFAULT_SUBSTEP_MODE, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                    chunk_offset: int = 0, dfs_fallback: bool = False) -> tuple[Windows, bool]:
    """``({query_idx: [(start, end), ...]}, fell_back)`` for every query of ``video``.

    ``S_steps`` [steps, N] and ``S_substeps`` [substeps, N] follow ``video.steps`` and
    ``video.substeps``; column ``i`` is chunk ``i + chunk_offset`` of the video. ``substep_mode``
    is one of :data:`vtkit.align.SUBSTEP_MODES` (see the module docstring). Settings are relaxed where the
    queries would not fit (e.g. more steps than chunks), so every query gets windows. With
    ``dfs_fallback``, a DFS over its budget anywhere in the video makes the DP align the whole
    video instead, and ``fell_back`` is True.
    """
    return _dp_if_over_budget(lambda st: _video_windows(video, S_steps, S_substeps, st, substep_mode, chunk_seconds,
                                                        chunk_offset), settings or AlignSettings(), dfs_fallback)


def _video_windows(video, S_steps, S_substeps, st: AlignSettings, substep_mode: str, chunk_seconds: float,
                   chunk_offset: int) -> Windows:
    if substep_mode not in SUBSTEP_MODES:
        raise VtkitError(f"must be one of {', '.join(SUBSTEP_MODES)}, got {substep_mode!r}", field="substep_mode")
    steps, subs, top_k = video.steps, video.substeps, st.top_k
    if subs and S_substeps is None:
        raise VtkitError(f"{len(subs)} substeps but no substep similarities", field=video.video_uid)
    Zs, S_sub = video_scores(video, S_steps, S_substeps, st)   # scaled once: evidence and substeps
    n = Zs.shape[1]
    out: Windows = {}
    substep_mode = _own_mode(substep_mode, st)
    step_result, sub_result = _step_alignment(video, Zs, S_sub, st, substep_mode)
    for k, q in enumerate(steps):
        out[q.query_idx] = _windows(step_result, k, top_k, chunk_offset, chunk_seconds)
    if not subs:
        return out
    if sub_result is not None:
        for k, q in enumerate(subs):
            out[q.query_idx] = _windows(sub_result, k, top_k, chunk_offset, chunk_seconds)
        return out
    sub_st = st.for_substeps()
    if substep_mode == "hierarchical":
        spread = float(S_sub.std())
        prior = (st.substep_prior * spread) * parent_slots(video, step_result, n) - \
            (PARENT_PENALTY * spread) * (1.0 - parent_weight(video, step_result, n))
        b = background_vector(S_sub, sub_st.background, sub_st.background_value)
        sub_result = align(S_sub + prior, sub_st.replace(background=b).relaxed(len(subs), n))
        for k, q in enumerate(subs):
            out[q.query_idx] = _windows(sub_result, k, top_k, chunk_offset, chunk_seconds)
        return out
    if substep_mode == "video":
        sub_result = align(S_sub, sub_st.relaxed(len(subs), n))
        for k, q in enumerate(subs):
            out[q.query_idx] = _windows(sub_result, k, top_k, chunk_offset, chunk_seconds)
        return out
    row_of = {q.query_idx: i for i, q in enumerate(subs)}
    min_len = int(np.min(1 if st.min_len is None else st.min_len))
    for k, step in enumerate(steps):
        children = video.substeps_of(step)
        if not children:
            continue
        s, e = (step_result.spans(k, 1) or [(0, n - 1)])[0]   # no feasible span at all: the whole range
        need = len(children) * min_len
        if e - s + 1 < need:  # widen around the parent until its substeps fit
            grow = need - (e - s + 1)
            s = max(0, s - grow // 2 - grow % 2)
            e = min(n - 1, s + need - 1)
            s = max(0, e - need + 1)
        rows = [row_of[c.query_idx] for c in children]
        result = align(S_sub[rows, s: e + 1], sub_st.relaxed(len(children), e - s + 1))
        for i, c in enumerate(children):
            out[c.query_idx] = _windows(result, i, top_k, chunk_offset + s, chunk_seconds)
    return out


def parent_weight(video, step_result: Alignment, n: int) -> np.ndarray:
    """``[substeps, n]`` weights in [0, 1]: 1 inside each substep's parent segment (predicted, top-1),
    fading linearly to 0 over the margin around it; 1 everywhere for a skipped or unknown parent."""
    index = {q.query_idx: k for k, q in enumerate(video.steps)}
    cols = np.arange(n)
    out = np.ones((len(video.substeps), n))
    for i, sub in enumerate(video.substeps):
        k = index.get(sub.parent_query_idx)
        span = step_result.segments[k] if k is not None else None
        if span is None:
            continue
        s, e = span
        margin = max(PARENT_MARGIN, (e - s + 1) // 2)
        distance = np.maximum(s - cols, cols - e).clip(min=0)
        out[i] = np.clip(1.0 - distance / (margin + 1), 0.0, 1.0)
    return out


def parent_slots(video, step_result: Alignment, n: int) -> np.ndarray:
    """``[substeps, n]``: 1 on each substep's slot, 0 elsewhere. A parent's predicted segment (top-1) is cut
    into equal slots, one per substep of that parent in order; a skipped or unknown parent gives no slot."""
    row = {q.query_idx: i for i, q in enumerate(video.substeps)}
    out = np.zeros((len(video.substeps), n))
    for k, step in enumerate(video.steps):
        children = video.substeps_of(step)
        span = step_result.segments[k] if k < len(step_result.segments) else None
        if not children or span is None:
            continue
        s, e = span
        edges = s + np.round(np.linspace(0, e - s + 1, len(children) + 1)).astype(int)
        for j, child in enumerate(children):
            out[row[child.query_idx], edges[j]: max(edges[j + 1], edges[j] + 1)] = 1.0
    return out


# --------------------------------------------------------------------------- a whole split


@dataclass
class SplitPredictions:
    """Predictions of every aligner for a split, plus what was skipped and where the DFS fell back."""

    by_aligner: dict[str, dict[tuple[str, str, int], list[tuple[float, float]]]]
    similarities: dict[str, tuple[np.ndarray, np.ndarray | None, int]]
    skipped: dict[str, str]
    dfs_fallback_videos: list[str] = field(default_factory=list)
    substep_mode: str | None = None     # the mode used ("best" resolved)
    seconds: dict[str, float] = field(default_factory=dict)   # "similarities" and each aligner

    @property
    def dfs_fallbacks(self) -> int:
        """Videos where the DFS went over its budget and the DP answer stands in."""
        return len(self.dfs_fallback_videos)


def resolve_substep_mode(mode: str) -> str:
    """A concrete substep mode: ``"best"`` without a recorded choice (see :mod:`vtkit.train`) is the default.

    Predicting a split never chooses anything on that split's labels.
    """
    return DEFAULT_SUBSTEP_MODE if mode == "best" else mode


def split_windows(videos, sims: dict, settings: AlignSettings, substep_mode: str,
                  chunk_seconds: float = DEFAULT_CHUNK_SECONDS) -> tuple[dict, list[str]]:
    """``({query key: windows}, videos where the DFS fell back)`` for the ``videos`` that have similarities
    (``sims``: uid -> ``(S_steps, S_substeps, offset)``, as :func:`similarities` returns)."""
    out, fallbacks = {}, []
    for video in videos:
        if video.video_uid not in sims:
            continue
        S_steps, S_subs, offset = sims[video.video_uid]
        windows, fell = predict_queries(video, S_steps, S_subs, settings, substep_mode=substep_mode,
                                        chunk_seconds=chunk_seconds, chunk_offset=offset, dfs_fallback=True)
        if fell:
            fallbacks.append(video.video_uid)
        out.update({q.key: windows[q.query_idx] for q in video.queries})
    return out, fallbacks


def predict_split(model, annotations: Annotations, store, cfg: Config, aligners: Iterable[str] = REPORT_ALIGNERS,
                  skip_missing: bool = False, progress: bool = True) -> SplitPredictions:
    """Similarities once per video, then every aligner; keys are ``(clip_uid, annotation_uid, query_idx)``."""
    from tqdm.auto import tqdm

    from vtkit.console import interactive_output

    progress = progress and interactive_output()
    aligners = list(aligners)
    settings = AlignSettings.from_config(cfg)
    out = {}
    videos = [v for v in annotations.videos if v.queries]
    skipped = {uid: "no features" for uid in require_features(videos, store, skip_missing)}
    sims, fallbacks = {}, []
    clock = time.perf_counter()
    for video in tqdm(videos, desc="similarity", disable=not progress, leave=False):
        if video.video_uid not in skipped:
            sims[video.video_uid] = similarities(model, store[video.video_uid], video, cfg.chunk_seconds)
    seconds = {"similarities": round(time.perf_counter() - clock, 3)}
    mode = resolve_substep_mode(cfg.substep_mode)
    for aligner in aligners:
        clock = time.perf_counter()
        out[aligner], fell = split_windows(videos, sims, settings.replace(aligner=aligner), mode, cfg.chunk_seconds)
        fallbacks += fell
        seconds[aligner] = round(time.perf_counter() - clock, 3)
    return SplitPredictions(out, sims, skipped, fallbacks, mode, seconds)


# --------------------------------------------------------------------------- notebooks 03 and 04


@dataclass
class Evaluation:
    """What notebooks 03 and 04 evaluate: the val split, its features, the trained and untrained models, and
    the parameters to predict with (``cfg`` with the choices the selection split made, ``choices``)."""

    val: Annotations
    store: object
    model: object
    untrained: object
    cfg: Config
    choices: dict


def apply_choices(cfg: Config, choices: dict) -> Config:
    """``cfg`` with what the selection split chose: the substep mode (when ``substep_mode="best"``) and the
    background percentiles of steps and substeps (when ``select_background``). A percentile chosen on scores of another
    ``query_norm`` (checkpoints without one recorded aligned raw similarities) is refused in one line."""
    changes = {}
    if cfg.substep_mode == "best" and choices.get("substep_mode"):
        changes["substep_mode"] = choices["substep_mode"]
    if cfg.select_background and cfg.background == "percentile" and choices.get("background_value") is not None:
        chosen_with = choices.get("query_norm", "none")
        if chosen_with != cfg.query_norm:
            raise VtkitError(f"the checkpoint's background percentile was chosen with query_norm={chosen_with}; set "
                             f"query_norm={chosen_with}, or select_background=false to use background_value as given",
                             field="query_norm")
        changes["background_value"] = float(choices["background_value"])
        sub = choices.get("substep_background_value")   # older checkpoints chose one value for both levels
        changes["substep_background_value"] = None if sub is None else float(sub)
    return cfg.replace(**changes)


def load_evaluation(cfg: Config) -> Evaluation:
    """Val annotations (``max_videos``), a caching feature store, the checkpoint's model and the same
    architecture untrained (same seed) as reference, and the selection split's recorded choices."""
    if not cfg.checkpoint_path().is_file():
        raise VtkitError(f"no checkpoint at {cfg.checkpoint_path()}: run 02_training.ipynb first (same out_dir) "
                         "or set the checkpoint parameter", field="checkpoint")
    val = load_annotations(cfg.val_annotations).head(cfg.max_videos)
    store = open_store(cfg.video_root, cfg.feature_store, cfg.chunk_seconds, cfg.feature_cache_dir,
                       videos=[v.video_uid for v in val.videos], cache=True)
    model = load_model(cfg.checkpoint_path(), cfg)
    untrained = build_model(model.config, store.feature_dim, cfg)
    choices = read_choices(cfg.checkpoint_path())
    return Evaluation(val, store, model, untrained, apply_choices(cfg, choices), choices)


def explorer_callback(annotations: Annotations, sims: dict, cfg: Config):
    """The ``compute`` callback of :func:`vtkit.widgets.explore` for a split's similarities."""
    base, mode = AlignSettings.from_config(cfg), resolve_substep_mode(cfg.substep_mode)

    def compute(video_uid: str, aligner: str, background: str, background_value: float) -> dict:
        video = annotations.video(video_uid)
        settings = base.replace(aligner=aligner, background=background, background_value=background_value)
        if mode == "joint" and base.substep_background_value is not None:
            # the substeps' background places the steps there: it moves with the slider, by as much
            shifted = base.substep_background_value + background_value - base.background_value
            if background != base.background:
                shifted = background_value
            elif background == "percentile":
                shifted = min(max(shifted, 0.0), 100.0)
            settings = settings.replace(substep_background_value=shifted)
        S_steps, _, offset = sims[video_uid]
        ranked, result = _ranked_steps(video, sims[video_uid], settings, mode)
        return {"S": S_steps, "gt_spans": [q.chunk_span(cfg.chunk_seconds) for q in video.steps],
                "segments": {aligner: [spans[0] for spans in ranked]}, "topk": ranked,
                "fallback": {aligner: result.aligner != aligner},
                "step_labels": [q.description for q in video.steps], "chunk_seconds": cfg.chunk_seconds,
                "first_chunk": offset}

    return compute

