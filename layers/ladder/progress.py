"""Progress for long CLI work: a bar on a terminal, plain lines otherwise (logs, CI)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Protocol


class Progress(Protocol):
    def update(self, fraction: float, note: str = "") -> None: ...


class _Lines:
    def __init__(self, description: str, stream) -> None:
        self.description = description
        self.stream = stream
        self.shown = 0  # the first line at 10%: a failure at the start is its one line

    def update(self, fraction: float, note: str = "") -> None:
        percent = int(fraction * 100)
        if percent // 10 > self.shown // 10 or (percent == 100 and self.shown != 100):
            self.shown = percent
            print(f"{self.description}: {percent}% {note}".rstrip(), file=self.stream, flush=True)


class _Bar:
    def __init__(self, bar, task) -> None:
        self.bar, self.task = bar, task

    def update(self, fraction: float, note: str = "") -> None:
        self.bar.update(self.task, completed=fraction * 100, note=note)


@contextlib.contextmanager
def progress(description: str, stream=None) -> Iterator[Progress]:
    """A reporter of fractions in [0, 1] on `stream` (stderr: stdout is for results)."""
    stream = stream or sys.stderr
    try:
        import rich.progress as rp
    except ImportError:
        rp = None
    if rp is None or not stream.isatty():
        yield _Lines(description, stream)
        return
    columns = (*rp.Progress.get_default_columns(), rp.TextColumn("{task.fields[note]}"))
    with rp.Progress(*columns, console=rp.Console(file=stream)) as bar:
        yield _Bar(bar, bar.add_task(description, total=100, note=""))
