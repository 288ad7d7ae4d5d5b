"""Crash-safe file operations: write to a temporary name, fsync, rename, fsync the directory.

After :func:`atomic_write` returns, a power cut leaves either the old or the new content under the
final name, never a mixture; temporary files start with ``.`` and end with ``.tmp`` so that
``verify`` can recognise (and report) the debris of an interrupted write.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from drone_agent.errors import EnvironmentFault

TMP_SUFFIX = ".tmp"


def temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fault(path: Path, exc: OSError) -> EnvironmentFault:
    return EnvironmentFault(f"cannot write {path}: {exc}", "check free space and permissions")


def atomic_write_with(path: Path, produce: Callable[[int], None], mode: int = 0o644) -> None:
    """Create ``path`` atomically; ``produce(fd)`` writes the content to a temporary file."""
    tmp = temp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            produce(fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _fault(path, exc) from exc
        raise


def atomic_write(path: Path, data: bytes) -> None:
    atomic_write_with(path, lambda fd: write_all(fd, data))


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
