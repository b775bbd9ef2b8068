"""Ego4D GoalStep annotations: read, flatten to queries with official ids, summarise.

Two formats are read (autodetected per file):

* the annotated splits (train / val): videos with a goal segment and two levels of
  ``segments`` (steps, then substeps), all times in absolute seconds of the video;
* the test split: ``video_uid`` with ordered ``step_segments`` of ``step_description``
  and ``segment_count``, no times.

Queries follow the official step-grounding conversion: one clip per video
(``clip_uid = video_uid``), ``annotation_uid = f"{video_uid}_{start_time}_{end_time}"``
(the goal segment's floats as Python prints them; in the test split the video_uid),
queries in file order, each step followed by its substeps, ``query_idx`` = position.

Policy for the known messiness of the real files (nothing is dropped, so ids stay
official; each case is counted in ``Annotations.issues`` and shown by ``vtkit inspect``):

==============================  ======================================================
steps partly outside the goal   kept as annotated (the scorer uses the raw times)
substeps outside their parent   kept as annotated
overlapping consecutive steps   kept; chunks in the overlap belong to both steps
steps out of order              kept in file order (the official query order)
missing ``is_*`` fields         ``is_relevant`` is None, the rest default to None
grouped ``grp-`` videos         one video: features are the member videos end to end
repeated descriptions           kept; negatives are drawn by text, not by step
==============================  ======================================================

Hard errors (a one-line :class:`VtkitError` naming the file and field): malformed JSON,
missing required keys, non-numeric, negative, non-finite, absurdly large (over
:data:`MAX_SECONDS`) or reversed times, empty descriptions, duplicate video ids, a video id
that is not a plain name (see :func:`video_uid_problem`: it becomes a file name under the
feature folder), and a file mixing annotated and test-split records.
"""
from __future__ import annotations

import math
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vtkit.errors import VtkitError, describe
from vtkit.io import json_text, read_json
from vtkit.timeline import DEFAULT_CHUNK_SECONDS, chunk_of, seconds_to_chunks

RELEVANCE = ("essential", "optional", "irrelevant", "unsure")
OVERLAP_ISSUE = "consecutive step pairs overlapping (kept)"  # key of Annotations.issues
MAX_SECONDS = 1e7          # about 115 days: any later time is a corrupt record
MAX_UID_BYTES = 200        # a video uid is a file name (with .npy / .json appended)
FORMATS = {"annotated": "the annotated format (segments with times)",
           "test": "the test-split format (step_segments, no times)"}


def video_uid_problem(uid: str) -> str | None:
    """Why ``uid`` cannot name a video, or None: it is a file name under the feature folder, never a path."""
    if not uid.strip():
        return "is empty"
    if "/" in uid or "\\" in uid:
        return "holds a path separator"
    if ".." in uid or uid == ".":
        return "holds '..' or is '.'"
    if not uid.isprintable():
        return "holds control characters"
    if len(uid.encode("utf-8", "surrogatepass")) > MAX_UID_BYTES:
        return f"is longer than {MAX_UID_BYTES} bytes"
    return None


def check_goal_within(video: "Video", n_chunks: int, chunk_seconds: float, where=None) -> None:
    """Refuse features that end before ``video``'s goal segment starts (searching would silently fall
    back to their last chunk); ``where`` names the features in the message."""
    if video.start_time is None:
        return
    if chunk_of(video.start_time, chunk_seconds) >= n_chunks:
        raise VtkitError(f"the goal segment of video {describe(video.video_uid)} starts at {video.start_time} s, but "
                         f"its features end at {n_chunks * chunk_seconds:g} s ({n_chunks} chunks of {chunk_seconds:g} "
                         "s): wrong features or chunk_seconds?", path=where, field=f"{video.video_uid}.start_time")


