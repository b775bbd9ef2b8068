from hypothesis import given, settings
from hypothesis import strategies as st

from vtkit.annotations import load_annotations
from vtkit.timeline import chunk_of, chunks_to_seconds, num_chunks, seconds_to_chunks


def test_chunk_i_covers_half_open_interval():
    assert chunk_of(0.0) == 0
    assert chunk_of(1.999) == 0
    assert chunk_of(2.0) == 1
    assert seconds_to_chunks(2.0, 4.0) == (1, 1)
    assert seconds_to_chunks(2.0, 4.01) == (1, 2)
    assert seconds_to_chunks(3.0, 3.5) == (1, 1)
    assert chunks_to_seconds(1, 2) == (2.0, 6.0)
    assert num_chunks(10.0) == 5 and num_chunks(10.5) == 6


@settings(max_examples=300, deadline=None)
@given(first=st.integers(0, 5000), length=st.integers(1, 500), cs=st.sampled_from([0.5, 1.0, 2.0, 4.0]))
def test_chunk_span_round_trip(first, length, cs):
    last = first + length - 1
    start, end = chunks_to_seconds(first, last, cs)
    assert seconds_to_chunks(start, end, cs) == (first, last)


@settings(max_examples=300, deadline=None)
@given(start=st.floats(0, 7000), dur=st.floats(0.01, 600), cs=st.sampled_from([1.0, 2.0]))
def test_window_lies_inside_its_chunk_span(start, dur, cs):
    first, last = seconds_to_chunks(start, start + dur, cs)
    s, e = chunks_to_seconds(first, last, cs)
    assert s <= start + 1e-6 and e >= start + dur - 1e-6
    assert e - s < dur + 2 * cs + 1e-6


def test_late_goal_and_grouped_videos_round_trip(goalstep_valid):
    ann = load_annotations(goalstep_valid)
    late = max(ann.videos, key=lambda v: v.start_time)
    assert late.start_time > 60
    grouped = [v for v in ann.videos if v.is_grouped]
    assert grouped
    for video in [late] + grouped:
        for q in video.queries:
            first, last = q.chunk_span(2.0)
            s, e = chunks_to_seconds(first, last, 2.0)
            assert s <= q.start < s + 2.0
            assert e - 2.0 < q.end <= e
            assert seconds_to_chunks(s, e, 2.0) == (first, last)
