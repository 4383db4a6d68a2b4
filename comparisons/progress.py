"""The command line's progress display: a line per step, and a bar with ETA for counted work.

:class:`RunProgress` is what the CLI passes as ``compare(progress=...)``: it is
called with each step's message (logged, and shown beside a spinner) and, for
work that counts (bootstrap refits, find_MAP's starts, NUTS's iterations over
all chains), :meth:`RunProgress.count` draws a bar with done/total, elapsed
time and the time remaining (rich's own estimate).
"""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["RunProgress", "progress_bar"]


class _Counts(ProgressColumn):
    """``done/total · ETA h:mm:ss`` for counted tasks, nothing for a step's spinner."""

    def __init__(self):
        super().__init__()
        self._remaining = TimeRemainingColumn()

    def render(self, task) -> Text:
        if task.total is None:
            return Text("")
        eta = self._remaining.render(task)
        return Text(f"{int(task.completed)}/{int(task.total)}  ETA ") + eta


def progress_bar(console, *, disable: bool = False) -> Progress:
    """Return a rich ``Progress`` with the columns every long command of mixcompare shows."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), _Counts(),
                    TimeElapsedColumn(), console=console, disable=disable)


class RunProgress:
    """Progress of one run: call it with a step's message; :meth:`count` for counted work.

    Parameters
    ----------
    console : rich.console.Console
    quiet : bool
        Show nothing.
    """

    def __init__(self, console, quiet: bool = False):
        self._console, self._quiet = console, quiet
        self._bar = progress_bar(console, disable=quiet)
        self._step = None
        self._counted: dict[str, int] = {}

    def __enter__(self) -> RunProgress:
        self._bar.start()
        self._step = self._bar.add_task("starting", total=None)
        return self

    def __exit__(self, *exc) -> None:
        self._bar.stop()

    def __call__(self, message: str) -> None:
        """Log a step's message and show it beside the spinner."""
        if not self._quiet:
            self._console.log(message)
        self._bar.update(self._step, description=message)

    def count(self, what: str, done: int, total: int) -> None:
        """Show ``done`` of ``total`` for the work ``what`` (one bar per ``what``)."""
        task = self._counted.get(what)
        if task is None:
            task = self._counted[what] = self._bar.add_task(what, total=total)
        self._bar.update(task, completed=done, total=total)