@dataclass
class Query:
    """One step or substep: one grounding query."""

    video_uid: str
    annotation_uid: str
    query_idx: int
    level: str
    description: str
    start: float | None
    end: float | None
    step_index: int
    parent_query_idx: int | None = None
    step_category: str | None = None
    is_relevant: str | None = None
    segment_count: int = 1

    @property
    def key(self) -> tuple[str, str, int]:
        """``(clip_uid, annotation_uid, query_idx)``, the submission's id of this query."""
        return self.video_uid, self.annotation_uid, self.query_idx

    @property
    def duration(self) -> float | None:
        return None if self.start is None else self.end - self.start

    def chunk_span(self, chunk_seconds: float = DEFAULT_CHUNK_SECONDS) -> tuple[int, int]:
        """Inclusive chunk indices this query covers."""
        if self.start is None:
            raise VtkitError("the test split has no times", field=f"{self.video_uid} query {self.query_idx}")
        return seconds_to_chunks(self.start, self.end, chunk_seconds)


@dataclass
class Video:
    video_uid: str
    start_time: float | None
    end_time: float | None
    goal_category: str | None
    goal_description: str | None
    queries: list[Query] = field(default_factory=list)

    @property
    def annotation_uid(self) -> str:
        if self.start_time is None:
            return self.video_uid
        return f"{self.video_uid}_{self.start_time}_{self.end_time}"

    @property
    def steps(self) -> list[Query]:
        return [q for q in self.queries if q.level == "step"]

    @property
    def substeps(self) -> list[Query]:
        return [q for q in self.queries if q.level == "substep"]

    def substeps_of(self, step: Query) -> list[Query]:
        return [q for q in self.queries if q.parent_query_idx == step.query_idx]

    @property
    def is_grouped(self) -> bool:
        return self.video_uid.startswith("grp-")


@dataclass
class Annotations:
    path: Path
    split: str | None
    version: str | None
    videos: list[Video]
    has_times: bool
    issues: Counter = field(default_factory=Counter)

    def __post_init__(self):
        self._by_uid = {v.video_uid: v for v in self.videos}

    def video(self, uid: str) -> Video:
        try:
            return self._by_uid[uid]
        except KeyError:
            raise VtkitError(f"unknown video_uid {describe(uid)}", path=self.path) from None

    def __contains__(self, uid: str) -> bool:
        return uid in self._by_uid

    def queries(self) -> list[Query]:
        return [q for v in self.videos for q in v.queries]

    def key_index(self) -> dict[tuple[str, str, int], Query]:
        return {q.key: q for q in self.queries()}

    @property
    def warnings(self) -> list[str]:
        return [f"{n} {what}" for what, n in sorted(self.issues.items()) if n]

    def head(self, n: int | None) -> "Annotations":
        """The first ``n`` videos (all when ``n`` is None): quick runs with ``max_videos``."""
        return self if n is None else self.subset([v.video_uid for v in self.videos[:n]])

    def subset(self, uids) -> "Annotations":
        """The same annotations restricted to ``uids`` (in file order)."""
        keep = set(uids)
        return Annotations(self.path, self.split, self.version, [v for v in self.videos if v.video_uid in keep],
                           self.has_times, Counter(self.issues))


def load_annotations(path: str | Path) -> Annotations:
    """Read a GoalStep annotation file (annotated splits or the test-split format)."""
    path = Path(path)
    data = read_json(path, "GoalStep annotation")
    if not isinstance(data, dict) or "videos" not in data:
        raise VtkitError("expected a JSON object with a 'videos' list", path=path, field="videos")
    videos_raw = data["videos"]
    if not isinstance(videos_raw, list):
        raise VtkitError(f"must be a list, got {type(videos_raw).__name__}", path=path, field="videos")
    has_times = _file_format(videos_raw, path) == "annotated"
    issues: Counter = Counter()
    reader = _Reader(path, issues)
    videos = [reader.video(v, i) if has_times else reader.test_video(v, i) for i, v in enumerate(videos_raw)]
    seen: set[str] = set()
    for i, v in enumerate(videos):
        if v.video_uid in seen:
            raise VtkitError(f"duplicate video_uid {describe(v.video_uid)}", path=path, field=f"videos[{i}].video_uid")
        seen.add(v.video_uid)
    split = data.get("split") if isinstance(data.get("split"), str) else None
    version = data.get("version") if isinstance(data.get("version"), str) else None
    return Annotations(path, split, version, videos, has_times, issues)


