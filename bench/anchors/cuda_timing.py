"""CUDA-event timing shared by the PyTorch anchor scripts."""
import statistics

import torch


def timed(fn, reps):
    """Median milliseconds of `reps` calls of fn, each timed by CUDA events, after three warm-up calls."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)
