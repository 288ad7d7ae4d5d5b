"""Upload progress: a rich progress bar per flight and per file on a terminal, log lines otherwise.

The uploader calls a :class:`Progress` (thread-safe: parts upload concurrently); :func:`for_stream`
picks :class:`RichProgress` for a TTY and :class:`LineProgress` for pipes and CI logs.
"""

from __future__ import annotations

import sys
import threading
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress as RichBar,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class Progress(Protocol):
    def flight_started(self, flight_id: str, files: int, total_bytes: int) -> None: ...
    def file_started(self, relpath: str, size_bytes: int) -> None: ...
    def advanced(self, relpath: str, nbytes: int) -> None: ...
    def file_finished(self, relpath: str, outcome: str) -> None: ...
    def flight_finished(self, flight_id: str, outcome: str) -> None: ...
    def note(self, text: str) -> None: ...


class NullProgress:
    """Reports nothing (library use, tests)."""

    def flight_started(self, flight_id: str, files: int, total_bytes: int) -> None:
        pass

    def file_started(self, relpath: str, size_bytes: int) -> None:
        pass

    def advanced(self, relpath: str, nbytes: int) -> None:
        pass

    def file_finished(self, relpath: str, outcome: str) -> None:
        pass

    def flight_finished(self, flight_id: str, outcome: str) -> None:
        pass

    def note(self, text: str) -> None:
        pass


class LineProgress(NullProgress):
    """One plain line per file and per flight (not a TTY)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._flight = ""

    def _line(self, text: str) -> None:
        with self._lock:
            print(text, file=self._stream, flush=True)

    def flight_started(self, flight_id: str, files: int, total_bytes: int) -> None:
        self._flight = flight_id
        self._line(f"upload {flight_id}: {files} files, {total_bytes / 1e6:.1f} MB")

    def file_finished(self, relpath: str, outcome: str) -> None:
        self._line(f"upload {self._flight}: {relpath} {outcome}")

    def flight_finished(self, flight_id: str, outcome: str) -> None:
        self._line(f"upload {flight_id}: {outcome}")

    def note(self, text: str) -> None:
        self._line(f"upload {self._flight}: {text}" if self._flight else f"upload: {text}")


class RichProgress(NullProgress):
    """A bar for the flight and one for the file being sent."""

    def __init__(self, console: Console) -> None:
        self._bar = RichBar(
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._flight_task: TaskID | None = None
        self._files: dict[str, TaskID] = {}

    def flight_started(self, flight_id: str, files: int, total_bytes: int) -> None:
        self._bar.start()
        self._flight_task = self._bar.add_task(f"{flight_id} ({files} files)", total=total_bytes)

    def file_started(self, relpath: str, size_bytes: int) -> None:
        self._files[relpath] = self._bar.add_task(f"  {relpath}", total=max(size_bytes, 1))

    def advanced(self, relpath: str, nbytes: int) -> None:
        if relpath in self._files:
            self._bar.advance(self._files[relpath], nbytes)
        if self._flight_task is not None:
            self._bar.advance(self._flight_task, nbytes)

    def file_finished(self, relpath: str, outcome: str) -> None:
        task = self._files.pop(relpath, None)
        if task is not None:
            self._bar.remove_task(task)
        self._bar.console.print(f"  {relpath}: {outcome}", markup=False, highlight=False)

    def flight_finished(self, flight_id: str, outcome: str) -> None:
        for task in self._files.values():
            self._bar.remove_task(task)
        self._files.clear()
        self._bar.stop()
        self._bar.console.print(f"{flight_id}: {outcome}", markup=False, highlight=False)

    def note(self, text: str) -> None:
        self._bar.console.print(text, markup=False, highlight=False)


def for_stream(stream: TextIO | None = None) -> Progress:
    """Rich bars on a terminal, plain lines otherwise."""
    stream = stream or sys.stderr
    if stream.isatty():
        return RichProgress(Console(file=stream))
    return LineProgress(stream)
