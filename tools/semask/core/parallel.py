"""Run one function over many items on all cores with a progress bar, in the caller's order.

Workers get plain picklable arguments and return small results, so a 500-image step keeps one
image per worker in memory. jobs=1 runs inline (no fork), which keeps small runs and tests fast.
"""
from __future__ import annotations

import os
import signal
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterator, Sequence, TypeVar

from semask.core.progress import Progress

T = TypeVar("T")
R = TypeVar("R")


def resolve_jobs(jobs: int | None, count: int) -> int:
    """--jobs default is os.cpu_count(); never more workers than items."""
    return max(1, min(jobs or os.cpu_count() or 1, max(count, 1)))


def imap(fn: Callable[[T], R], items: Sequence[T], jobs: int | None, desc: str) -> Iterator[R]:
    """Yield fn(item) for every item in order, using a process pool when jobs > 1."""
    jobs = resolve_jobs(jobs, len(items))
    bar = Progress(len(items), desc)
    try:
        if jobs == 1:
            for item in items:
                yield fn(item)
                bar.update()
            return
        # Workers ignore SIGINT: Ctrl-C (or SIGINT to the process group) interrupts only the parent,
        # which cancels what has not started and waits for the running items. A worker interrupted
        # inside the pool's queue code could hang the parent's shutdown forever.
        pool = ProcessPoolExecutor(jobs, initializer=_ignore_sigint)
        try:
            chunk = max(1, min(8, len(items) // (jobs * 8)))
            for result in pool.map(fn, items, chunksize=chunk):
                yield result
                bar.update()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
