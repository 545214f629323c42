"""How `regions` shows its exact walks on stderr: a live display, log lines, and one cost note.

On a terminal each walk (a split and a relation) is a progress bar: segments done of all, and
the breakpoints found and walk steps taken so far with their rate. Elsewhere (a log file, a
pipe) a line says a walk's counts every few minutes while it runs and when it ends (a quick
walk's only with ``-v``). Either way, a walk watched for half a minute whose projected
remainder is long gets one note per file, labelled as an estimate, with the measured rate.
``-q`` silences all of it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from actcode.cli._common import err_console, log, printable, progress, verbosity

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from actcode.regions.walk import WalkProgress

__all__ = ["WalkWatch", "walk_display"]

#: A walk is watched this long, and this many passes, before its cost is projected.
WATCH_S = 30.0
WATCH_PASSES = 20
#: The note is said when the projected rest of a walk is longer than this.
LONG_S = 300.0
#: Off a terminal, a running walk says where it stands this often.
HEARTBEAT_S = 120.0


def span(seconds: float) -> str:
    """A duration for a person: seconds, minutes or hours.

    Examples
    --------
    >>> span(42.0), span(754.0), span(12_240.0)
    ('42 s', '13 min', '3.4 h')
    """
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 6000:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class WalkWatch:
    """Times the walks of one file and words their counts, heartbeats and the cost note.

    ``clock`` gives seconds (``time.monotonic``; tests pass their own).
    """

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.path, self.clock = printable(path), clock
        self.start: dict[str, float] = {}
        self.passes: dict[str, int] = {}
        self.judged: set[str] = set()
        self.noted = False

    def seen(self, label: str, p: WalkProgress) -> float:
        """Record one report of walk ``label``; return the seconds since the walk began."""
        now = self.clock()
        self.start.setdefault(label, now)
        self.passes[label] = self.passes.get(label, -1) + 1  # the first report comes before any pass
        return now - self.start[label]

    def counts(self, p: WalkProgress, seconds: float) -> str:
        """The breakpoints and steps so far, with the steps' rate."""
        rate = f" ({p.steps / seconds:.1f} steps/s)" if seconds > 0 and p.steps else ""
        return f"{p.breakpoints:,} breakpoints, {p.steps:,} walk steps{rate}"

    def cost_note(self, label: str, p: WalkProgress, seconds: float) -> str | None:
        """The note, once per file: the first walk watched long enough whose projected rest is long."""
        if self.noted or label in self.judged or p.done == p.segments:
            return None
        if seconds < WATCH_S or self.passes.get(label, 0) < WATCH_PASSES or not p.breakpoints:
            return None
        self.judged.add(label)
        steps_ahead = (p.projected_breakpoints - p.breakpoints) * p.steps / p.breakpoints
        rest = steps_ahead / (p.steps / seconds)
        if rest < LONG_S:
            return None
        self.noted = True
        return (
            f"regions {self.path}: walk {printable(label)} looks long: "
            f"{self.counts(p, seconds)} in {span(seconds)}. "
            f"Estimate, from each segment's breakpoints so far scaled to its whole length: "
            f"~{p.projected_breakpoints:,.0f} breakpoints, ~{span(rest)} more at this rate. "
            "The walk is exact and takes one forward pass per boundary, and wide networks cross "
            "thousands per chord: fewer --segments, or --analyses kernel,local, cost less."
        )


@contextlib.contextmanager
def walk_display(path: str) -> Iterator[Callable[[str, WalkProgress], None] | None]:
    """The ``progress`` of :func:`~actcode.regions.api.regions_file` on ``path`` (None with ``-q``)."""
    if verbosity() < 0:
        yield None
        return
    watch = WalkWatch(path)
    if not err_console.is_terminal:
        yield _lines(watch)
        return
    from rich.progress import TextColumn

    with progress(extra=[TextColumn("{task.fields[counts]}")]) as bar:
        yield _bars(watch, bar)


def _lines(watch: WalkWatch) -> Callable[[str, WalkProgress], None]:
    """Off a terminal: a line every :data:`HEARTBEAT_S` while a walk runs, and when it ends (a
    walk shorter than that only with ``-v``)."""
    said: dict[str, float] = {}

    def line(label: str, p: WalkProgress) -> None:
        seconds = watch.seen(label, p)
        note = watch.cost_note(label, p, seconds)
        if note is not None:
            log(note)
        finished = p.done == p.segments
        if finished or seconds - said.get(label, 0.0) >= HEARTBEAT_S:
            level = 0 if seconds >= HEARTBEAT_S else 1  # a quick walk is said with -v only
            said[label] = seconds
            where = "walked" if finished else "walking"
            log(f"regions {watch.path}: {where} {printable(label)}: {p.done}/{p.segments} segments, "
                f"{watch.counts(p, seconds)}, {span(seconds)}", level=level)  # fmt: skip

    return line


def _bars(watch: WalkWatch, bar: Progress) -> Callable[[str, WalkProgress], None]:
    """On a terminal: one bar per walk (segments done), with its breakpoints and steps so far."""
    tasks: dict[str, TaskID] = {}

    def update(label: str, p: WalkProgress) -> None:
        seconds = watch.seen(label, p)
        note = watch.cost_note(label, p, seconds)
        if note is not None:
            log(note)
        if label not in tasks:
            tasks[label] = bar.add_task(f"walk {printable(label)}", total=p.segments, counts="")
        bar.update(tasks[label], completed=p.done, total=p.segments, counts=watch.counts(p, seconds))

    return update
