"""Progress of an audit's long stages (``encrypt``, ``upload``, ``evaluate``): the
:class:`ProgressSink` :func:`regaudit.client.audit.run_audit` reports to, a silent one, and the
command line's rich progress bars on stderr."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class ProgressSink(Protocol):
    """Receives progress of the long stages: ``encrypt``, ``upload`` and ``evaluate``."""

    def stage(self, name: str, *, total: float | None = None) -> None:
        """A stage starts (or its total becomes known)."""
        ...

    def advance(self, name: str, amount: float = 1.0) -> None: ...

    def update(self, name: str, *, completed: float, total: float | None = None) -> None: ...

    def note(self, text: str) -> None:
        """A one-line message for the user."""
        ...


class NoProgress:
    """A :class:`ProgressSink` that shows nothing (the default of ``run_audit``)."""

    def stage(self, name: str, *, total: float | None = None) -> None:
        pass

    def advance(self, name: str, amount: float = 1.0) -> None:
        pass

    def update(self, name: str, *, completed: float, total: float | None = None) -> None:
        pass

    def note(self, text: str) -> None:
        pass


class RichProgress:
    """A :class:`ProgressSink` drawing rich progress bars on stderr (``quiet``: notes too are
    dropped; the bars' own ``disable`` hides the bars)."""

    def __init__(self, progress: Progress, *, quiet: bool = False) -> None:
        self._progress = progress
        self._quiet = quiet
        self._tasks: dict[str, TaskID] = {}

    def stage(self, name: str, *, total: float | None = None) -> None:
        if name in self._tasks:
            self._progress.update(self._tasks[name], total=total)
        else:
            self._tasks[name] = self._progress.add_task(name, total=total)

    def advance(self, name: str, amount: float = 1.0) -> None:
        if name not in self._tasks:
            self.stage(name)
        self._progress.advance(self._tasks[name], amount)

    def update(self, name: str, *, completed: float, total: float | None = None) -> None:
        if name not in self._tasks:
            self.stage(name, total=total)
        if total is not None:
            self._progress.update(self._tasks[name], completed=completed, total=total)
        else:
            self._progress.update(self._tasks[name], completed=completed)

    def note(self, text: str) -> None:
        """The note on stderr, unless ``quiet`` (``audit --quiet`` prints nothing on success)."""
        if not self._quiet:
            self._progress.console.print(text, markup=False, highlight=False)


__all__ = ["NoProgress", "ProgressSink", "RichProgress"]
