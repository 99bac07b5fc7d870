"""Progress for people and for logs: a live bar with counts and rates in a terminal, plain periodic lines elsewhere.

`progress_bar()` is a `rich.progress.Progress` (add_task / advance / update, extra fields such as `info`). In a
terminal it draws one line per task: description, bar, done/total, rate, elapsed, time left, info; the counts
and times never shrink (only the description and info give way in a narrow terminal). When the console is not a
terminal (a log, a pipe, CI) nothing is redrawn: each task writes a plain line when it starts, every `every`
seconds while it runs, and when it ends:

    training the mini backbone: 300/1200 (25%), 12.3/s, 24 s elapsed, about 73 s left, loss 0.512
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

T = TypeVar("T")
EVERY_SECONDS = float(os.environ.get("ACTIONBENCH_PROGRESS_EVERY", "15"))  # log lines per task, at most this often


def _rate(task: Task) -> float | None:
    elapsed = task.elapsed
    if task.speed is not None:
        return task.speed
    return task.completed / elapsed if elapsed else None


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


class RateColumn(ProgressColumn):
    """Items per second."""

    def render(self, task: Task) -> Text:
        rate = _rate(task)
        return Text("" if rate is None else f"{rate:,.1f}/s", style="progress.data.speed")


class InfoColumn(ProgressColumn):
    """A task's `info` field (e.g. "loss 0.512  v2t_acc 0.81"), empty where a task has none; in a narrow terminal
    whole items (separated by two spaces) are left out from the right, so no number is cut."""

    def __init__(self, width: int) -> None:
        super().__init__(table_column=Column(no_wrap=True, max_width=width))
        self.width = width

    def render(self, task: Task) -> Text:
        shown = ""
        for item in str(task.fields.get("info") or "").split("  "):
            joined = f"{shown}  {item}" if shown else item
            if len(joined) > self.width:
                break
            shown = joined
        return Text(shown)


def status_line(task: Task) -> str:
    """One plain line: description, done/total (percent), rate, elapsed, time left, info."""
    if task.total is None and not task.completed:
        return f"{task.description}: started"
    parts = [f"{task.completed:,.0f}/{task.total:,.0f} ({int(task.percentage)}%)" if task.total else
             f"{task.completed:,.0f}"]
    rate = _rate(task)
    if rate:
        parts.append(f"{rate:,.1f}/s")
    if task.elapsed is not None:
        parts.append(f"{_seconds(task.elapsed)} elapsed")
    if rate and task.total and task.completed < task.total:
        parts.append(f"about {_seconds((task.total - task.completed) / rate)} left")
    info = task.fields.get("info")
    if info:
        parts.append(str(info))
    return f"{task.description}: " + ", ".join(parts)


class LoggedProgress(Progress):
    """A rich Progress that, on a console that is not a terminal, writes plain periodic lines instead of a bar."""

    def __init__(self, *columns: Any, console: Console, every: float = EVERY_SECONDS, enabled: bool = True,
                 **kwargs: Any) -> None:
        self.logging = enabled and not console.is_terminal
        super().__init__(*columns, console=console, disable=not enabled or self.logging, **kwargs)
        self.every = every
        self._logged: dict[TaskID, tuple[float, bool]] = {}  # task -> (last line's time, finished line written)

    def _log(self, task_id: TaskID, force: bool = False) -> None:
        if not self.logging:
            return
        task = self._tasks.get(task_id)
        if task is None:
            return
        now = time.monotonic()
        last, ended = self._logged.get(task_id, (None, False))
        finished = task.total is not None and task.completed >= task.total
        if ended or not (force or finished or last is None or now - last >= self.every):
            return
        self._logged[task_id] = (now, finished)
        self.console.print(status_line(task), markup=False, highlight=False, soft_wrap=True)

    def add_task(self, *args: Any, **kwargs: Any) -> TaskID:
        task_id = super().add_task(*args, **kwargs)
        self._log(task_id)
        return task_id

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._log(task_id)

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        self._log(task_id)

    def stop(self) -> None:
        for task_id in list(self._tasks):
            self._log(task_id, force=True)  # where each task stopped, once
        super().stop()


def tracked(bar: Progress, items: Iterable[T], total: int, description: str) -> Iterator[T]:
    """The items, advancing a new task of `bar` as each one is taken."""
    task = bar.add_task(description, total=total)
    for item in items:
        yield item
        bar.advance(task)


def progress_bar(enabled: bool = True, console: Console | None = None, *, info: bool = False,
                 every: float = EVERY_SECONDS) -> LoggedProgress:
    """A progress display for long loops (see the module doc); `info` adds a column for a task's `info` field."""
    console = console or Console(stderr=True)
    # the counts, rate and times keep their width; the description and info share what the terminal has left
    bar = console.width >= 100
    room = max(16, console.width - (64 if bar else 43))
    text = room // 2 if info else room
    columns: list[ProgressColumn] = [
        TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", max_width=text)),
        *([BarColumn(bar_width=20)] if bar else []),
        MofNCompleteColumn(table_column=Column(no_wrap=True, min_width=11)),
        RateColumn(table_column=Column(no_wrap=True, min_width=10)),
        TimeElapsedColumn(table_column=Column(no_wrap=True, min_width=7)),
        TimeRemainingColumn(table_column=Column(no_wrap=True, min_width=7)),
    ]
    if info:
        columns.append(InfoColumn(room - text))
    return LoggedProgress(*columns, console=console, every=every, enabled=enabled)
