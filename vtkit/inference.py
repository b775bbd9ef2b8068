"""From features and step texts to time segments: one video, a whole split, a submission.

* :func:`align_video` -- one video's ``[N, D]`` features (array, per-chunk folder or packed
  file) and its ordered step descriptions in, one window per step (plus top-5) out.
* :func:`predict_split` -- every query of an annotation file with one or more aligners, the
  predictions keyed as the challenge submission is.
* ``vtkit predict`` / ``vtkit submit`` -- the same from the command line.

The search range: when the goal segment is known (annotated splits) the steps are aligned
inside the goal segment's chunks; otherwise (test split, one-off videos) over the whole video,
whose length is taken from the features (``N * chunk_seconds``).

Steps standing for several segments (``segment_count > 1`` in the test split) get their
occurrences among their top windows: the alternatives are ranked by max-marginal score with
non-maximum suppression, so windows 2..c are the step's next-best placements that do not
overlap its first one (suppression at IoU 0 for such steps).
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from vtkit.align import ALIGNERS, SearchBudgetExceeded, align, predict_queries, relaxed_settings
from vtkit.annotations import Annotations, Video, load_annotations
from vtkit.config import Config
from vtkit.errors import VtkitError
from vtkit.timeline import chunks_to_seconds, seconds_to_chunks

REPORT_ALIGNERS = ("dp", "dfs", "unordered")


@dataclass
class StepSegment:
    """One step's predicted window (seconds), its mean similarity, and ranked alternatives."""

    step_index: int
    description: str
    start: float
    end: float
    score: float
    alternatives: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- model


