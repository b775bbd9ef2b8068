"""Seconds <-> chunk indices: the one place where times and chunks meet.

Chunk ``i`` covers ``[i * chunk_seconds, (i + 1) * chunk_seconds)`` seconds of the video
(absolute video time, not goal-relative). A window ``[start, end)`` in seconds maps to the
chunks it overlaps; a chunk span ``[first, last]`` (inclusive) maps back to
``[first * chunk_seconds, (last + 1) * chunk_seconds]``.
"""
from __future__ import annotations

import math

DEFAULT_CHUNK_SECONDS = 2.0


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
