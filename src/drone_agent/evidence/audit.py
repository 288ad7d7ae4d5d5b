"""The flight's tamper-evident audit log: append-only, hash-chained, signed JSON lines.

Theory of operation. ``audit.jsonl`` holds one canonical JSON record per line::

    {"event": ..., "prev_sha256": <SHA-256 of the previous line>, "seq": n, "sig": <Ed25519>,
     "utc": ..., <event fields>...}

Record 0 (``flight_opened``) names the flight and the device key. Every record is signed by the
device key over its canonical encoding without ``sig`` (Ed25519 costs ~50 us, so there is never an
unsigned tail: "periodically signed" with period 1), and carries the hash of the line before it, so
removing, reordering or editing any record breaks the chain at a precise line.

Appending takes an exclusive ``flock`` on the file, re-reads the tail if another process appended
since (the store appends ``upload``/``local_delete`` after the flight closed, possibly from another
process), writes the line with one ``O_APPEND`` write and fsyncs before returning. A power cut can
leave at most a torn last line; the next append first terminates it and writes an
``audit_recovered`` record naming the fragment's hash and length, so ``verify`` can tell a
recovered crash from an edited log.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from drone_agent.errors import EnvironmentFault, InputError, IntegrityError
from drone_agent.evidence.durable import write_all
from drone_agent.evidence.keys import DeviceKey
from drone_agent.evidence.records import (
    EVENT_NAME, GENESIS_SHA256, decode_line, encode_line, sha256_hex, utc_iso, utc_now,
)

AUDIT_FILE = "audit.jsonl"
RESERVED_FIELDS = frozenset({"seq", "utc", "event", "prev_sha256", "sig"})
RECOVERED_EVENT = "audit_recovered"
OPENED_EVENT = "flight_opened"
# written only by FlightVault (verify cross-checks them against the manifest)
VAULT_EVENTS = frozenset({OPENED_EVENT, "segment_sealed", "still_sealed", "flight_closed", RECOVERED_EVENT})


def sign_record(record: Mapping[str, Any], device_key: DeviceKey) -> bytes:
    """The stored line (with ``sig``) for ``record`` (without ``sig``)."""
    body = dict(record)
    body["sig"] = device_key.sign_b64(encode_line(record))
    return encode_line(body)


def unsigned_body(record: Mapping[str, Any]) -> bytes:
    """What the signature of a stored record covers."""
    return encode_line({k: v for k, v in record.items() if k != "sig"})


@dataclass(frozen=True, slots=True)
class _Tail:
    next_seq: int
    head_sha256: str
    torn: bytes
    size: int


def _scan_tail(data: bytes, path: Path) -> _Tail:
    """Next seq and head hash from the last readable line (verify reports unreadable ones)."""
    complete, _, torn = data.rpartition(b"\n")
    for last in reversed(complete.split(b"\n")):
        try:
            seq = int(decode_line(last)["seq"])
        except (ValueError, KeyError, TypeError):
            continue
        return _Tail(seq + 1, sha256_hex(last), torn, len(data))
    raise IntegrityError(f"{path}: no readable record", f"run 'drone-agent verify {path.parent}'")


class AuditLog:
    """Append-only signed audit log of one flight; safe across threads and processes."""

    def __init__(self, path: Path, device_key: DeviceKey, flight_id: str,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.path = Path(path)
        self.flight_id = flight_id
        self._key = device_key
        self._clock = clock
        self._lock = threading.Lock()
        self._tail: _Tail | None = None

    @classmethod
    def create(cls, path: Path, device_key: DeviceKey, flight_id: str, fields: Mapping[str, Any],
               clock: Callable[[], datetime] = utc_now) -> AuditLog:
        """Start a new log at ``path`` (must not exist) with its ``flight_opened`` record."""
        record = {"seq": 0, "utc": utc_iso(clock()), "event": OPENED_EVENT,
                  "prev_sha256": GENESIS_SHA256, "flight_id": flight_id,
                  "device_key_fingerprint": device_key.fingerprint,
                  "device_public_key_b64": device_key.public_key_b64, **fields}
        line = sign_record(record, device_key)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                write_all(fd, line + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise EnvironmentFault(f"cannot create {path}: {exc}", "check free space and permissions") from exc
        log = cls(path, device_key, flight_id, clock)
        log._tail = _Tail(1, sha256_hex(line), b"", len(line) + 1)
        return log

    @classmethod
    def open(cls, flight_dir_or_file: Path | str, device_key: DeviceKey,
             clock: Callable[[], datetime] = utc_now) -> AuditLog:
        """Re-open an existing flight's log (also after close) to append post-flight records."""
        path = Path(flight_dir_or_file)
        if path.is_dir():
            path = path / AUDIT_FILE
        try:
            with path.open("rb") as fh:
                first = fh.readline()
        except OSError as exc:
            raise InputError(f"audit log {path}: cannot read ({exc})", "pass a flight folder") from exc
        try:
            head = decode_line(first.rstrip(b"\n"))
            flight_id = str(head["flight_id"])
            fingerprint = head["device_key_fingerprint"]
        except (ValueError, KeyError) as exc:
            raise InputError(f"audit log {path}: first record is not a flight_opened record ({exc})",
                             "pass a flight folder written by drone-agent") from exc
        if fingerprint != device_key.fingerprint:
            raise InputError(
                f"audit log {path}: signed by device key {fingerprint}, "
                f"but the loaded key is {device_key.fingerprint}",
                "load the device key of the aircraft that flew this flight")
        return cls(path, device_key, flight_id, clock)

    def head(self) -> tuple[int, str]:
        """(seq, SHA-256) of the last record, consistently under the lock."""
        with self._lock:
            tail = self._current_tail()
            return tail.next_seq - 1, tail.head_sha256

    @property
    def head_sha256(self) -> str:
        """Hash of the last record written (re-read from disk if another writer appended)."""
        with self._lock:
            return self._current_tail().head_sha256

    @property
    def next_seq(self) -> int:
        with self._lock:
            return self._current_tail().next_seq

    def _current_tail(self) -> _Tail:
        if self._tail is None or self._tail.size != self.path.stat().st_size:
            self._tail = _scan_tail(self.path.read_bytes(), self.path)
        return self._tail

    def append(self, event: str, /, **fields: Any) -> dict[str, Any]:
        """Append one signed record; returns it (with seq, utc, prev_sha256, sig)."""
        if event in VAULT_EVENTS:
            raise InputError(f"audit event {event!r} is written by the flight vault itself",
                             "seal media with FlightVault.seal_segment/seal_still; close with close()")
        return self.record_vault_event(event, **fields)

    def record_vault_event(self, event: str, /, **fields: Any) -> dict[str, Any]:
        """Like :meth:`append` without the reserved-event check; for :class:`FlightVault` only."""
        if not EVENT_NAME.match(event):
            raise InputError(f"audit event name {event!r} is not snake_case", "use e.g. 'guard_stop'")
        clash = RESERVED_FIELDS & fields.keys()
        if clash:
            raise InputError(f"audit event {event!r}: field(s) {sorted(clash)} are reserved",
                             "rename the field")
        with self._lock:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
            except OSError as exc:
                raise EnvironmentFault(f"cannot open {self.path}: {exc}", "check the flight folder") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                tail = self._current_tail()
                out = b""
                seq, prev = tail.next_seq, tail.head_sha256
                utc = utc_iso(self._clock())
                if tail.torn:
                    note = {"seq": seq, "utc": utc, "event": RECOVERED_EVENT, "prev_sha256": prev,
                            "torn_sha256": sha256_hex(tail.torn), "torn_bytes": len(tail.torn)}
                    line = sign_record(note, self._key)
                    out += b"\n" + line + b"\n"
                    seq, prev = seq + 1, sha256_hex(line)
                record = {"seq": seq, "utc": utc, "event": event, "prev_sha256": prev, **fields}
                line = sign_record(record, self._key)
                out += line + b"\n"
                write_all(fd, out)
                os.fsync(fd)
                self._tail = _Tail(seq + 1, sha256_hex(line), b"", tail.size + len(out))
            except OSError as exc:
                raise EnvironmentFault(f"cannot append to {self.path}: {exc}",
                                       "check free space and permissions") from exc
            finally:
                os.close(fd)  # also releases the flock
        return decode_line(line)
