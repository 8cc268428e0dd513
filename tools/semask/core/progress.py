"""Progress that a log shows: start/end lines for long steps, and per-item progress.

Why: people run a 40-minute job as `make all > log 2>&1`. A tqdm bar is invisible there (it is
disabled when its stream is not a terminal) and a step that prints nothing until it ends looks
hung. So on a terminal the per-item loops draw a tqdm bar, and otherwise they print a plain line
every ~10 % of the items or every 30 s, whichever comes first:

    infer 120/500 (24 %) 3.6 s/img, ~23 min left

`step()` brackets a long step with `[export] start ...` and `[export] done in 12.3 s`.
"""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator, TextIO

PLAIN_FRACTION = 0.10  # a plain line at least every 10 % of the items ...
PLAIN_SECONDS = 30.0   # ... or every 30 s


def duration(seconds: float) -> str:
    """'4.2 s', '3 min 5 s', '1 h 12 min': short, for a person."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def _remaining(seconds: float) -> str:
    if seconds < 60:
        return f"~{max(1, round(seconds))} s left"
    if seconds < 3600:
        return f"~{round(seconds / 60)} min left"
    return f"~{seconds / 3600:.1f} h left"


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Count items done; a tqdm bar on a terminal, plain lines otherwise, nothing when disabled.

    `clock` and `stream` are parameters so the plain-line schedule is testable without sleeping.
    """

    def __init__(self, total: int, desc: str, unit: str = "img", initial: int = 0, enabled: bool = True,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic,
                 terminal: bool | None = None) -> None:
        self.total, self.desc, self.unit = int(total), desc, unit
        self.done = self.start_done = int(initial)
        self.stream = stream or sys.stdout
        self.clock = clock
        self.enabled = enabled
        self.started = self.last_time = clock()
        self.last_done = self.done
        self.bar = None
        terminal = is_terminal(self.stream) if terminal is None else terminal
        if enabled and terminal:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, initial=self.done, desc=desc, unit=unit, dynamic_ncols=True,
                            leave=True, file=sys.stderr)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        if not self.enabled:
            return
        now = self.clock()
        step = max(1, int(self.total * PLAIN_FRACTION + 0.5))
        if self.done >= self.total or self.done - self.last_done >= step or now - self.last_time >= PLAIN_SECONDS:
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()
            self.last_time, self.last_done = now, self.done

    def line(self, now: float | None = None) -> str:
        """`infer 120/500 (24 %) 3.6 s/img, ~23 min left` (rate over the items of this run)."""
        now = self.clock() if now is None else now
        pct = 100 * self.done // self.total if self.total else 100
        text = f"{self.desc} {self.done}/{self.total} ({pct} %)"
        counted = self.done - self.start_done
        if counted > 0:
            per = (now - self.started) / counted
            text += f" {per:.1f} s/{self.unit}"
            if self.done < self.total:
                text += f", {_remaining(per * (self.total - self.done))}"
            else:
                text += f", {duration(now - self.started)} in all"
        return text

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def step(name: str, detail: str = "", stream: TextIO | None = None) -> Iterator[None]:
    """`[name] start: detail` ... `[name] done in 12.3 s` (or `failed after`), flushed at once."""
    out = stream or sys.stdout
    out.write(f"[{name}] start{': ' + detail if detail else ''}\n")
    out.flush()
    started = time.monotonic()
    try:
        yield
    except BaseException:
        out.write(f"[{name}] failed after {duration(time.monotonic() - started)}\n")
        out.flush()
        raise
    out.write(f"[{name}] done in {duration(time.monotonic() - started)}\n")
    out.flush()


LOOP_FLOOR = 3  # timed runs after warm-up, whatever the budget


def loop_for_budget(loop: int | None, seconds_per_run: float, budget_seconds: float, floor: int = LOOP_FLOOR) -> int:
    """LOOP when given; otherwise as many timed runs as fit `budget_seconds`, at least `floor`."""
    if loop is not None:
        return loop
    if seconds_per_run <= 0:
        return max(floor, 100)
    return max(floor, int(budget_seconds // seconds_per_run))


def loop_arg(text: str) -> int | None:
    """argparse type for --loop: a positive integer, or 'auto' (None: fit the time budget)."""
    from semask.core.cli import positive_int

    return None if text.strip().lower() == "auto" else positive_int("LOOP", 100)(text)


def perf_estimate_line(what: str, seconds_per_run: float, loop: int, given: bool, budget_seconds: float,
                       extra_seconds: float = 0.0) -> str:
    """The line `make perf` prints before its timed runs: what it will do and how long it will take."""
    why = "LOOP given" if given else f"fits PERF_SECONDS={budget_seconds:g}, at least {LOOP_FLOOR}"
    total = loop * seconds_per_run + extra_seconds
    tail = f" + {duration(extra_seconds)} end-to-end pass" if extra_seconds else ""
    return (f"perf estimate: one {what} run took {duration(seconds_per_run)} (warm-up); LOOP={loop} timed runs "
            f"({why}) ~ {duration(loop * seconds_per_run)}{tail}, about {duration(total)} in all")
