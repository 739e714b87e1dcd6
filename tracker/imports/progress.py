"""Progress of a long import: `progress(label, done, total)` is called now and then while checking and writing."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]

PROGRESS_EVERY = 500


def report_progress(progress: Progress | None, label: str, done: int, total: int) -> None:
    """Call `progress` every PROGRESS_EVERY rows and at the last one."""
    if progress and (done == total or done % PROGRESS_EVERY == 0):
        progress(label, done, total)
