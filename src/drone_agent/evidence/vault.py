"""FlightVault: seals a flight's media to the evidence store's key and keeps manifest + audit.

Theory of operation. ``FlightVault.create`` builds the flight folder under a temporary name
(manifest record 0 signed, audit record 0 signed, empty ``segments/`` and ``stills/``), fsyncs it
and renames it into place, so a flight folder either exists complete or not at all. Each
``seal_segment`` / ``seal_still`` then runs three durable steps, in this order:

1. encrypt the in-memory plaintext with age (:mod:`agefile`) to the evidence recipient, streaming
   into a temporary file while hashing the ciphertext; fsync; rename to ``segments/NNNNNN.mp4.age``; fsync the folder;
2. append the ``segment`` record (hashes, sizes, metadata) to the manifest and re-sign it
   (atomic rewrite);
3. append a signed ``segment_sealed`` record to the audit log (fsync).

A crash between steps leaves a state ``verify`` recognises as *incomplete but intact*: a sealed
file not yet in the manifest (1 done), or a manifest record without its audit record (2 done). Any
other disagreement between files, manifest and audit is tampering. ``close`` hashes attached files
(``telemetry.tlog``) into the manifest, appends ``flight_closed`` to the manifest (naming the audit
head) and then to the audit log (naming the manifest head). Plaintext never touches the disk.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from drone_agent import __version__
from drone_agent.errors import EnvironmentFault, InputError
from drone_agent.evidence import agefile
from drone_agent.evidence.audit import AUDIT_FILE, AuditLog
from drone_agent.evidence.durable import atomic_write_with, fsync_dir, write_all
from drone_agent.evidence.keys import DeviceKey, EvidenceRecipient
from drone_agent.evidence.manifest import FORMAT, MANIFEST_FILE, ManifestWriter
from drone_agent.evidence.records import utc_iso, utc_now

SEGMENTS_DIR = "segments"
STILLS_DIR = "stills"
SEGMENT_SUFFIX = ".mp4.age"
STILL_SUFFIX = ".jpg.age"
HASH_CHUNK_BYTES = 1 << 20


class HashingWriter:
    """File-like sink: writes everything to ``fd``, then hashes what was written."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> int:
        write_all(self._fd, data)
        self.sha256.update(data)
        self.bytes += len(data)
        return len(data)

    def flush(self) -> None:
        return None


def new_flight_id(now: datetime) -> str:
    return f"{utc_iso(now)[:19].replace('-', '').replace(':', '')}Z-{secrets.token_hex(4)}"


def seal_to_file(plaintext: bytes, path: Path, recipient: EvidenceRecipient) -> tuple[str, int]:
    """Encrypt ``plaintext`` with age into ``path`` atomically; (ciphertext SHA-256, size)."""
    sink: list[HashingWriter] = []

    def produce(fd: int) -> None:
        sink.append(HashingWriter(fd))
        agefile.encrypt(plaintext, recipient.public_key, sink[0].write)

    atomic_write_with(path, produce)
    return sink[0].sha256.hexdigest(), sink[0].bytes


def hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class FlightVault:
    """One flight's evidence folder. Thread-safe; use as a context manager or call ``close``."""

    def __init__(self, flight_dir: Path, flight_id: str, device_key: DeviceKey,
                 recipient: EvidenceRecipient, manifest: ManifestWriter, audit: AuditLog,
                 clock: Callable[[], datetime]) -> None:
        self.flight_dir = flight_dir
        self.flight_id = flight_id
        self.audit = audit
        self._key = device_key
        self._recipient = recipient
        self._manifest = manifest
        self._clock = clock
        self._lock = threading.Lock()
        self._counts = {"segment": 0, "still": 0}
        self._attached: list[str] = []
        self._closed = False

    @classmethod
    def create(cls, out_dir: Path | str, device_key: DeviceKey, recipient: EvidenceRecipient,
               operation: Mapping[str, Any], clock: Callable[[], datetime] = utc_now) -> FlightVault:
        out_dir = Path(out_dir)
        if not isinstance(operation, Mapping):
            raise InputError("flight operation must be a mapping (name, incident_ref, config_sha256)",
                             "pass a dict")
        now = clock()
        flight_id = new_flight_id(now)
        final = out_dir / flight_id
        staging = out_dir / f".{flight_id}.tmp"
        header = {"format": FORMAT, "flight_id": flight_id, "created_utc": utc_iso(now),
                  "operation": dict(operation), "software": f"drone-agent {__version__}",
                  "device_key": {"algorithm": "ed25519", "public_key_b64": device_key.public_key_b64,
                                 "fingerprint": device_key.fingerprint},
                  "evidence_recipient": {"age_recipient": recipient.recipient,
                                         "fingerprint": recipient.fingerprint}}
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            staging.mkdir()
            for sub in (SEGMENTS_DIR, STILLS_DIR):
                (staging / sub).mkdir()
                fsync_dir(staging / sub)
            manifest = ManifestWriter(staging / MANIFEST_FILE, device_key, flight_id, clock)
            manifest.append("flight_opened", header)
            AuditLog.create(staging / AUDIT_FILE, device_key, flight_id,
                            {"operation": dict(operation), "evidence_recipient_fingerprint":
                             recipient.fingerprint}, clock)
            fsync_dir(staging)
            os.rename(staging, final)
            fsync_dir(out_dir)
        except OSError as exc:
            raise EnvironmentFault(f"cannot create flight folder in {out_dir}: {exc}",
                                   "check the --out folder, free space and permissions") from exc
        manifest.path = final / MANIFEST_FILE
        audit = AuditLog(final / AUDIT_FILE, device_key, flight_id, clock)
        return cls(final, flight_id, device_key, recipient, manifest, audit, clock)

    @property
    def closed(self) -> bool:
        return self._closed

    def seal_segment(self, plaintext_mp4: bytes, meta: Mapping[str, Any]) -> dict[str, Any]:
        """Seal one complete MP4 segment; returns its manifest record."""
        return self._seal("segment", "segment_sealed", SEGMENTS_DIR, SEGMENT_SUFFIX, plaintext_mp4, meta)

    def seal_still(self, jpeg: bytes, meta: Mapping[str, Any]) -> dict[str, Any]:
        """Seal one still image; returns its manifest record."""
        return self._seal("still", "still_sealed", STILLS_DIR, STILL_SUFFIX, jpeg, meta)

    def _seal(self, kind: str, event: str, subdir: str, suffix: str, plaintext: bytes,
              meta: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(plaintext, (bytes, bytearray, memoryview)):
            raise InputError(f"seal_{kind}: plaintext must be bytes, got {type(plaintext).__name__}",
                             "pass the encoded media in memory")
        with self._lock:
            self._require_open(f"seal_{kind}")
            index = self._counts[kind] + 1
            rel = f"{subdir}/{index:06d}{suffix}"
            data = bytes(plaintext)
            with ThreadPoolExecutor(max_workers=1) as pool:  # hashlib releases the GIL: overlap
                plaintext_hash = pool.submit(lambda: hashlib.sha256(data).hexdigest())
                ciphertext_sha256, ciphertext_bytes = seal_to_file(data, self.flight_dir / rel,
                                                                   self._recipient)
                plaintext_sha256 = plaintext_hash.result()
            appended = self._manifest.append(kind, {
                "index": index, "file": rel, "sealed_utc": utc_iso(self._clock()),
                "plaintext_sha256": plaintext_sha256, "plaintext_bytes": len(plaintext),
                "ciphertext_sha256": ciphertext_sha256, "ciphertext_bytes": ciphertext_bytes,
                "meta": dict(meta)})
            self._counts[kind] = index
            self.audit.record_vault_event(
                event, index=index, file=rel, manifest_seq=appended.record["seq"],
                manifest_record_sha256=appended.sha256, plaintext_sha256=plaintext_sha256,
                ciphertext_sha256=ciphertext_sha256, trigger_id=meta.get("trigger_id"))
            return appended.record

    def attach_file(self, path_in_flight_dir: Path | str) -> None:
        """Register a file in the flight folder (e.g. ``telemetry.tlog``) to hash at close."""
        path = Path(path_in_flight_dir)
        full = path if path.is_absolute() else self.flight_dir / path
        try:
            rel = full.resolve().relative_to(self.flight_dir.resolve()).as_posix()
        except ValueError as exc:
            raise InputError(f"attach_file: {path} is outside the flight folder {self.flight_dir}",
                             "write the file inside the flight folder first") from exc
        if rel.split("/")[0] in (SEGMENTS_DIR, STILLS_DIR) or rel in (MANIFEST_FILE, AUDIT_FILE):
            raise InputError(f"attach_file: {rel} is managed by the vault", "attach your own files only")
        with self._lock:
            self._require_open("attach_file")
            if rel not in self._attached:
                self._attached.append(rel)

    def close(self) -> None:
        """Hash attached files, close the manifest and the audit log. Idempotent."""
        with self._lock:
            if self._closed:
                return
            for rel in self._attached:
                full = self.flight_dir / rel
                if full.is_file():
                    sha, size = hash_file(full)
                    self._manifest.append("file", {"path": rel, "sha256": sha, "bytes": size,
                                                   "hashed_utc": utc_iso(self._clock())})
                else:
                    self._manifest.append("file", {"path": rel, "missing": True,
                                                   "hashed_utc": utc_iso(self._clock())})
            audit_seq, audit_head = self.audit.head()
            closing = self._manifest.append("flight_closed", {
                "closed_utc": utc_iso(self._clock()), "segments": self._counts["segment"],
                "stills": self._counts["still"], "files": list(self._attached),
                "audit_seq": audit_seq, "audit_head_sha256": audit_head})
            self.audit.record_vault_event(
                "flight_closed", manifest_seq=closing.record["seq"], manifest_head_sha256=closing.sha256,
                segments=self._counts["segment"], stills=self._counts["still"])
            self._closed = True

    def _require_open(self, what: str) -> None:
        if self._closed:
            raise InputError(f"{what}: flight {self.flight_id} is closed", "start a new flight")

    def __enter__(self) -> FlightVault:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
