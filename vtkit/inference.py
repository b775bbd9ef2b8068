"""One video in, segments out: :func:`align_video`, subtitles, ``vtkit predict`` and ``vtkit submit``.

* :func:`align_video` -- one video's ``[N, D]`` features (array, per-chunk folder or packed
  file) and its ordered step descriptions in, one window per step (plus top-5) out.
* ``vtkit predict`` / ``vtkit submit`` -- the same from the command line; a whole annotated split
  goes through :func:`vtkit.predict.predict_split`, as in evaluation.

The search range: when the goal segment is known (annotated splits) the steps are aligned
inside the goal segment's chunks; otherwise (test split, one-off videos) over the whole video,
whose length is taken from the features (``N * chunk_seconds``).

Steps standing for several segments (``segment_count > 1`` in the test split) get their
occurrences among their top windows: the alternatives are ranked by max-marginal score with
non-maximum suppression, so windows 2..c are the step's next-best placements that do not
overlap its first one (suppression at IoU 0 for such steps).
"""
from __future__ import annotations

import sys
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from vtkit.align import ALIGNERS, AlignSettings, align_unordered, background_vector, length_bounds, query_scores
from vtkit.annotations import Annotations, load_annotations
from vtkit.checkpoint import load_model
from vtkit.config import Config
from vtkit.errors import VtkitError
from vtkit.features import require_features
from vtkit.predict import SplitPredictions, align_steps, predict_split
from vtkit.timeline import DEFAULT_CHUNK_SECONDS, chunk_of, chunks_to_seconds, goal_chunk_range


@dataclass
class StepSegment:
    """One step's predicted window (seconds), its mean similarity, and ranked alternatives."""

    step_index: int
    description: str
    start: float
    end: float
    score: float
    alternatives: list[dict] = field(default_factory=list)
    aligner: str = "dp"          # the aligner that produced it ("dp" where a DFS over budget fell back)

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- one video


def align_video(features, steps: Sequence[str], checkpoint: str | Path | None = None,
                settings: AlignSettings | None = None, *, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                segment_counts: Sequence[int] | None = None, model=None,
                goal: tuple[float, float] | None = None) -> list[StepSegment]:
    """Time segments for one video's ordered ``steps``.

    ``features``: an ``[N, D]`` array or tensor, a per-chunk folder (``chunk_<i>.pt``) or a
    packed ``.npy`` file. ``settings``: the alignment (:class:`vtkit.align.AlignSettings`; default
    the DP with the kit's defaults). ``goal``: ``(start, end)`` seconds to search in (the goal
    segment when known), else the whole video. Returns one :class:`StepSegment` per step: the
    top-1 window in seconds and its mean similarity (``score``, raw cosine), then up to ``settings.top_k``
    alternatives in rank order (best full alignment through each window, ``alignment_score``, in the
    aligner's scores: see ``settings.query_norm``; the first is the top-1). Without a checkpoint (or ``model``) the untrained towers are used, with a
    warning saying so. A DFS over its budget falls back to the DP (``StepSegment.aligner`` says so).
    """
    from vtkit.features import load_features

    steps = [str(s) for s in steps]
    if not steps:
        raise VtkitError("no steps given", field="steps")
    if any(not s.strip() for s in steps):
        raise VtkitError("a step description is empty", field="steps")
    settings = settings or AlignSettings()
    feats = load_features(features, chunk_seconds=chunk_seconds)
    if model is None:
        model = load_model(checkpoint, Config(chunk_seconds=chunk_seconds), feats.shape[1])
    first, last = 0, len(feats) - 1
    if goal is not None:
        if chunk_of(goal[0], chunk_seconds) >= len(feats):
            raise VtkitError(f"the goal segment starts at {goal[0]} s, but the features end at "
                             f"{len(feats) * chunk_seconds:g} s: wrong features or chunk_seconds?", field="goal")
        first, last = goal_chunk_range(goal, len(feats), chunk_seconds)
    S = model.similarity(feats[first: last + 1], steps)
    relaxed = settings.relaxed(*S.shape, own_bounds=True)
    scores = query_scores(S, settings.query_norm)
    result = align_steps(scores, relaxed, dfs_fallback=True)
    segments = []
    for k, text in enumerate(steps):
        ranked = dict(result.alternatives[k]) if result.alternatives else {}
        spans = result.spans(k, settings.top_k)
        if segment_counts is not None and segment_counts[k] > 1:
            spans = _occurrences(scores, result, k, segment_counts[k], relaxed)
        alts = [_window(S[k], span, chunk_seconds, first, ranked.get(span)) for span in spans]
        top = alts[0] if alts else {"start": 0.0, "end": 0.0, "score": float("nan")}
        segments.append(StepSegment(k, text, top["start"], top["end"], top["score"], alts, result.aligner))
    return segments