def _record_format(raw: Any) -> str | None:
    """``"test"``, ``"annotated"`` or None (a record that shows neither: read as the file's format)."""
    if not isinstance(raw, dict):
        return None
    if "step_segments" in raw:
        return "test"
    if any(key in raw for key in ("segments", "start_time", "end_time")):
        return "annotated"
    return None


def _file_format(videos_raw: list, path: Path) -> str:
    """The one format of a file's records; a record of the other format is an error, not a switch."""
    found = [(i, f) for i, raw in enumerate(videos_raw) if (f := _record_format(raw)) is not None]
    if not found:
        return "annotated"
    first, kind = found[0]
    for i, other in found:
        if other != kind:
            raise VtkitError(f"a record in {FORMATS[other]}, in a file of records in {FORMATS[kind]} (like "
                             f"videos[{first}]); a file holds one format", path=path, field=f"videos[{i}]")
    return kind


class _Reader:
    """Validates one file's records, naming the exact field on error."""

    def __init__(self, path: Path, issues: Counter):
        self.path = path
        self.issues = issues

    def fail(self, where: str, message: str):
        raise VtkitError(message, path=self.path, field=where)

    def obj(self, raw: Any, where: str) -> dict:
        if not isinstance(raw, dict):
            self.fail(where, f"must be an object, got {type(raw).__name__}")
        return raw

    def text(self, raw: dict, key: str, where: str, required: bool = True) -> str | None:
        value = raw.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            self.fail(f"{where}.{key}", "missing" if key not in raw else f"must be a string, got {describe(value)}")
        if required and not value.strip():
            self.fail(f"{where}.{key}", "is empty")
        return value

    def uid(self, raw: dict, where: str) -> str:
        uid = self.text(raw, "video_uid", where)
        problem = video_uid_problem(uid)
        if problem:
            self.fail(f"{where}.video_uid", f"{problem}: a video_uid names a features file, never a path; got "
                                            f"{describe(uid)}")
        return uid

    def time(self, raw: dict, key: str, where: str) -> float:
        value = raw.get(key)
        if key not in raw:
            self.fail(f"{where}.{key}", "missing")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"{where}.{key}", f"must be a number of seconds, got {describe(value)}")
        if not (math.isfinite(value) if isinstance(value, float) else abs(value) < 2 ** 1023):
            self.fail(f"{where}.{key}", f"must be finite, got {describe(value)}")
        if value < 0:
            self.fail(f"{where}.{key}", f"must be >= 0, got {describe(value)}")
        if value > MAX_SECONDS:
            self.fail(f"{where}.{key}", f"must be at most {MAX_SECONDS:g} s, got {describe(value)}")
        return value

    def window(self, raw: dict, where: str) -> tuple[float, float]:
        start, end = self.time(raw, "start_time", where), self.time(raw, "end_time", where)
        if end <= start:
            self.fail(f"{where}.end_time", f"end_time {end!r} is not after start_time {start!r}")
        return start, end

    def children(self, raw: dict, key: str, where: str) -> list:
        value = raw.get(key, [])
        if not isinstance(value, list):
            self.fail(f"{where}.{key}", f"must be a list, got {type(value).__name__}")
        return value

    def video(self, raw: Any, i: int) -> Video:
        where = f"videos[{i}]"
        raw = self.obj(raw, where)
        uid = self.uid(raw, where)
        where = f"videos[{i}] ({uid})"
        g_start, g_end = self.window(raw, where)
        video = Video(uid, g_start, g_end, self.text(raw, "goal_category", where, required=False),
                      self.text(raw, "goal_description", where, required=False))
        ann = video.annotation_uid
        prev_start = None
        prev_end = None
        for j, step_raw in enumerate(self.children(raw, "segments", where)):
            s_where = f"{where}.segments[{j}]"
            step_raw = self.obj(step_raw, s_where)
            start, end = self.window(step_raw, s_where)
            if start < g_start or end > g_end:
                self.issues["steps partly outside their goal segment (kept)"] += 1
            if prev_start is not None:
                if start < prev_start:
                    self.issues["steps starting before the previous step (kept in file order)"] += 1
                if start < prev_end:
                    self.issues[OVERLAP_ISSUE] += 1
            prev_start, prev_end = start, end
            if "is_relevant" not in step_raw:
                self.issues["steps without is_* fields (relevance unlabelled)"] += 1
            step = self.query(video, ann, step_raw, s_where, "step", j, None, start, end)
            video.queries.append(step)
            for m, sub_raw in enumerate(self.children(step_raw, "segments", s_where)):
                u_where = f"{s_where}.segments[{m}]"
                sub_raw = self.obj(sub_raw, u_where)
                u_start, u_end = self.window(sub_raw, u_where)
                if u_start < start or u_end > end:
                    self.issues["substeps partly outside their parent step (kept)"] += 1
                video.queries.append(self.query(video, ann, sub_raw, u_where, "substep", j, step.query_idx,
                                                u_start, u_end))
        if not video.steps:
            self.issues["videos without steps"] += 1
        return video

    def query(self, video, ann, raw, where, level, step_index, parent, start, end) -> Query:
        relevance = raw.get("is_relevant")
        if relevance is not None and relevance not in RELEVANCE:
            self.fail(f"{where}.is_relevant", f"must be one of {', '.join(RELEVANCE)}, got {describe(relevance)}")
        return Query(video.video_uid, ann, len(video.queries), level, self.text(raw, "step_description", where),
                     start, end, step_index, parent, self.text(raw, "step_category", where, required=False),
                     relevance)

    def test_video(self, raw: Any, i: int) -> Video:
        where = f"videos[{i}]"
        raw = self.obj(raw, where)
        uid = self.uid(raw, where)
        where = f"videos[{i}] ({uid})"
        video = Video(uid, None, None, None, None)
        for j, seg in enumerate(self.children(raw, "step_segments", where)):
            s_where = f"{where}.step_segments[{j}]"
            seg = self.obj(seg, s_where)
            count = seg.get("segment_count", 1)
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                self.fail(f"{s_where}.segment_count", f"must be an integer >= 1, got {describe(count)}")
            video.queries.append(Query(uid, uid, j, "step", self.text(seg, "step_description", s_where), None, None,
                                       j, segment_count=count))
        if not video.queries:
            self.issues["videos without steps"] += 1
        return video