def resolve_device(name: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise VtkitError("device='cuda' but no CUDA GPU is visible (install a CUDA build of torch, see README)",
                         field="device")
    return name


def load_model(checkpoint: str | Path | None = None, cfg: Config | None = None, feature_dim: int | None = None):
    """``(model, cfg)``: the trained model of ``checkpoint``, or untrained towers (zero-shot).

    The model is put on ``cfg.device`` (``auto``: the GPU when there is one).
    """
    device = resolve_device(cfg.device if cfg is not None else "auto")
    if checkpoint is not None:
        from vtkit.train import load_checkpoint

        model, _ = load_checkpoint(checkpoint, device)
        saved = model.config
        if cfg is not None and cfg.chunk_seconds != saved.chunk_seconds:
            raise VtkitError(f"the checkpoint was trained with chunk_seconds={saved.chunk_seconds} but the run uses "
                             f"{cfg.chunk_seconds}", path=checkpoint, field="chunk_seconds")
        return model.eval(), saved
    if feature_dim is None:
        raise VtkitError("feature_dim is needed to build an untrained model", field="feature_dim")
    from vtkit.model import DualEncoder

    cfg = cfg or Config()
    import torch

    torch.manual_seed(cfg.seed)
    warnings.warn("no checkpoint given: using the untrained (zero-shot) towers; train one with notebook 02 "
                  "or `vtkit train` for meaningful segments", stacklevel=2)
    return DualEncoder.from_config(cfg, feature_dim).to(device).eval(), cfg


# --------------------------------------------------------------------------- one video


def goal_chunk_range(goal: tuple[float, float] | None, n: int, chunk_seconds: float) -> tuple[int, int]:
    """``[first, last]`` chunks to search: the goal segment ``(start, end)`` when known, else the whole video."""
    if goal is None or goal[0] is None:
        return 0, n - 1
    first, last = seconds_to_chunks(goal[0], goal[1], chunk_seconds)
    first, last = min(first, n - 1), min(last, n - 1)
    return first, last


def similarities(model, features: np.ndarray, video: Video, chunk_seconds: float):
    """``(S_steps, S_substeps, offset)`` over the searched chunk range of ``video``."""
    first, last = goal_chunk_range((video.start_time, video.end_time), len(features), chunk_seconds)
    window = np.asarray(features[first: last + 1], dtype=np.float32)
    steps, subs = video.steps, video.substeps
    S = model.similarity(window, [q.description for q in steps + subs])  # the video tower runs once
    return S[: len(steps)], (S[len(steps):] if subs else None), first


def _align_kwargs(cfg: Config, aligner: str, substep_mode: str | None = None) -> dict:
    return dict(aligner=aligner, background=cfg.background, background_value=cfg.background_value,
                min_len=cfg.min_len, max_len=cfg.max_len, skip_penalty=cfg.skip_penalty,
                node_budget=cfg.dfs_node_budget, top_k=cfg.top_k, chunk_seconds=cfg.chunk_seconds,
                substep_mode=substep_mode or cfg.substep_mode)


def predict_video(S_steps, S_subs, offset: int, video: Video, cfg: Config, aligner: str,
                  best_mode: str | None = None) -> dict[int, list[tuple[float, float]]]:
    """``{query_idx: windows}`` for one video and aligner (DFS over budget falls back to DP)."""
    kwargs = _align_kwargs(cfg, aligner)
    if best_mode:
        kwargs["best_mode"] = best_mode
    try:
        return predict_queries(video, S_steps, S_subs, chunk_offset=offset, **kwargs)
    except SearchBudgetExceeded:
        kwargs["aligner"] = "dp"
        out = predict_queries(video, S_steps, S_subs, chunk_offset=offset, **kwargs)
        out["dfs_fallback"] = True  # type: ignore[index]
        return out


@dataclass
class Evaluation:
    """What notebooks 03 and 04 evaluate: the val split, its features, the trained and untrained models."""

    val: Annotations
    store: object
    model: object
    untrained: object
    model_cfg: Config


def load_evaluation(cfg: Config) -> Evaluation:
    """Val annotations (``max_videos``), a caching feature store, the checkpoint's model and the same
    architecture untrained (same seed) as reference."""
    from vtkit.features import FeatureStore

    if not cfg.checkpoint_path().is_file():
        raise VtkitError(f"no checkpoint at {cfg.checkpoint_path()}: run 02_training.ipynb first (same out_dir) "
                         "or set the checkpoint parameter", field="checkpoint")
    val = load_annotations(cfg.val_annotations).head(cfg.max_videos)
    store = FeatureStore(cfg.video_root, cfg.feature_store, cfg.chunk_seconds, cache=True)
    model, model_cfg = load_model(cfg.checkpoint_path(), cfg)
    with warnings.catch_warnings():  # the untrained reference is deliberate
        warnings.simplefilter("ignore")
        untrained, _ = load_model(None, model_cfg.replace(device=cfg.device), store.feature_dim)
    return Evaluation(val, store, model, untrained, model_cfg)


@dataclass
class SplitPredictions:
    """Predictions of every aligner for a split, plus what was skipped and why."""

    by_aligner: dict[str, dict[tuple[str, str, int], list[tuple[float, float]]]]
    similarities: dict[str, tuple[np.ndarray, np.ndarray | None, int]]
    skipped: dict[str, str]
    dfs_fallbacks: int = 0


def predict_split(model, annotations: Annotations, store, cfg: Config, aligners: Iterable[str] = REPORT_ALIGNERS,
                  skip_missing: bool = False, progress: bool = True) -> SplitPredictions:
    """Similarities once per video, then every aligner; keys are ``(clip_uid, annotation_uid, query_idx)``."""
    from tqdm.auto import tqdm

    from vtkit.console import interactive_output

    progress = progress and interactive_output()
    aligners = list(aligners)
    out = {a: {} for a in aligners}
    sims, skipped, fallbacks = {}, {}, 0
    best_mode = None
    videos = [v for v in annotations.videos if v.queries]
    for video in tqdm(videos, desc="similarity", disable=not progress, leave=False):
        if video.video_uid not in store:
            if not skip_missing:
                raise VtkitError(f"no features for annotated video {video.video_uid!r} (set "
                                 "skip_missing_features=true to leave such videos out, counted)",
                                 path=getattr(store, "root", None), field=video.video_uid)
            skipped[video.video_uid] = "no features"
            continue
        sims[video.video_uid] = similarities(model, store[video.video_uid], video, cfg.chunk_seconds)
    if cfg.substep_mode == "best" and annotations.has_times and any(v.substeps for v in videos):
        from vtkit.align import select_substep_mode

        labelled = [v for v in videos if v.video_uid in sims]
        best_mode, _ = select_substep_mode(labelled, {u: s[0] for u, s in sims.items()},
                                           {u: s[1] for u, s in sims.items()},
                                           offsets={u: s[2] for u, s in sims.items()},
                                           **{k: v for k, v in _align_kwargs(cfg, "dp").items() if k != "substep_mode"})
    for aligner in aligners:
        for video in videos:
            if video.video_uid not in sims:
                continue
            S_steps, S_subs, offset = sims[video.video_uid]
            windows = predict_video(S_steps, S_subs, offset, video, cfg, aligner, best_mode)
            if windows.pop("dfs_fallback", False):  # type: ignore[call-overload]
                fallbacks += 1
            for q in video.queries:
                out[aligner][q.key] = windows[q.query_idx]
    return SplitPredictions(out, sims, skipped, fallbacks)


def step_settings(cfg: Config, aligner: str, n_steps: int, n_chunks: int, **overrides) -> dict:
    """:func:`vtkit.align.align` keywords for one step sequence: ``cfg``'s settings and ``overrides``,
    relaxed so that every step gets windows (e.g. more steps than chunks)."""
    kwargs = {k: v for k, v in _align_kwargs(cfg, aligner).items() if k not in ("chunk_seconds", "substep_mode")}
    return relaxed_settings({**kwargs, **overrides}, n_steps, n_chunks, own_bounds=True)


def align_steps(S, settings: dict, dfs_fallback: bool = False):
    """``align(S, **settings)``; with ``dfs_fallback`` a DFS over its budget yields the DP answer."""
    try:
        return align(S, **settings)
    except SearchBudgetExceeded:
        if not dfs_fallback:
            raise
        return align(S, **{**settings, "aligner": "dp"})


def step_spans(video: Video, sims_entry, cfg: Config, aligner: str) -> list[list[tuple[int, int]]]:
    """Each step's ranked chunk spans (video chunk indices) under ``aligner`` (substeps are not aligned)."""
    S_steps, _, offset = sims_entry
    result = align_steps(S_steps, step_settings(cfg, aligner, *S_steps.shape), dfs_fallback=True)
    return [[(s + offset, e + offset) for s, e in result.spans(k, cfg.top_k)] for k in range(len(video.steps))]


def explorer_callback(annotations: Annotations, sims: dict, cfg: Config):
    """The ``compute`` callback of :func:`vtkit.widgets.explore` for a split's similarities."""

    def compute(video_uid: str, aligner: str, background: str, background_value: float) -> dict:
        video = annotations.video(video_uid)
        ranked = step_spans(video, sims[video_uid], cfg.replace(background=background,
                                                                background_value=background_value), aligner)
        return {"S": sims[video_uid][0], "gt_spans": [q.chunk_span(cfg.chunk_seconds) for q in video.steps],
                "segments": {aligner: [spans[0] for spans in ranked]}, "topk": ranked,
                "step_labels": [q.description for q in video.steps], "chunk_seconds": cfg.chunk_seconds,
                "first_chunk": sims[video_uid][2]}

    return compute


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


def align_video(features, steps: Sequence[str], checkpoint: str | Path | None = None, aligner: str = "dp",
                chunk_seconds: float = 2.0, top_k: int = 5, cfg: Config | None = None,
                segment_counts: Sequence[int] | None = None, model=None, goal: tuple[float, float] | None = None,
                **align_kwargs) -> list[StepSegment]:
    """Time segments for one video's ordered ``steps``.

    ``features``: an ``[N, D]`` array or tensor, a per-chunk folder (``chunk_<i>.pt``) or a
    packed ``.npy`` file. ``goal``: ``(start, end)`` seconds to search in (the goal segment when
    known), else the whole video. Returns one :class:`StepSegment` per step: the top-1 window in
    seconds and its mean similarity (``score``), then up to ``top_k`` alternatives in rank order
    (best full alignment through each window, ``alignment_score``; the first is the top-1).
    Without a checkpoint (or ``model``) the untrained towers are used, with a warning saying so.
    """
    from vtkit.features import load_features

    steps = [str(s) for s in steps]
    if not steps:
        raise VtkitError("no steps given", field="steps")
    if any(not s.strip() for s in steps):
        raise VtkitError("a step description is empty", field="steps")
    feats = load_features(features, chunk_seconds=chunk_seconds)
    cfg = (cfg or Config()).replace(chunk_seconds=chunk_seconds, aligner=aligner, top_k=top_k)
    if model is None:
        model, _ = load_model(checkpoint, cfg, feats.shape[1])
    first, last = 0, len(feats) - 1
    if goal is not None:
        first, last = goal_chunk_range(goal, len(feats), chunk_seconds)
    S = model.similarity(feats[first: last + 1], steps)
    kwargs = step_settings(cfg, aligner, *S.shape, **align_kwargs)
    result = align_steps(S, kwargs)
    segments = []
    for k, text in enumerate(steps):
        ranked = dict(result.alternatives[k]) if result.alternatives else {}
        spans = result.spans(k, top_k)
        if segment_counts is not None and segment_counts[k] > 1:
            spans = _occurrences(S, result, k, segment_counts[k], top_k, kwargs)
        alts = [_window(S[k], span, chunk_seconds, first, ranked.get(span)) for span in spans]
        top = alts[0] if alts else {"start": 0.0, "end": 0.0, "score": float("nan")}
        segments.append(StepSegment(k, text, top["start"], top["end"], top["score"], alts))
    return segments


def _window(row: np.ndarray, span, chunk_seconds: float, offset: int = 0, rank_score: float | None = None) -> dict:
    start, end = chunks_to_seconds(span[0] + offset, span[1] + offset, chunk_seconds)
    out = {"start": start, "end": end, "score": round(float(np.mean(row[span[0]: span[1] + 1])), 6)}
    if rank_score is not None:
        out["alignment_score"] = round(float(rank_score), 6)
    return out


def _occurrences(S, result, k: int, count: int, top_k: int, kwargs: dict):
    """Windows of step ``k`` when it stands for ``count`` segments.

    The first is the aligner's; windows 2..count are the step's best remaining windows by its
    own gain over the background, never overlapping an earlier one; the rest are its ranked
    alternatives.
    """
    from vtkit.align import align_unordered, background_vector

    b = background_vector(S, kwargs.get("background", "percentile"), kwargs.get("background_value", 50.0))
    spans = list(result.spans(k, 1))
    row = np.asarray(S[k], dtype=np.float64).copy()
    blocked = -1e9 - np.abs(row).max()  # finite: a window through an earlier occurrence never wins
    while spans and len(spans) < min(count, top_k):
        for s, e in spans:
            row[s: e + 1] = blocked
        span = align_unordered(row[None], b, kwargs.get("min_len", 1), kwargs.get("max_len")).segments[0]
        if span is None or row[span[0]: span[1] + 1].min() == blocked:
            break  # no room left for another occurrence
        spans.append(span)
    spans += [sp for sp in result.spans(k, top_k) if sp not in spans]
    return spans[:top_k]


# --------------------------------------------------------------------------- subtitles and files


def read_steps(path: str | Path, video_uid: str | None = None) -> tuple[list[str], list[int], str | None, tuple | None]:
    """``(steps, segment counts, video_uid, goal window)`` from a text file (one step per line) or a
    GoalStep JSON (``--video-uid`` picks the video; its goal segment, when annotated, is the
    search window; substeps are not read)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        ann = load_annotations(path)
        if video_uid is None:
            if len(ann.videos) != 1:
                raise VtkitError(f"holds {len(ann.videos)} videos; choose one with --video-uid", path=path)
            video = ann.videos[0]
        else:
            video = ann.video(video_uid)
        goal = (video.start_time, video.end_time) if video.start_time is not None else None
        return [q.description for q in video.steps], [q.segment_count for q in video.steps], video.video_uid, goal
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise VtkitError("steps file not found", path=path) from None
    except UnicodeDecodeError:
        raise VtkitError("not UTF-8 text", path=path) from None
    steps = [line for line in lines if line and not line.startswith("#")]
    if not steps:
        raise VtkitError("no steps (one description per line)", path=path)
    return steps, [1] * len(steps), video_uid, None


def _timestamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_webvtt(segments: Sequence[StepSegment]) -> str:
    """WebVTT cues, one per step (``N. description``), in time order."""
    cues = ["WEBVTT", ""]
    for seg in sorted(segments, key=lambda s: (s.start, s.step_index)):
        cues += [f"step-{seg.step_index + 1}",
                 f"{_timestamp(seg.start, '.')} --> {_timestamp(seg.end, '.')}",
                 f"{seg.step_index + 1}. {seg.description}", ""]
    return "\n".join(cues)


def to_srt(segments: Sequence[StepSegment]) -> str:
    """SubRip cues, numbered in time order."""
    cues = []
    for i, seg in enumerate(sorted(segments, key=lambda s: (s.start, s.step_index)), 1):
        cues += [str(i), f"{_timestamp(seg.start, ',')} --> {_timestamp(seg.end, ',')}",
                 f"{seg.step_index + 1}. {seg.description}", ""]
    return "\n".join(cues)


def cli_predict(argv: list[str]) -> int:
    from vtkit.io import write_json, write_text

    p = argparse.ArgumentParser(prog="vtkit predict", description="Align one video's steps to its features.")
    p.add_argument("--features", required=True, help="[N, D] features: per-chunk folder, packed .npy or .pt tensor")
    p.add_argument("--steps", required=True, help="STEPS.txt (one per line) or GoalStep ANNOTATIONS.json")
    p.add_argument("--video-uid", help="which video of ANNOTATIONS.json")
    p.add_argument("--checkpoint", help="trained weights (checkpoints/best.safetensors); default: untrained")
    p.add_argument("--aligner", choices=ALIGNERS, help="default: the parameters' aligner (dp)")
    p.add_argument("--chunk-seconds", type=float, help="default: the parameters' chunk_seconds (2.0)")
    p.add_argument("--params", help="YAML of Config values (background, min_len, max_len, ...)")
    p.add_argument("--out", help="write segments as JSON here (default: print them)")
    p.add_argument("--vtt", help="write a WebVTT subtitle file")
    p.add_argument("--srt", help="write a SubRip subtitle file")
    args = p.parse_args(argv)
    cfg = Config.from_yaml(args.params) if args.params else Config()
    args.aligner = args.aligner or cfg.aligner
    args.chunk_seconds = args.chunk_seconds or cfg.chunk_seconds
    steps, counts, uid, goal = read_steps(args.steps, args.video_uid)
    import time

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        segments = align_video(args.features, steps, args.checkpoint, args.aligner, args.chunk_seconds,
                               cfg.top_k, cfg, counts, goal=goal)
    for w in caught:
        print(f"vtkit predict: note: {w.message}", file=sys.stderr)
    seconds = time.perf_counter() - t0
    doc = {"video_uid": uid, "aligner": args.aligner, "checkpoint": args.checkpoint,
           "chunk_seconds": args.chunk_seconds, "search_window": list(goal) if goal else None,
           "segments": [s.to_dict() for s in segments]}
    if args.out:
        write_json(args.out, doc)
    if args.vtt:
        write_text(args.vtt, to_webvtt(segments))
    if args.srt:
        write_text(args.srt, to_srt(segments))
    if not args.out:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    print(f"aligned {len(segments)} steps in {seconds:.2f} s", file=sys.stderr)
    return 0


def cli_submit(argv: list[str]) -> int:
    from vtkit.features import FeatureStore
    from vtkit.submission import write_submission

    p = argparse.ArgumentParser(prog="vtkit submit",
                                description="Build a challenge submission (5 windows per query) for a GoalStep file.")
    p.add_argument("annotations", help="GoalStep JSON: the test-split format, or an annotated split")
    p.add_argument("--features", required=True, help="VIDEO_ROOT (per-chunk folders) or a packed store")
    p.add_argument("--checkpoint", help="trained weights; default: untrained towers")
    p.add_argument("--aligner", choices=ALIGNERS, help="default: the parameters' aligner (dp)")
    p.add_argument("--params", help="YAML of Config values")
    p.add_argument("--out", required=True, help="submission JSON to write")
    p.add_argument("--skip-missing", action="store_true", help="leave out videos without features (counted)")
    args = p.parse_args(argv)
    cfg = Config.from_yaml(args.params) if args.params else Config()
    args.aligner = args.aligner or cfg.aligner
    ann = load_annotations(args.annotations)
    store = FeatureStore(args.features, chunk_seconds=cfg.chunk_seconds)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, _ = load_model(args.checkpoint, cfg, store.feature_dim)
    for w in caught:
        print(f"vtkit submit: note: {w.message}", file=sys.stderr)
    preds = submission_predictions(model, ann, store, cfg.replace(aligner=args.aligner), args.skip_missing)
    write_submission(args.out, preds.by_aligner[args.aligner])
    answered = preds.by_aligner[args.aligner]
    segments = sum(q.segment_count for q in ann.queries() if q.key in answered)
    print(f"wrote {len(answered)} queries ({segments} segments) to {args.out}")
    if preds.skipped:
        print(f"warning: {len(preds.skipped)} of {len(ann.videos)} videos have no features and were left out; "
              "the file is incomplete (check it with vtkit check-submission --partial)", file=sys.stderr)
    return 0


def submission_predictions(model, annotations: Annotations, store, cfg: Config, skip_missing: bool = False):
    """Predictions for a submission: test-split steps of several segments get them among their windows."""
    if annotations.has_times:
        return predict_split(model, annotations, store, cfg, [cfg.aligner], skip_missing, progress=False)
    out, skipped = {}, {}
    missing = [v.video_uid for v in annotations.videos if v.video_uid not in store]
    if missing and not skip_missing:
        raise VtkitError(f"{len(missing)} of {len(annotations.videos)} videos have no features (first: "
                         f"{missing[0]}); use --skip-missing to leave them out", path=getattr(store, "root", None))
    for video in annotations.videos:
        if video.video_uid in missing:
            skipped[video.video_uid] = "no features"
            continue
        if not video.steps:
            continue
        segments = align_video(store[video.video_uid], [q.description for q in video.steps], aligner=cfg.aligner,
                               chunk_seconds=cfg.chunk_seconds, top_k=cfg.top_k, cfg=cfg,
                               segment_counts=[q.segment_count for q in video.steps], model=model)
        for q, seg in zip(video.steps, segments):
            wins = [(a["start"], a["end"]) for a in seg.alternatives] or [(0.0, len(store[video.video_uid]) *
                                                                            cfg.chunk_seconds)]
            while len(wins) < cfg.top_k:
                wins.append(wins[-1])
            out[q.key] = wins
    return SplitPredictions({cfg.aligner: out}, {}, skipped)