def _window(row: np.ndarray, span, chunk_seconds: float, offset: int = 0, rank_score: float | None = None) -> dict:
    start, end = chunks_to_seconds(span[0] + offset, span[1] + offset, chunk_seconds)
    out = {"start": start, "end": end, "score": round(float(np.mean(row[span[0]: span[1] + 1])), 6)}
    if rank_score is not None:
        out["alignment_score"] = round(float(rank_score), 6)
    return out


def _occurrences(S, result, k: int, count: int, settings: AlignSettings):
    """Windows of step ``k`` when it stands for ``count`` segments.

    The first is the aligner's; windows 2..count are the step's best remaining windows by its
    own gain over the background, never overlapping an earlier one (shorter than ``min_len`` where
    only gaps that short are left); the rest are its ranked alternatives.
    """
    top_k = settings.top_k
    b = background_vector(S, settings.background, settings.background_value)
    spans = list(result.spans(k, 1))
    row = np.asarray(S[k], dtype=np.float64).copy()
    own_min = int(length_bounds(settings.min_len, settings.max_len, *np.shape(S))[0][k])
    blocked = -1e9 - np.abs(row).max()  # finite: a window through an earlier occurrence never wins
    while spans and len(spans) < min(count, top_k):
        for s, e in spans:
            row[s: e + 1] = blocked
        for min_len in dict.fromkeys((own_min, 1)):   # where min_len leaves no room, shorter windows
            span = align_unordered(row[None], b, min_len, settings.max_len).segments[0]
            if span is not None and row[span[0]: span[1] + 1].min() != blocked:
                break
        else:
            break  # no room left for another occurrence
        spans.append(span)
    spans += [sp for sp in result.spans(k, top_k) if sp not in spans]
    return spans[:top_k]


# --------------------------------------------------------------------------- subtitles and files


def read_steps(path: str | Path, video_uid: str | None = None) -> tuple[list[str], list[int], str | None, tuple | None]:
    """``(steps, segment counts, video_uid, goal window)`` from a text file or a GoalStep JSON.

    A text file (UTF-8; a leading byte-order mark is dropped) holds one step description per line,
    in order; surrounding blanks are trimmed, and blank lines and lines whose first non-blank
    character is ``#`` (comments) are skipped. A GoalStep JSON: ``--video-uid`` picks the video;
    its goal segment, when annotated, is the search window; substeps are not read.
    """
    from vtkit.io import read_text

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
    lines = [line.strip() for line in read_text(path, "steps").splitlines()]
    steps = [line for line in lines if line and not line.startswith("#")]
    if not steps:
        raise VtkitError("no steps (one description per line; blank lines and # comments are skipped)", path=path)
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
    from vtkit.options import ArgumentParser, output_file, positive_float
    from vtkit.io import json_text, write_json, write_text

    p = ArgumentParser(prog="vtkit predict", description="Align one video's steps to its features.")
    p.add_argument("--features", required=True, help="[N, D] features: per-chunk folder, packed .npy or .pt tensor")
    p.add_argument("--steps", required=True, help="STEPS.txt (one per line) or GoalStep ANNOTATIONS.json")
    p.add_argument("--video-uid", help="which video of ANNOTATIONS.json")
    p.add_argument("--checkpoint", help="trained weights (checkpoints/best.safetensors); default: untrained")
    p.add_argument("--aligner", choices=ALIGNERS, help="default: the parameters' aligner (dp)")
    p.add_argument("--chunk-seconds", type=positive_float, help="default: the parameters' chunk_seconds (2.0)")
    p.add_argument("--params", help="YAML of Config values (background, min_len, max_len, ...)")
    p.add_argument("--out", type=output_file, help="write segments as JSON here (default: print them)")
    p.add_argument("--vtt", type=output_file, help="write a WebVTT subtitle file")
    p.add_argument("--srt", type=output_file, help="write a SubRip subtitle file")
    p.add_argument("--text-model", help="text model of the untrained towers: all-MiniLM-L6-v2, a local model "
                                        "folder or a LaViLa checkpoint (.pth); default: the parameters'")
    args = p.parse_args(argv)
    cfg = Config.from_yaml(args.params) if args.params else Config()
    cfg = cfg.replace(text_model=args.text_model) if args.text_model else cfg
    args.aligner = args.aligner or cfg.aligner
    if args.chunk_seconds is None:
        args.chunk_seconds = cfg.chunk_seconds
    steps, counts, uid, goal = read_steps(args.steps, args.video_uid)
    import time

    from vtkit.features import load_features

    t0 = time.perf_counter()
    cfg = cfg.replace(chunk_seconds=args.chunk_seconds)
    features = load_features(args.features, chunk_seconds=cfg.chunk_seconds)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(args.checkpoint, cfg, features.shape[1])
        segments = align_video(features, steps, settings=AlignSettings.from_config(cfg).replace(aligner=args.aligner),
                               chunk_seconds=cfg.chunk_seconds, segment_counts=counts, model=model, goal=goal)
    for w in caught:
        print(f"vtkit predict: note: {w.message}", file=sys.stderr)
    if segments and segments[0].aligner != args.aligner:
        print(f"vtkit predict: note: the DFS went over its node budget ({cfg.dfs_node_budget:,}); the segments are "
              "the DP's (the same optimum)", file=sys.stderr)
    seconds = time.perf_counter() - t0
    doc = {"video_uid": uid, "aligner": segments[0].aligner if segments else args.aligner, "checkpoint": args.checkpoint,
           "chunk_seconds": args.chunk_seconds, "search_window": list(goal) if goal else None,
           "segments": [s.to_dict() for s in segments]}
    if args.out:
        write_json(args.out, doc)
    if args.vtt:
        write_text(args.vtt, to_webvtt(segments))
    if args.srt:
        write_text(args.srt, to_srt(segments))
    if not args.out:
        sys.stdout.write(json_text(doc) + "\n")
    print(f"aligned {len(segments)} steps in {seconds:.2f} s", file=sys.stderr)
    return 0