def summarize(ann: Annotations) -> dict[str, Any]:
    """The numbers a researcher wants first about an annotation file."""
    steps = [q for q in ann.queries() if q.level == "step"]
    subs = [q for q in ann.queries() if q.level == "substep"]
    out: dict[str, Any] = {
        "file": str(ann.path),
        "split": ann.split,
        "format": "annotated" if ann.has_times else "test (descriptions only)",
        "videos": len(ann.videos),
        "grouped_videos": sum(v.is_grouped for v in ann.videos),
        "steps": len(steps),
        "substeps": len(subs),
        "queries": len(steps) + len(subs),
    }
    per_video = [len(v.steps) for v in ann.videos]
    out["steps_per_video"] = _stats(per_video)
    texts_repeated = sum(_repeated_in_video(v) for v in ann.videos)
    out["queries_sharing_text_in_video"] = texts_repeated
    words = [len(q.description.split()) for q in ann.queries()]
    out["words_per_description"] = round(statistics.fmean(words), 2) if words else 0.0
    if ann.has_times:
        goals = [v.end_time - v.start_time for v in ann.videos]
        out["hours"] = round(sum(goals) / 3600, 2)
        out["goal_minutes"] = _stats([g / 60 for g in goals])
        out["step_seconds"] = _stats([q.duration for q in steps])
        out["substep_seconds"] = _stats([q.duration for q in subs])
        out["step_coverage"] = round(_coverage(ann), 3)
        out["relevance"] = dict(Counter(q.is_relevant or "unlabelled" for q in steps).most_common())
    else:
        out["segments"] = sum(q.segment_count for q in steps)
    out["issues"] = dict(sorted(ann.issues.items()))
    return out


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "median": 0.0, "min": 0.0, "max": 0.0}
    return {"mean": round(statistics.fmean(values), 2), "median": round(statistics.median(values), 2),
            "min": round(min(values), 2), "max": round(max(values), 2)}


