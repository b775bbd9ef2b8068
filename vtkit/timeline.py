"""Seconds <-> chunk indices, and interval geometry: the one place where times and chunks meet.

Chunk ``i`` covers ``[i * chunk_seconds, (i + 1) * chunk_seconds)`` seconds of the video
(absolute video time, not goal-relative). A window ``[start, end)`` in seconds maps to the
chunks it overlaps; a chunk span ``[first, last]`` (inclusive) maps back to
``[first * chunk_seconds, (last + 1) * chunk_seconds]``.
"""
from __future__ import annotations

import math

import numpy as np

from vtkit.errors import VtkitError

DEFAULT_CHUNK_SECONDS = 2.0
GOAL_COVERAGE = 0.98   # features reaching this share of the goal's end count as covering it (rounding, last chunk)


def chunk_of(t: float, chunk_seconds: float = DEFAULT_CHUNK_SECONDS) -> int:
    """Index of the chunk holding time ``t`` (seconds, >= 0)."""
    return max(0, int(math.floor(t / chunk_seconds + 1e-9)))


def seconds_to_chunks(start: float, end: float, chunk_seconds: float = DEFAULT_CHUNK_SECONDS) -> tuple[int, int]:
    """Inclusive chunk span ``(first, last)`` overlapped by the window ``[start, end)``."""
    first = chunk_of(start, chunk_seconds)
    last = max(first, int(math.ceil(end / chunk_seconds - 1e-9)) - 1)
    return first, last


def chunks_to_seconds(first: int, last: int, chunk_seconds: float = DEFAULT_CHUNK_SECONDS) -> tuple[float, float]:
    """Time window ``[start, end]`` in seconds covered by the inclusive chunk span."""
    return first * chunk_seconds, (last + 1) * chunk_seconds


def num_chunks(duration: float, chunk_seconds: float = DEFAULT_CHUNK_SECONDS) -> int:
    """Chunks needed to cover ``[0, duration)``."""
    return max(0, int(math.ceil(duration / chunk_seconds - 1e-9)))


def goal_chunk_range(goal: tuple[float, float] | None, n: int,
                     chunk_seconds: float = DEFAULT_CHUNK_SECONDS) -> tuple[int, int]:
    """``[first, last]`` chunks of ``n`` to search: the goal segment ``(start, end)`` when known, else all."""
    if goal is None or goal[0] is None:
        return 0, n - 1
    first, last = seconds_to_chunks(goal[0], goal[1], chunk_seconds)
    return min(first, n - 1), min(last, n - 1)


def covers_goal(n: int, goal_end: float | None, chunk_seconds: float = DEFAULT_CHUNK_SECONDS) -> bool:
    """Whether ``n`` chunks reach the goal's end (within :data:`GOAL_COVERAGE`); True when no end is known."""
    return goal_end is None or n * chunk_seconds >= GOAL_COVERAGE * goal_end


def iou(pred, gt):
    """IoU of windows ``[..., 2]`` (start, end), broadcast over leading dimensions.

    The union is the span covering both windows (the Ego4D scorer's rule). Returns a float for
    two single windows, else an array. Zero-length unions give 0.
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.shape[-1:] != (2,) or g.shape[-1:] != (2,):
        raise VtkitError(f"windows must have shape [..., 2], got {p.shape} and {g.shape}", field="iou")
    inter = np.maximum(0.0, np.minimum(p[..., 1], g[..., 1]) - np.maximum(p[..., 0], g[..., 0]))
    hull = np.maximum(p[..., 1], g[..., 1]) - np.minimum(p[..., 0], g[..., 0])
    out = np.divide(inter, hull, out=np.zeros(np.broadcast(inter, hull).shape), where=hull > 0)
    return float(out) if out.ndim == 0 else out


def frame_times(t0: float, t1: float, n: int) -> np.ndarray:
    """``n`` evenly spaced times of ``[t0, t1]``, each the middle of one of ``n`` equal parts (frame strips)."""
    return t0 + (np.arange(n) + 0.5) * (t1 - t0) / max(n, 1)