def cli_submit(argv: list[str]) -> int:
    from vtkit.features import FeatureStore
    from vtkit.submission import write_submission

    from vtkit.options import ArgumentParser, output_file

    p = ArgumentParser(prog="vtkit submit",
                       description="Build a challenge submission (5 windows per query) for a GoalStep file.")
    p.add_argument("annotations", help="GoalStep JSON: the test-split format, or an annotated split")
    p.add_argument("--features", required=True, help="VIDEO_ROOT (per-chunk folders) or a packed store")
    p.add_argument("--checkpoint", help="trained weights; default: untrained towers")
    p.add_argument("--aligner", choices=ALIGNERS, help="default: the parameters' aligner (dp)")
    p.add_argument("--params", help="YAML of Config values")
    p.add_argument("--out", required=True, type=output_file, help="submission JSON to write")
    p.add_argument("--skip-missing", action="store_true", help="leave out videos without features (counted)")
    p.add_argument("--text-model", help="text model of the untrained towers: all-MiniLM-L6-v2, a local model "
                                        "folder or a LaViLa checkpoint (.pth); default: the parameters'")
    args = p.parse_args(argv)
    cfg = Config.from_yaml(args.params) if args.params else Config()
    cfg = cfg.replace(text_model=args.text_model) if args.text_model else cfg
    args.aligner = args.aligner or cfg.aligner
    ann = load_annotations(args.annotations)
    store = FeatureStore(args.features, chunk_seconds=cfg.chunk_seconds)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(args.checkpoint, cfg, store.feature_dim)
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


def submission_predictions(model, annotations: Annotations, store, cfg: Config,
                           skip_missing: bool = False) -> SplitPredictions:
    """Predictions for a submission: test-split steps of several segments get them among their windows."""
    if annotations.has_times:
        return predict_split(model, annotations, store, cfg, [cfg.aligner], skip_missing, progress=False)
    out = {}
    skipped = {uid: "no features" for uid in require_features(annotations.videos, store, skip_missing)}
    settings, fallbacks = AlignSettings.from_config(cfg), []
    for video in annotations.videos:
        if video.video_uid in skipped or not video.steps:
            continue
        features = store[video.video_uid]
        segments = align_video(features, [q.description for q in video.steps], settings=settings,
                               chunk_seconds=cfg.chunk_seconds,
                               segment_counts=[q.segment_count for q in video.steps], model=model)
        if segments and segments[0].aligner != settings.aligner:
            fallbacks.append(video.video_uid)
        for q, seg in zip(video.steps, segments):
            wins = [(a["start"], a["end"]) for a in seg.alternatives] or [(0.0, len(features) * cfg.chunk_seconds)]
            while len(wins) < cfg.top_k:
                wins.append(wins[-1])
            out[q.key] = wins
    return SplitPredictions({cfg.aligner: out}, {}, skipped, fallbacks)