def _repeated_in_video(video: Video) -> int:
    counts = Counter(q.description for q in video.queries)
    return sum(n for n in counts.values() if n > 1)


def _coverage(ann: Annotations) -> float:
    """Fraction of all goal time covered by at least one step."""
    total = sum(v.end_time - v.start_time for v in ann.videos)
    covered = sum(video_coverage(v) * (v.end_time - v.start_time) for v in ann.videos)
    return covered / total if total else 0.0


def video_coverage(video: Video) -> float:
    """Fraction of the video's goal segment covered by at least one step (union of windows)."""
    if video.start_time is None or video.end_time <= video.start_time:
        return 0.0
    covered, cur_s, cur_e = 0.0, None, None
    spans = sorted((max(q.start, video.start_time), min(q.end, video.end_time)) for q in video.steps)
    for s, e in spans:
        if e <= s:
            continue
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                covered += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        covered += cur_e - cur_s
    return covered / (video.end_time - video.start_time)


def format_summary(s: dict[str, Any]) -> str:
    lines = [f"{s['file']}  ({s['format']}, split={s['split']})",
             f"  videos            {s['videos']}  ({s['grouped_videos']} grouped grp- videos)"]
    if "hours" in s:
        g = s["goal_minutes"]
        lines.append(f"  hours             {s['hours']}  (goal segments: mean {g['mean']} min, median {g['median']}, "
                     f"range {g['min']}-{g['max']})")
    spv = s["steps_per_video"]
    lines.append(f"  steps             {s['steps']}  (per video: mean {spv['mean']}, median {spv['median']}, "
                 f"max {spv['max']})")
    lines.append(f"  substeps          {s['substeps']}")
    lines.append(f"  queries           {s['queries']}")
    if "segments" in s:
        lines.append(f"  segments          {s['segments']}  (descriptions may stand for several segments)")
    for key, label in (("step_seconds", "step duration"), ("substep_seconds", "substep duration")):
        if key in s:
            d = s[key]
            lines.append(f"  {label:<17} mean {d['mean']} s, median {d['median']} s, range {d['min']}-{d['max']} s")
    if "step_coverage" in s:
        lines.append(f"  step coverage     {s['step_coverage']:.1%} of goal time")
    if "relevance" in s:
        lines.append("  relevance         " + ", ".join(f"{k} {n}" for k, n in s["relevance"].items()))
    lines.append(f"  repeated texts    {s['queries_sharing_text_in_video']} queries share their text with another "
                 f"query of the same video; {s['words_per_description']} words per description")
    if s["issues"]:
        lines.append("  quirks (policy in vtkit.annotations):")
        lines += [f"    {n:>5}  {what}" for what, n in s["issues"].items()]
    return "\n".join(lines)


def cli_inspect(argv: list[str]) -> int:
    from vtkit.options import ArgumentParser

    parser = ArgumentParser(prog="vtkit inspect", description="Summarise a GoalStep annotation file.")
    parser.add_argument("annotations", help="GoalStep JSON (annotated split or test-split format)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)
    summary = summarize(load_annotations(args.annotations))
    if args.json:
        sys.stdout.write(json_text(summary, indent=None, path=args.annotations) + "\n")
    else:
        print(format_summary(summary))
    return 0
