"""Upload state on disk: one JSON file per flight, which is also the upload queue.

Theory of operation
-------------------
``<state_dir>/flights/<flight_id>.json`` records where a flight goes and how far it got::

    queued ──► uploading ──► uploaded (delete_local = keep)
                         └─► deleting ──► deleted (delete_local = after_verified)

plus, per file, the object key, the hash it was uploaded with, whether it is in the store, and for
a multipart upload its upload id, part size and the ETag of every part the store acknowledged.
Every change is written atomically (temp file, fsync, rename, fsync of the directory) before the
uploader moves on, so after a crash, a network drop or a closed laptop the next run knows exactly
which parts remain. The file lives outside the flight folder, so it survives the local deletion and
``upload --all`` still knows a deleted flight is done. Writing it when the disk is full raises a
one-line EnvironmentFault before anything is deleted.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drone_agent.errors import EnvironmentFault, InputError
from drone_agent.store.s3io import disk_full

STATUSES = ("queued", "uploading", "uploaded", "deleting", "deleted")
FINISHED = ("uploaded", "deleted")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FlightState:
    """The persistent upload record of one flight (thread-safe saves)."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        self._lock = threading.RLock()

    @property
    def flight_id(self) -> str:
        return str(self.data["flight_id"])

    @property
    def flight_dir(self) -> Path:
        return Path(self.data["flight_dir"])

    @property
    def status(self) -> str:
        return str(self.data["status"])

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return self.data["files"]

    @property
    def events(self) -> list[str]:
        return self.data.setdefault("events", [])

    def file(self, relpath: str) -> dict[str, Any]:
        with self._lock:
            return self.files.setdefault(relpath, {})

    def reset_file(self, relpath: str, **fields: Any) -> None:
        """Forget what was known about ``relpath`` and start again from ``fields``."""
        with self._lock:
            self.files[relpath] = dict(fields)
            self.save()

    def update_file(self, relpath: str, *, drop: tuple[str, ...] = (), **fields: Any) -> None:
        """Set ``fields`` (and remove ``drop``) in the record of ``relpath``, durably."""
        with self._lock:
            record = self.files.setdefault(relpath, {})
            record.update(fields)
            for key in drop:
                record.pop(key, None)
            self.save()

    def add_event(self, event: str) -> None:
        """Remember that ``event`` was appended to the flight's audit log."""
        with self._lock:
            self.events.append(event)
            self.save()

    def record_part(self, relpath: str, part_number: int, etag: str) -> None:
        """Remember (durably) that the store acknowledged ``part_number`` of ``relpath``."""
        with self._lock:
            self.files[relpath].setdefault("parts", {})[str(part_number)] = etag
            self.save()

    def set_status(self, status: str, **fields: Any) -> None:
        assert status in STATUSES, status
        with self._lock:
            self.data["status"] = status
            self.data.update(fields)
            self.save()

    def save(self) -> None:
        with self._lock:
            self.data["updated_utc"] = _utc_now()
            payload = json.dumps(self.data, indent=1, sort_keys=True).encode() + b"\n"
            try:
                _atomic_write(self.path, payload)
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise disk_full(exc, f"saving upload state {self.path}") from exc
                raise EnvironmentFault(
                    f"cannot write upload state {self.path}: {exc.strerror}",
                    "check permissions of the state directory ([store] state_dir)",
                ) from exc


class StateDir:
    """``<state_dir>/flights/*.json``: the queue of flights and their upload progress."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.flights = self.root / "flights"

    def _ensure(self) -> None:
        try:
            self.flights.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise disk_full(exc, f"creating {self.flights}") from exc
            raise EnvironmentFault(
                f"cannot create the upload state directory {self.flights}: {exc.strerror}",
                "set [store] state_dir or --state-dir to a writable directory",
            ) from exc

    def path_for(self, flight_id: str) -> Path:
        return self.flights / f"{flight_id}.json"

    def load(self, flight_id: str) -> FlightState | None:
        path = self.path_for(flight_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise InputError(
                f"upload state {path} is unreadable ({exc})",
                "move it aside; the next upload re-checks every object in the store",
            ) from exc
        return FlightState(path, data)

    def enqueue(self, flight_dir: Path) -> FlightState:
        """The state of ``flight_dir`` (created ``queued`` if new). Called by the agent on landing."""
        flight_dir = Path(flight_dir).resolve()
        flight_id = flight_dir.name
        state = self.load(flight_id)
        if state is not None:
            if state.status not in ("deleted",):
                state.data["flight_dir"] = str(flight_dir)
            return state
        self._ensure()
        state = FlightState(
            self.path_for(flight_id),
            {
                "flight_id": flight_id,
                "flight_dir": str(flight_dir),
                "status": "queued",
                "files": {},
                "events": [],
                "queued_utc": _utc_now(),
            },
        )
        state.save()
        return state

    def __iter__(self) -> Iterator[FlightState]:
        if not self.flights.is_dir():
            return
        for path in sorted(self.flights.glob("*.json")):
            state = self.load(path.stem)
            if state is not None:
                yield state

    def pending(self) -> list[FlightState]:
        """Flights not yet finished, oldest first."""
        return [s for s in self if s.status not in FINISHED]
