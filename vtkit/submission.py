"""Ego4D GoalStep step-grounding challenge files: write, read back, check offline.

Format::

    {"version": "1.0", "challenge": "ego4d_goalstep_challenge",
     "results": [{"clip_uid", "annotation_uid", "query_idx", "predicted_times": [[start, end], ... 5]}]}

Predictions inside the kit are a mapping ``(clip_uid, annotation_uid, query_idx)`` (the
``Query.key`` of :mod:`vtkit.annotations`) to ranked windows in seconds.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from vtkit.errors import VtkitError, describe
from vtkit.annotations import load_annotations
from vtkit.io import json_text, read_json, write_json

VERSION = "1.0"
CHALLENGE = "ego4d_goalstep_challenge"
TOP_K = 5
MAX_LISTED = 20
Key = tuple[str, str, int]


def write_submission(path: str | Path, predictions: Mapping[Key, Sequence]) -> Path:
    """Write ``predictions`` (key -> ranked windows in seconds) as a challenge file, atomically."""
    results = []
    for (clip_uid, annotation_uid, query_idx), windows in predictions.items():
        times = [[float(s), float(e)] for s, e in windows]
        results.append({"clip_uid": clip_uid, "annotation_uid": annotation_uid, "query_idx": int(query_idx),
                        "predicted_times": times})
    return write_json(path, {"version": VERSION, "challenge": CHALLENGE, "results": results}, indent=None)


def _finite(x) -> bool:
    return math.isfinite(x) if isinstance(x, float) else abs(x) < 2 ** 1023


def check_video_lengths(lengths: Any, path=None) -> dict[str, float]:
    """``{video_uid: seconds}``, each a finite number > 0 (a NaN would switch the bounds check off)."""
    if not isinstance(lengths, Mapping):
        raise VtkitError("expected a JSON object video_uid -> seconds", path=path)
    for uid, seconds in lengths.items():
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not _finite(seconds) \
                or not seconds > 0:
            raise VtkitError(f"video length must be a finite number of seconds > 0, got {describe(seconds)}",
                             path=path, field=describe(uid))
    return {uid: float(seconds) for uid, seconds in lengths.items()}


def _record_problems(i: int, rec: Any, k: int) -> tuple[Key | None, list[tuple[float, float]] | None, list[str]]:
    """Parse one result record: (key or None if the ids are bad, valid windows, problems naming it)."""
    if not isinstance(rec, dict):
        return None, None, [f"results[{i}]: must be an object, got {type(rec).__name__}"]
    ids = ", ".join(f"{f}={describe(rec.get(f))}" for f in ("clip_uid", "annotation_uid", "query_idx") if f in rec)
    where = f"results[{i}] ({ids})" if ids else f"results[{i}]"
    problems = []
    for f in ("clip_uid", "annotation_uid"):
        if not isinstance(rec.get(f), str):
            problems.append(f"{where}: {f} missing or not a string")
    qi = rec.get("query_idx")
    if isinstance(qi, bool) or not isinstance(qi, int):
        problems.append(f"{where}: query_idx missing or not an integer")
    ids_ok = not problems
    times = rec.get("predicted_times")
    windows: list[tuple[float, float]] = []
    if not isinstance(times, list):
        problems.append(f"{where}: predicted_times missing or not a list")
    else:
        if len(times) < k:
            problems.append(f"{where}: {len(times)} predicted windows, expected {k}")
        for j, w in enumerate(times):
            if (not isinstance(w, (list, tuple)) or len(w) != 2
                    or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in w)):
                problems.append(f"{where}: predicted_times[{j}] must be [start, end] numbers, got {describe(w)}")
                continue
            if not all(_finite(x) for x in w):
                problems.append(f"{where}: predicted_times[{j}] is not finite: {describe(w)}")
                continue
            start, end = float(w[0]), float(w[1])
            if not start < end:  # as the challenge checker: an empty window is refused too
                problems.append(f"{where}: predicted_times[{j}] is empty or starts after it ends: [{start}, {end}] "
                                "(start < end required)")
                continue
            windows.append((start, end))
    key = (rec["clip_uid"], rec["annotation_uid"], qi) if ids_ok else None
    return key, windows, problems


def _results(data: Any, path) -> list:
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise VtkitError("expected a JSON object with a 'results' list", path=path, field="results")
    return data["results"]


def read_predictions(path: str | Path, annotations, k: int = TOP_K) -> dict[Key, list[tuple[float, float]]]:
    """Read a challenge file into ``{key: windows}``; the first bad record is a one-line VtkitError.

    Errors name the record (index and ids): unknown ids, missing fields, fewer than ``k``
    windows, empty or reversed windows (``start < end`` is required), non-finite numbers, a query answered
    twice.
    """
    known = annotations.key_index()
    out: dict[Key, list[tuple[float, float]]] = {}
    for i, rec in enumerate(_results(read_json(path, "predictions"), path)):
        key, windows, problems = _record_problems(i, rec, k)
        if problems or key is None:
            raise VtkitError(problems[0], path=path)
        where = f"results[{i}] (clip_uid={describe(key[0])}, annotation_uid={describe(key[1])}, query_idx={key[2]})"
        if key not in known:
            raise VtkitError(f"{where}: unknown query (not in {Path(annotations.path).name})", path=path)
        if key in out:
            raise VtkitError(f"{where}: query answered more than once", path=path)
        out[key] = windows
    return out


def check_submission(path: str | Path, annotations, video_lengths: Mapping[str, float] | None = None,
                     partial: bool = False) -> list[str]:
    """Every problem that would make the challenge server reject or misread the file.

    Checks the schema, ``version`` and ``challenge``, that every query is answered exactly
    once with exactly 5 finite windows, ``start < end``, no unknown ids, and, for videos in
    ``video_lengths`` (seconds), that windows lie inside ``[0, length]``.
    ``partial=True`` checks a submission for a subset of the videos: only the videos it
    answers (``clip_uid`` of its known queries) must have all their queries answered.
    """
    return _check(path, annotations, video_lengths, partial)[0]


def _check(path, annotations, video_lengths, partial: bool) -> tuple[list[str], dict[Key, int]]:
    """``(problems, answered)``: see :func:`check_submission`; ``answered`` maps key -> record index."""
    answered: dict[Key, int] = {}
    try:
        data = read_json(path, "submission")
    except VtkitError as err:
        return [str(err)], answered
    if not isinstance(data, dict):
        return [f"top level must be an object, got {type(data).__name__}"], answered
    problems = []
    if data.get("version") != VERSION:
        problems.append(f"version must be {VERSION!r}, got {describe(data.get('version'))}")
    if data.get("challenge") != CHALLENGE:
        problems.append(f"challenge must be {CHALLENGE!r}, got {describe(data.get('challenge'))}")
    if not isinstance(data.get("results"), list):
        return problems + ["results missing or not a list"], answered
    known = annotations.key_index()
    lengths = check_video_lengths(video_lengths or {})
    for i, rec in enumerate(data["results"]):
        key, windows, rec_problems = _record_problems(i, rec, TOP_K)
        problems += rec_problems
        if key is None:
            continue
        where = f"results[{i}] (clip_uid={describe(key[0])}, annotation_uid={describe(key[1])}, query_idx={key[2]})"
        if key not in known:
            problems.append(f"{where}: unknown query")
        elif key in answered:
            problems.append(f"{where}: query already answered by results[{answered[key]}]")
        else:
            answered[key] = i
        if len(windows) > TOP_K:
            problems.append(f"{where}: {len(windows)} predicted windows, expected {TOP_K}")
        length = lengths.get(key[0])
        for j, (s, e) in enumerate(windows):
            if s < 0 or (length is not None and e > length + 1e-6):
                bound = f"[0, {length}]" if length is not None else "[0, ...)"
                problems.append(f"{where}: predicted_times[{j}] [{s}, {e}] lies outside the video {bound}")
    if partial:
        videos = {clip for clip, _, _ in answered}
        expected = [key for key in known if key[0] in videos]
        if not answered:
            problems.append("no query of the annotations is answered")
    else:
        expected = list(known)
    missing = [key for key in expected if key not in answered]
    if missing:
        shown = ", ".join(f"{c}/{q}" for c, _, q in missing[:3])
        scope = " of the answered videos" if partial else ""
        problems.append(f"{len(missing)} of {len(expected)} queries{scope} have no answer (e.g. {shown})")
    return problems, answered


def cli_check_submission(argv: list[str]) -> int:
    from vtkit.options import ArgumentParser

    parser = ArgumentParser(prog="vtkit check-submission",
                            description="Validate a GoalStep challenge submission offline.")
    parser.add_argument("submission", help="submission JSON")
    parser.add_argument("annotations", help="the annotation file it answers (val format or test-split format)")
    parser.add_argument("--video-lengths", metavar="FILE.json",
                        help="JSON object video_uid -> length in seconds; windows must lie inside")
    parser.add_argument("--partial", action="store_true",
                        help="the submission answers a subset of the videos: only those videos must be complete")
    args = parser.parse_args(argv)

    ann = load_annotations(args.annotations)
    lengths = None
    if args.video_lengths:
        lengths = check_video_lengths(read_json(args.video_lengths, "video lengths"), args.video_lengths)
    problems, answered = _check(args.submission, ann, lengths, args.partial)
    for line in problems[:MAX_LISTED]:
        print(line)
    if len(problems) > MAX_LISTED:
        print(f"... and {len(problems) - MAX_LISTED} more problems")
    if problems:
        return 1
    if args.partial:
        print(f"OK: {len(answered)} queries of {len({clip for clip, _, _ in answered})} videos (partial)")
    else:
        print(f"OK: {len(ann.key_index())} queries")
    return 0


def cli_evaluate(argv: list[str]) -> int:
    from vtkit.metrics import KS, THRESHOLDS, format_table, metric_name, missing_predictions, score
    from vtkit.options import ArgumentParser

    parser = ArgumentParser(prog="vtkit evaluate",
                                     description="Score predictions (challenge submission format) against GoalStep "
                                                 "annotations: R1/R5 at IoU 0.3/0.5 and mIoU.")
    parser.add_argument("predictions", help="predictions JSON in the challenge submission format")
    parser.add_argument("annotations", help="GoalStep annotation JSON with times (e.g. goalstep_valid.json)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the overall metrics")
    parser.add_argument("--top-k", type=int, default=max(KS), choices=sorted(KS),
                        help="windows each prediction must have (default 5; 1 for top-1-only files, "
                             "which are then scored for R1 and mIoU only)")
    args = parser.parse_args(argv)
    ann = load_annotations(args.annotations)
    if not ann.has_times:
        raise VtkitError("annotations have no times (test split); cannot score", path=args.annotations)
    preds = read_predictions(args.predictions, ann, k=args.top_k)
    queries = ann.queries()
    ks = tuple(k for k in KS if k <= args.top_k)
    result = score(preds, queries, ks=ks)
    missing = missing_predictions(preds, queries)
    if args.json:
        flat = {n: result[n] for n in [metric_name(k, t) for k in ks for t in THRESHOLDS] + ["mIoU", "queries"]}
        sys.stdout.write(json_text(flat, indent=None) + "\n")
        if missing:
            print(f"vtkit evaluate: note: {missing} queries have no prediction (counted as misses)", file=sys.stderr)
    else:
        print(format_table(result, missing))
    return 0
