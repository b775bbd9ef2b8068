"""The benchmarks' one timer: median wall seconds of repeated calls."""
import statistics
import time


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
